"""The model-monitoring loop's workloads: inference capture, the drift and data-quality job, the retraining trigger.

One image runs all three (``python -m mlops_loop.capture | drift | retrain``). Each reads its settings
from one JSON document in an environment variable, rendered by the platform from the stack config, so
a run is reproducible from what ``kubectl get -o yaml`` shows.
"""
