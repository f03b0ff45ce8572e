"""Inference signals: custom metrics for the HPA (prometheus-adapter rules) and canary regression alerts."""

from __future__ import annotations

from typing import Any

from ..config.serving import ModelConfig

CUSTOM_METRICS = {
    "queue_time": "triton_queue_time_ms",
    "inference_rate": "triton_inference_rate",
    "gpu_utilization": "triton_gpu_utilization_percent",
}
"""Autoscaling signal to the per-pod custom metric the HPA reads."""

CANARY_ALERT = "TritonCanaryRegression"


def adapter_rules(namespace: str) -> list[dict[str, Any]]:
    """prometheus-adapter rules publishing Triton's signals per pod, scoped to the serving namespace."""
    scope = f'namespace="{namespace}",pod!=""'
    resources = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
    per_pod = "sum by (<<.GroupBy>>)"
    return [
        {
            "seriesQuery": f"nv_inference_queue_duration_us{{{scope}}}",
            "resources": resources,
            "name": {"matches": "^nv_inference_queue_duration_us$", "as": CUSTOM_METRICS["queue_time"]},
            "metricsQuery": f"{per_pod} (rate(nv_inference_queue_duration_us{{<<.LabelMatchers>>}}[2m])) / "
            f"clamp_min({per_pod} (rate(nv_inference_request_success{{<<.LabelMatchers>>}}[2m])), 1e-9) / 1000",
        },
        {
            "seriesQuery": f"nv_inference_count{{{scope}}}",
            "resources": resources,
            "name": {"matches": "^nv_inference_count$", "as": CUSTOM_METRICS["inference_rate"]},
            "metricsQuery": f"{per_pod} (rate(nv_inference_count{{<<.LabelMatchers>>}}[2m]))",
        },
        {
            "seriesQuery": f"nv_gpu_utilization{{{scope}}}",
            "resources": resources,
            "name": {"matches": "^nv_gpu_utilization$", "as": CUSTOM_METRICS["gpu_utilization"]},
            "metricsQuery": "100 * avg by (<<.GroupBy>>) (nv_gpu_utilization{<<.LabelMatchers>>})",
        },
    ]


def canary_rule(model: ModelConfig, namespace: str) -> dict[str, Any]:
    """The alert that rolls a candidate back: its error ratio or p99 latency beyond its limits.

    Triton labels its metrics with `model` and `version`; the candidate is told apart by version.
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
        "labels": {"severity": "ticket", "rollback": "true", "model": model.name, "candidate_version": str(model.canary.version)},
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
