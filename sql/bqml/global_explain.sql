-- Global feature importance (the model was created with enable_global_explain = true).
select * from ml.global_explain(model `{{ model }}`)
