"""``serving.rules.yaml``: recording rules and SLO alerts per model (error-budget burn, p99 latency, queue time), and
TritonDown. Sources: Triton's ``nv_inference_request_success`` / ``_failure`` and ``nv_inference_queue_duration_us``
counters and its ``nv_inference_request_summary_us`` summary (``--metrics-config summary_latencies=true``)."""

from __future__ import annotations

from typing import Any

from .alert_catalogue import alert_rule
from .promql import TRITON_JOB, down, num, percent, selector
from .spec import AlertSpec, ModelSpec

FAST_BURN = (14.4, "1h", "5m")
"""Burn rate and windows of the paging alert: 2 % of a 30-day budget in one hour."""
SLOW_BURN = (6.0, "6h", "30m")
"""Burn rate and windows of the ticket alert: 5 % of a 30-day budget in six hours."""
MAX_BURN_THRESHOLD = 0.5
"""Burn thresholds are capped at this error ratio, so loose SLOs (availability < 96.5 %) still alert."""
ERROR_WINDOWS = ("5m", "30m", "1h", "6h")


def burn_threshold(availability: float, factor: float) -> float:
    """The error ratio at which a model burns its budget ``factor`` times faster than sustainable."""
    return min(round(factor * (1 - availability), 10), MAX_BURN_THRESHOLD)


def _error_ratio(ns: str, window: str, by: str) -> str:
    """Failed / all requests; 0 (not empty) while a model has served no failure at all."""
    sel = selector(job=TRITON_JOB, namespace=ns)
    failure = f"sum by ({by}) (rate(nv_inference_request_failure{sel}[{window}]))"
    success = f"sum by ({by}) (rate(nv_inference_request_success{sel}[{window}]))"
    return f"({failure}\n  or 0 * {success})\n/\n{_requests(ns, window, by)}"


def _requests(ns: str, window: str, by: str) -> str:
    """All requests per second, successful or not (one selector: no vector matching between the two counters)."""
    sel = selector(__name__="~nv_inference_request_(success|failure)", job=TRITON_JOB, namespace=ns)
    return f"sum by ({by}) (rate({sel}[{window}]))"


def recording_rules(spec: AlertSpec) -> dict[str, Any]:
    """Error ratios, request rates, p99 and queue time per model (and per version, for canaries)."""
    ns = spec.serving_namespace
    sel = selector(job=TRITON_JOB, namespace=ns)
    rules: list[dict[str, Any]] = [
        {"record": f"namespace_model:nv_inference_request_failure:ratio_rate{w}", "expr": _error_ratio(ns, w, "namespace, model")}
        for w in ERROR_WINDOWS
    ]
    rules += [
        {
            "record": "namespace_model_version:nv_inference_request_failure:ratio_rate5m",
            "expr": _error_ratio(ns, "5m", "namespace, model, version"),
        },
        {
            "record": "namespace_model_version:nv_inference_request:rate5m",
            "expr": _requests(ns, "5m", "namespace, model, version"),
        },
        {
            "record": "namespace_model:nv_inference_request_summary_us:p99_max",
            "expr": f"max by (namespace, model) (nv_inference_request_summary_us{selector(job=TRITON_JOB, namespace=ns, quantile='0.99')})",
        },
        {
            "record": "namespace_model_version:nv_inference_request_summary_us:p99_max",
            "expr": "max by (namespace, model, version) "
            f"(nv_inference_request_summary_us{selector(job=TRITON_JOB, namespace=ns, quantile='0.99')})",
        },
        {
            "record": "namespace_model:nv_inference_queue_duration_us:mean_rate2m",
            "expr": f"sum by (namespace, model) (rate(nv_inference_queue_duration_us{sel}[2m]))\n"
            f"/\nsum by (namespace, model) (rate(nv_inference_request_success{sel}[2m]))",
        },
    ]
    return {"name": "mlops-serving-recording", "rules": rules}


def model_rules(spec: AlertSpec, model: ModelSpec) -> list[dict[str, Any]]:
    """The SLO alerts of one model: fast and slow error-budget burn, p99 latency, queue time."""
    ns = spec.serving_namespace
    m = selector(namespace=ns, model=model.name)
    slo = percent(model.availability)
    rules = []
    for name, (factor, long, short), for_ in (
        ("ModelErrorBudgetFastBurn", FAST_BURN, "0m"),
        ("ModelErrorBudgetSlowBurn", SLOW_BURN, "5m"),
    ):
        threshold = burn_threshold(model.availability, factor)
        rules.append(
            alert_rule(
                spec,
                name,  # type: ignore[arg-type]
                f"namespace_model:nv_inference_request_failure:ratio_rate{long}{m} > {num(threshold)}\n"
                f"and\nnamespace_model:nv_inference_request_failure:ratio_rate{short}{m} > {num(threshold)}",
                for_,
                f"{model.name} is burning its error budget {num(factor)}x faster than its SLO allows",
                f"Error ratio of {model.name} above {percent(threshold)} over both the last {long} and {short} (SLO {slo} availability).",
                model=model.name,
            )
        )
    p99_us = model.p99_latency_ms * 1000
    rules.append(
        alert_rule(
            spec,
            "ModelLatencyP99High",
            f"namespace_model:nv_inference_request_summary_us:p99_max{m} > {p99_us}",
            "3m",
            f"{model.name} p99 latency above its {model.p99_latency_ms} ms objective",
            f"The slowest replica of {model.name} reports a p99 request latency above {model.p99_latency_ms} ms for 3 minutes.",
            model=model.name,
        )
    )
    queue_ms = spec.alerting.queue_time_fraction * model.p99_latency_ms
    rules.append(
        alert_rule(
            spec,
            "ModelQueueTimeHigh",
            f"namespace_model:nv_inference_queue_duration_us:mean_rate2m{m} > {num(queue_ms * 1000)}",
            "2m",
            f"{model.name} requests queue for more than {num(queue_ms)} ms",
            f"Average queue time per request of {model.name} above {num(queue_ms)} ms "
            f"({num(spec.alerting.queue_time_fraction)} of its p99 objective): add replicas or GPUs.",
            model=model.name,
        )
    )
    return rules


def serving_group(spec: AlertSpec) -> dict[str, Any]:
    """Every model's SLO alerts, and TritonDown for the serving namespace."""
    rules = [rule for model in spec.models for rule in model_rules(spec, model)]
    rules.append(
        alert_rule(
            spec,
            "TritonDown",
            down(TRITON_JOB, spec.serving_namespace),
            "2m",
            f"No Triton server is up in {spec.serving_namespace}",
            f"Prometheus has no healthy Triton metrics target in namespace {spec.serving_namespace}: every model is unavailable.",
        )
    )
    return {"name": "mlops-serving", "rules": rules}
