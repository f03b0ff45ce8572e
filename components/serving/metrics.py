"""Inference signals: custom metrics for the HPA (prometheus-adapter rules) and canary regression alerts."""

from __future__ import annotations

from typing import Any

from ..config.serving import ModelConfig
from ..monitoring.rules import ROLLBACK_ALERT, catalogue_entry

CUSTOM_METRICS = {
    "queue_time": "triton_queue_time_ms",
    "inference_rate": "triton_inference_rate",
    "gpu_utilization": "triton_gpu_utilization_percent",
}
"""Autoscaling signal to the per-pod custom metric the HPA reads."""

CANARY_ALERT = ROLLBACK_ALERT


SERIES = {
    "queue_time": "nv_inference_queue_duration_us",
    "inference_rate": "nv_inference_count",
    "gpu_utilization": "nv_gpu_utilization",
}
"""Autoscaling signal to the Triton series its custom metric is computed from."""


def stable_pods(models: list[str]) -> str:
    """Regex (anchored by Prometheus) of the pods of the models' stable Deployments, and of no candidate's.

    A Deployment's pods are `<deployment>-<pod-template-hash>-<suffix>`; the candidate's Deployment
    name adds `-canary`, one more segment, so it never matches.
    """
    return f"triton-({'|'.join(sorted(models))})-[a-z0-9]+-[a-z0-9]+"


def _metrics_query(signal: str, series: str) -> str:
    per_pod = "sum by (<<.GroupBy>>)"
    if signal == "queue_time":
        # cumulative queue time over successful requests: average ms a request waited
        return (
            f"{per_pod} (rate({series}{{<<.LabelMatchers>>}}[2m])) / "
            f"clamp_min({per_pod} (rate(nv_inference_request_success{{<<.LabelMatchers>>}}[2m])), 1e-9) / 1000"
        )
    if signal == "inference_rate":
        return f"{per_pod} (rate({series}{{<<.LabelMatchers>>}}[2m]))"
    return f"100 * avg by (<<.GroupBy>>) ({series}{{<<.LabelMatchers>>}})"


def adapter_rules(namespace: str, models: list[ModelConfig]) -> list[dict[str, Any]]:
    """prometheus-adapter rules for exactly the signals the autoscaling models' HPAs read.

    One rule per signal in use, published per pod and discovered only on the serving namespace's
    series of those models' stable pods; models with fixed replicas have no HPA and need no rule.
    """
    users: dict[str, list[str]] = {}
    for model in models:
        if model.autoscales:
            users.setdefault(model.autoscaling.metric, []).append(model.name)
    resources = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
    rules = []
    for signal in sorted(users, key=list(CUSTOM_METRICS).index):
        series = SERIES[signal]
        rules.append(
            {
                "seriesQuery": f'{series}{{namespace="{namespace}",pod=~"{stable_pods(users[signal])}"}}',
                "resources": resources,
                "name": {"matches": f"^{series}$", "as": CUSTOM_METRICS[signal]},
                "metricsQuery": _metrics_query(signal, series),
            }
        )
    return rules


def canary_rule(model: ModelConfig, namespace: str) -> dict[str, Any]:
    """The alert that rolls a candidate back: its error ratio or p99 latency beyond its limits.

    Triton labels its metrics with `model` and `version`; the candidate is told apart by version. Severity and
    category come from the monitoring catalogue, so Alertmanager routes it and TritonDown inhibits it like the
    platform's other canary alerts.
    """
    info = catalogue_entry(CANARY_ALERT)
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
            "severity": info.severity,
            "category": info.category,
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
