"""Inference signals: the Prometheus queries KEDA scales the models on, per Deployment (candidate and primary)."""

from __future__ import annotations

from typing import Any

from ..config.serving import ModelConfig

SERIES = {
    "queue_time": "nv_inference_queue_duration_us",
    "inference_rate": "nv_inference_count",
    "gpu_utilization": "nv_gpu_utilization",
}
"""Autoscaling signal to the Triton series its scaling query is computed from."""


def deployment_name(model: str) -> str:
    """The model's Deployment, which Pulumi owns and Flagger releases; Flagger names its copy `<name>-primary`."""
    return f"triton-{model}"


def track_pods(model: str, primary: bool) -> str:
    """Regex (anchored by Prometheus) of the pods of one of the model's two Deployments, and of no other's.

    A Deployment's pods are `<deployment>-<pod-template-hash>-<suffix>`. The primary's name adds
    `-primary`, one more segment, so the candidate's pattern never matches a primary pod, and the
    primary's never matches another model's.
    """
    return f"{deployment_name(model)}{'-primary' if primary else ''}-[a-z0-9]+-[a-z0-9]+"


SIGNAL_WINDOW = "1m"
"""Rate window of the scaling queries: several scrapes of Triton's 15 s interval, short enough to react within a minute."""


def scaling_query(model: ModelConfig, namespace: str, primary: bool = False) -> str:
    """The model's scaling signal over one Deployment's pods (the candidate's, or with ``primary`` Flagger's
    primary), as one number for that Deployment.

    - `queue_time`: milliseconds a request waited in Triton's queue, averaged over every request;
    - `inference_rate`: inferences per second over all replicas (KEDA divides by the replica count);
    - `gpu_utilization`: percent, averaged over the replicas' GPUs.
    """
    sel = f'namespace="{namespace}",pod=~"{track_pods(model.name, primary)}"'
    signal = model.autoscaling.metric
    series = SERIES[signal]
    if signal == "queue_time":
        return (
            f"sum(rate({series}{{{sel}}}[{SIGNAL_WINDOW}])) / "
            f"clamp_min(sum(rate(nv_inference_request_success{{{sel}}}[{SIGNAL_WINDOW}])), 1e-9) / 1000"
        )
    if signal == "inference_rate":
        return f"sum(rate({series}{{{sel}}}[{SIGNAL_WINDOW}]))"
    return f"100 * avg({series}{{{sel}}})"


METRIC_TYPES = {"queue_time": "Value", "inference_rate": "AverageValue", "gpu_utilization": "Value"}
"""How the HPA compares each signal with its target: as it is (an average already), or per replica (a total)."""


def scaling_triggers(model: ModelConfig, namespace: str, prometheus_url: str | None) -> list[dict[str, Any]]:
    """KEDA triggers of an autoscaling model: its Triton signal from Prometheus, its active hours where it
    scales to zero and, where configured, CPU.

    The larger proposal wins, as with any HPA of several metrics. Without a Prometheus only CPU is left
    (validation refuses a model that would then have no trigger). KEDA never activates a model from zero
    on CPU: the active hours (and a Triton signal above 0) do.
    """
    target = model.autoscaling.target
    triggers: list[dict[str, Any]] = []
    if prometheus_url is not None:
        triggers.append(
            {
                "type": "prometheus",
                "name": model.autoscaling.metric.replace("_", "-"),
                "metricType": METRIC_TYPES[model.autoscaling.metric],
                "metadata": {
                    "serverAddress": prometheus_url.rstrip("/"),
                    "query": scaling_query(model, namespace),
                    "threshold": _number(target),
                    # no series (new pods, none at zero replicas, or Prometheus lost them) reads as 0 instead of failing
                    # the HPA: the model drifts to replicas.min after the cooldown; it is active while the signal is above 0
                    "ignoreNullValues": "true",
                },
            }
        )
    hours = model.autoscaling.active_hours
    if hours is not None:  # validation sets active hours exactly on the models with replicas.min 0
        # one replica inside the window; outside it this trigger is inactive and KEDA scales the model to zero
        # once every other trigger is inactive too (the Triton signal reads 0) for the cooldown
        triggers.append(
            {
                "type": "cron",
                "name": "active-hours",
                "metadata": {"timezone": hours.timezone, "start": hours.start, "end": hours.end, "desiredReplicas": "1"},
            }
        )
    if model.autoscaling.cpu_utilization is not None:
        triggers.append(
            {"type": "cpu", "name": "cpu", "metricType": "Utilization", "metadata": {"value": str(model.autoscaling.cpu_utilization)}}
        )
    return triggers


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
