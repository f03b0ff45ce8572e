"""The alert catalogue: every alert the platform can generate, what it means and how fast it must fire, and how a
rule of it is written (its category from here, its severity from the stack's alerting settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.monitoring import AlertName
from .spec import SEVERITIES, AlertSpec


@dataclass(frozen=True)
class AlertInfo:
    """One entry of the alert catalogue: what it means, how fast it must fire, where it routes."""

    name: AlertName
    scope: str
    category: str
    intent: str
    budget: str

    @property
    def severity(self) -> str:
        return SEVERITIES[self.name]


CATALOGUE: tuple[AlertInfo, ...] = (
    AlertInfo(
        "ModelErrorBudgetFastBurn",
        "model",
        "availability",
        "Failed / all Triton requests above 14.4 × the error budget over both 1 h and 5 min",
        "≤ 5 min for an outage or an error ratio ≥ 15 × its threshold (21.6 % at 99.9 %); in general 60 min × threshold / error ratio",
    ),
    AlertInfo(
        "ModelErrorBudgetSlowBurn",
        "model",
        "availability",
        "Error ratio above 6 × the budget over both 6 h and 30 min",
        "6 h × 6 / burn rate + 5 min (about 3 h at 12 ×)",
    ),
    AlertInfo(
        "ModelLatencyP99High",
        "model",
        "latency",
        "Worst replica's p99 request latency (Triton summary) above the model's p99 objective for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "ModelQueueTimeHigh",
        "model",
        "latency",
        "Average queue time per request over 2 min above `queue_time_fraction` × the p99 objective, for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "TritonDown",
        "stack",
        "availability",
        "No Triton metrics target up (or none left) in the serving namespace for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "GpuUtilizationSaturated",
        "stack",
        "saturation",
        "A GPU (or MIG instance's graphics engine) busy above `gpu_utilization_percent` for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "GpuMemorySaturated",
        "stack",
        "saturation",
        "A GPU's framebuffer memory in use above `gpu_memory_percent` for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "PodRestartingOften",
        "stack",
        "health",
        "More than `pod_restarts` container restarts in 5 min in the serving or tracking namespace",
        "≤ 5 min",
    ),
    AlertInfo(
        "PodNotReady",
        "stack",
        "health",
        "A running pod of the serving or tracking namespace not ready for 3 min (pending pods excluded)",
        "≤ 5 min",
    ),
    AlertInfo(
        "MlflowDown",
        "stack",
        "availability",
        "No MLflow metrics target up (or none left) for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "ModelDataDrift",
        "model",
        "drift",
        "A feature set's drift score (pushed by the drift monitor) above the model's threshold for 1 min",
        "≤ 5 min after the monitor pushes the score",
    ),
    AlertInfo(
        "ModelQualityDegraded",
        "model",
        "quality",
        "The delayed quality gauge (e.g. accuracy on labelled traffic) below the model's minimum for 1 min",
        "≤ 5 min after the monitor pushes the gauge",
    ),
    AlertInfo(
        "ModelDataQualityFailed",
        "model",
        "data_quality",
        "Captured inputs break the reference schema (missing or unexpected columns, non-numeric values) or exceed the "
        "null or out-of-range share, for 1 min",
        "≤ 5 min after the monitor pushes the figures",
    ),
    AlertInfo(
        "DriftMonitorStale",
        "model",
        "health",
        "No successful drift-monitor run of a model for `stale_after_minutes` (or none reported at all)",
        "`stale_after_minutes` + 5 min",
    ),
)
"""Every alert the platform can generate, in catalogue order."""


def catalogue_entry(name: str) -> AlertInfo:
    """The catalogue's entry of an alert (its scope, category and default severity)."""
    return next(a for a in CATALOGUE if a.name == name)


def alert_rule(spec: AlertSpec, name: AlertName, expr: str, for_: str, summary: str, description: str, **labels: str) -> dict[str, Any]:
    """One alerting rule: its catalogue category, the stack's severity for it, ``for`` only when it waits."""
    category = catalogue_entry(name).category
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {**labels, "severity": spec.severity(name), "category": category}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule
