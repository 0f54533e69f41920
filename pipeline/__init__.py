"""ecom-growth batch pipeline: generate, ingest, warehouse, experiment readout, model."""

__version__ = "0.1.0"
