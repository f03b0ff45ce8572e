"""What the monitoring of one stack is generated from: a plain, typed digest of the platform config.

Rules, dashboards and routing are pure functions of an ``AlertSpec``; tests build one directly,
the platform builds one from its ``PlatformConfig`` with ``alert_spec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.monitoring import AlertingConfig, AlertName, DriftMonitorConfig, Severity
from ..config.platform import PlatformConfig
from ..config.serving import ModelConfig

SEVERITIES: dict[str, Severity] = {
    "ModelErrorBudgetFastBurn": "page",
    "ModelErrorBudgetSlowBurn": "ticket",
    "ModelLatencyP99High": "page",
    "ModelQueueTimeHigh": "ticket",
    "TritonDown": "page",
    "GpuUtilizationSaturated": "ticket",
    "GpuMemorySaturated": "ticket",
    "PodRestartingOften": "ticket",
    "PodNotReady": "ticket",
    "MlflowDown": "ticket",
    "ModelDataDrift": "ticket",
    "ModelQualityDegraded": "ticket",
    "ModelDataQualityFailed": "ticket",
    "DriftMonitorStale": "ticket",
}
"""The catalogue's default severity of every alert; a stack overrides them in `monitoring.alerting`."""


@dataclass(frozen=True)
class ModelSpec:
    """One served model: its configured version, SLOs and drift thresholds."""

    name: str
    """The model's name (Triton's `model` label)."""
    version: int
    """The configured version: the rules select its series."""
    availability: float
    """The availability SLO, a fraction (0.999): its error budget drives the burn-rate alerts."""
    p99_latency_ms: int
    """The p99 latency SLO in milliseconds."""
    drift_score: float = 0.3
    """The drift score above which the drift alert fires (and retraining is triggered)."""
    min_quality: float = 0.8
    """The model quality on labelled traffic below which the quality alert fires."""
    max_null_share: float = 0.05
    """The share of null values above which the data-quality alert fires."""
    max_out_of_range_share: float = 0.05
    """The share of out-of-range values above which the data-quality alert fires."""


@dataclass(frozen=True)
class AlertSpec:
    """Everything the rules, routes and dashboards of one stack depend on."""

    environment: str
    """The stack's environment (`dev`, `staging`, `canary`, `prod`): the `environment` label of every alert and route."""
    serving_namespace: str
    """The namespace of the Triton deployments, which the rules' and dashboards' queries select."""
    models: tuple[ModelSpec, ...] = ()
    """The served models: one set of SLO, drift and quality rules each. Default: none."""
    tracking_namespace: str | None = None
    """The MLflow namespace; None when MLflow is disabled."""
    gpus: bool = False
    """Whether the stack has GPU pools (GPU rules and dashboards)."""
    drift: bool = False
    """Whether the drift monitor runs (drift, quality and staleness rules)."""
    drift_stale_after_minutes: int = 120
    """How long without a fresh drift score before the staleness alert fires."""
    drift_models: tuple[str, ...] | None = None
    """The models the drift monitor scores. Default: every model."""
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    """The stack's `monitoring.alerting`: saturation thresholds, drift and quality thresholds, severity overrides.
    Default: its defaults."""

    def severity(self, alert: AlertName) -> Severity:
        """The severity of an alert in this stack."""
        return self.alerting.severity_overrides.get(alert, SEVERITIES[alert])

    @property
    def scored_models(self) -> tuple[ModelSpec, ...]:
        """The models with drift, quality and staleness alerts."""
        return tuple(m for m in self.models if self.drift_models is None or m.name in self.drift_models)

    @property
    def workload_namespaces(self) -> tuple[str, ...]:
        """Namespaces whose pods are watched for restarts and readiness."""
        return (self.serving_namespace,) + ((self.tracking_namespace,) if self.tracking_namespace else ())


def model_spec(model: ModelConfig, drift: DriftMonitorConfig) -> ModelSpec:
    """The monitoring view of one `ModelConfig`."""
    thresholds = drift.thresholds_for(model.name)
    return ModelSpec(
        name=model.name,
        version=model.version,
        availability=model.slo.availability,
        p99_latency_ms=model.slo.p99_latency_ms,
        drift_score=thresholds.drift_score,
        min_quality=thresholds.min_quality,
        max_null_share=thresholds.max_null_share,
        max_out_of_range_share=thresholds.max_out_of_range_share,
    )


def alert_spec(cfg: PlatformConfig) -> AlertSpec:
    """The monitoring digest of a stack's configuration."""
    monitoring = cfg.monitoring
    return AlertSpec(
        environment=cfg.environment,
        serving_namespace=cfg.namespaces.serving,
        models=tuple(model_spec(m, monitoring.drift) for m in cfg.models),
        tracking_namespace=cfg.namespaces.tracking if cfg.mlflow.enabled else None,
        gpus=bool(cfg.gpu_pools),
        drift=monitoring.drift.enabled,
        drift_stale_after_minutes=monitoring.drift.stale_after_minutes,
        drift_models=tuple(m.name for m in cfg.scored_models),
        alerting=monitoring.alerting,
    )
