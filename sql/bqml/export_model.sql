-- Booster file plus assets/model_metadata.json, the folder `ecom train --engine bqml` imports.
export model `{{ model }}`
options (uri = '{{ export_uri }}')
