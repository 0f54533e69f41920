"""One router per resource: health (liveness, readiness), model, predict, bulk, metrics."""
