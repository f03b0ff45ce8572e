"""Inference signals: the Prometheus queries KEDA scales the models on, and canary regression alerts."""

from __future__ import annotations

from typing import Any

from ..config.serving import ModelConfig
from ..contracts import ROLLBACK_ALERT, ROLLBACK_ALERT_CATEGORY, ROLLBACK_ALERT_SEVERITY

CANARY_ALERT = ROLLBACK_ALERT


SERIES = {
    "queue_time": "nv_inference_queue_duration_us",
    "inference_rate": "nv_inference_count",
    "gpu_utilization": "nv_gpu_utilization",
}
"""Autoscaling signal to the Triton series its scaling query is computed from."""


def stable_pods(models: list[str]) -> str:
    """Regex (anchored by Prometheus) of the pods of the models' stable Deployments, and of no candidate's.

    A Deployment's pods are `<deployment>-<pod-template-hash>-<suffix>`; the candidate's Deployment
    name adds `-canary`, one more segment, so it never matches.
    """
    return f"triton-({'|'.join(sorted(models))})-[a-z0-9]+-[a-z0-9]+"


SIGNAL_WINDOW = "1m"
"""Rate window of the scaling queries: several scrapes of Triton's 15 s interval, short enough to react within a minute."""


def scaling_query(model: ModelConfig, namespace: str) -> str:
    """The model's scaling signal over its stable pods, as one number for the whole Deployment.

    - `queue_time`: milliseconds a request waited in Triton's queue, averaged over every request;
    - `inference_rate`: inferences per second over all replicas (KEDA divides by the replica count);
    - `gpu_utilization`: percent, averaged over the replicas' GPUs.
    """
    sel = f'namespace="{namespace}",pod=~"{stable_pods([model.name])}"'
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


def canary_rule(model: ModelConfig, namespace: str) -> dict[str, Any]:
    """The alert that rolls a candidate back: its error ratio or p99 latency beyond its limits.

    Triton labels its metrics with `model` and `version`; the candidate is told apart by version. Severity and
    category come from the monitoring catalogue, so Alertmanager routes it and TritonDown inhibits it like the
    platform's other canary alerts.
    """
    assert model.canary is not None
    sel = f'namespace="{namespace}",model="{model.name}",version="{model.canary.version}"'
    p99_ms = model.canary.max_p99_latency_ms or model.slo.p99_latency_ms
    errors = (
        f"sum by (namespace, model) (rate(nv_inference_request_failure{{{sel}}}[5m])) / clamp_min("
        f"sum by (namespace, model) (rate(nv_inference_request_success{{{sel}}}[5m])) + "
        f"sum by (namespace, model) (rate(nv_inference_request_failure{{{sel}}}[5m])), 1e-9) > {model.canary.max_error_rate}"
    )
    latency = f'max by (namespace, model) (nv_inference_request_summary_us{{{sel},quantile="0.99"}}) / 1000 > {p99_ms}'
    return {
        "alert": CANARY_ALERT,
        "expr": f"({errors}) or ({latency})",
        "for": "2m",
        "labels": {
            "severity": ROLLBACK_ALERT_SEVERITY,
            "category": ROLLBACK_ALERT_CATEGORY,
            "rollback": "true",
            "model": model.name,
            "candidate_version": str(model.canary.version),
        },
        "annotations": {
            "summary": f"candidate version {model.canary.version} of {model.name} regresses",
            "description": f"error ratio above {model.canary.max_error_rate} or p99 above {p99_ms} ms for 2 minutes; "
            "the rollback job sets its traffic weight to 0",
        },
    }


def canary_rule_group(models: list[ModelConfig], namespace: str) -> dict[str, Any] | None:
    """One rule group with the regression alert of every model in canary, or None."""
    rules = [canary_rule(m, namespace) for m in models if m.canary is not None]
    return {"name": "triton-canary", "interval": "30s", "rules": rules} if rules else None
