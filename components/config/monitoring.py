"""Metrics, dashboards, alerting thresholds, alert routing and the drift monitor."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import CpuQuantity, DnsLabel, Hostname, Issue, MemoryQuantity, StrictModel, chart_source_issues, quantity_value, raise_issues
from .secrets import SecretKey

Severity = Literal["page", "ticket"]

AlertName = Literal[
    "ModelErrorBudgetFastBurn",
    "ModelErrorBudgetSlowBurn",
    "ModelLatencyP99High",
    "ModelQueueTimeHigh",
    "TritonDown",
    "GpuUtilizationSaturated",
    "GpuMemorySaturated",
    "PodRestartingOften",
    "PodNotReady",
    "MlflowDown",
    "ModelDataDrift",
    "ModelQualityDegraded",
    "ModelDataQualityFailed",
    "DriftMonitorStale",
]
"""Every alert the platform generates; `alerting.severity_overrides` is keyed by these names."""

_PINNED_IMAGE = re.compile(r"^[a-z0-9][-a-z0-9._/:]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
_CRON = re.compile(r"^(\S+\s+){4}\S+$")
_STORE_URI = re.compile(r"^(s3|gs|as)://[a-z0-9][-a-z0-9._]*(/[^\s]*)?$")


def image_issues(field: str, image: str) -> list[Issue]:
    """An image must carry an explicit tag or digest, and never the floating `latest` tag."""
    if not _PINNED_IMAGE.match(image):
        return [(field, image, "a container image reference such as registry/name:1.2.3 or registry/name@sha256:<digest>")]
    last = image.rsplit("/", 1)[-1]
    if ":" not in last.split("@", 1)[0] and "@sha256:" not in image:
        return [(field, image, "an image pinned by tag or digest (registry/name:1.2.3 or @sha256:<digest>)")]
    if last.split("@", 1)[0].endswith(":latest"):
        return [(field, image, "a pinned tag or digest, not 'latest'")]
    return []


class ContainerResources(StrictModel):
    """Requests and limits of one container (Kubernetes quantities)."""

    cpu_request: CpuQuantity = Field(description="CPU request, e.g. `250m` or `2`. Required.")
    memory_request: MemoryQuantity = Field(description="Memory request, e.g. `512Mi` or `4Gi`. Required.")
    cpu_limit: CpuQuantity | None = Field(
        default=None, description="CPU limit, at least the request. Default: none (no CPU throttling; the request is reserved)."
    )
    memory_limit: MemoryQuantity = Field(description="Memory limit, at least the request. Required.")

    @model_validator(mode="after")
    def _ordered(self) -> ContainerResources:
        issues: list[Issue] = []
        if (quantity_value(self.memory_limit) or 0) < (quantity_value(self.memory_request) or 0):
            issues.append(("memory_limit", self.memory_limit, f"at least memory_request ({self.memory_request})"))
        if self.cpu_limit is not None and (quantity_value(self.cpu_limit) or 0) < (quantity_value(self.cpu_request) or 0):
            issues.append(("cpu_limit", self.cpu_limit, f"at least cpu_request ({self.cpu_request})"))
        raise_issues(issues)
        return self

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        """The `resources` block of a container spec."""
        limits = {"memory": self.memory_limit}
        if self.cpu_limit is not None:
            limits["cpu"] = self.cpu_limit
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}, "limits": limits}


class AlertReceiver(StrictModel):
    """Where alerts of some severities are delivered. The URL or key is always a secret."""

    name: DnsLabel = Field(description="Receiver name, unique in the stack. Required.")
    kind: Literal["slack", "pagerduty", "webhook"] = Field(description="`slack`, `pagerduty` or `webhook`. Required.")
    secret_key: SecretKey = Field(
        description="Secret config key holding the Slack webhook URL, PagerDuty routing key or webhook URL. Required."
    )
    channel: str | None = Field(
        default=None,
        pattern=r"^#[a-z0-9][-_a-z0-9]{0,79}$",
        description="`slack` only: the channel, e.g. `#ml-alerts`. Default: the webhook's channel.",
    )
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["page", "ticket"]),
        min_length=1,
        description="Severities routed here: `page` (wake someone) and/or `ticket`. Default: both.",
    )
    purpose: Literal["alerts", "retraining"] = Field(
        default="alerts",
        description="`alerts` receives the alerts of its `severities`; `retraining` (kind `webhook` only) receives "
        "every data-drift and model-quality alert, whatever its severity, as the trigger of automated retraining. "
        "Default: `alerts`.",
    )

    @model_validator(mode="after")
    def _channel(self) -> AlertReceiver:
        issues: list[Issue] = []
        if self.channel is not None and self.kind != "slack":
            issues.append(("channel", self.channel, f"not set: it does not apply to kind '{self.kind}'"))
        if self.purpose == "retraining" and self.kind != "webhook":
            issues.append(("purpose", self.purpose, f"'alerts': a '{self.kind}' receiver cannot trigger retraining (use kind 'webhook')"))
        if self.purpose == "retraining" and "severities" in self.model_fields_set:
            issues.append(("severities", self.severities, "not set: a retraining receiver gets drift and quality alerts of every severity"))
        raise_issues(issues)
        return self


class AlertingConfig(StrictModel):
    """Thresholds of the generated alerts that are not per-model SLOs, and per-stack severities."""

    queue_time_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="ModelQueueTimeHigh fires when a model's average queue time exceeds this fraction of its "
        "p99 latency objective. Default: 0.5.",
    )
    gpu_utilization_percent: int = Field(
        default=95, ge=50, le=100, description="GpuUtilizationSaturated fires above this GPU utilisation (%). Default: 95."
    )
    gpu_memory_percent: int = Field(
        default=90, ge=50, le=100, description="GpuMemorySaturated fires above this share of GPU memory in use (%). Default: 90."
    )
    pod_restarts: int = Field(
        default=2, ge=1, le=20, description="PodRestartingOften fires above this many container restarts in 5 minutes. Default: 2."
    )
    severity_overrides: dict[AlertName, Severity] = Field(
        default_factory=dict,
        description="Severity per alert name where this stack deviates from the catalogue's default, "
        "e.g. `{MlflowDown: page}`. Default: none (the catalogue's severities).",
    )


class DriftThresholds(StrictModel):
    """When the drift monitor's gauges raise an alert."""

    drift_score: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="ModelDataDrift fires above this drift score of a feature set: the share (0-1) of its columns whose "
        "drift distance exceeds `feature_distance`. Default: 0.3.",
    )
    feature_distance: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="A column has drifted above this distance: Wasserstein distance normed by the reference's standard "
        "deviation (numeric) or Jensen-Shannon distance (categorical). Default: 0.1 (Evidently's default for both).",
    )
    min_quality: float = Field(
        default=0.8, gt=0, lt=1, description="ModelQualityDegraded fires below this delayed quality gauge (0-1). Default: 0.8."
    )
    max_null_share: float = Field(
        default=0.05, ge=0, lt=1, description="ModelDataQualityFailed fires above this share of missing feature values. Default: 0.05."
    )
    max_out_of_range_share: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="ModelDataQualityFailed fires above this share of numeric values outside the reference's range. Default: 0.05.",
    )


class DriftModel(StrictModel):
    """How the drift monitor reads one model's predictions and labels."""

    task: Literal["classification", "regression"] = Field(
        default="classification",
        description="`classification` (accuracy, and ROC AUC for a binary score) or `regression` (R², RMSE). Default: classification.",
    )
    label: str = Field(default="label", min_length=1, description="The label column of the labels files. Default: `label`.")
    prediction: str | None = Field(
        default=None,
        description="The output tensor holding the prediction. Default: the model's only output (required when it has several).",
    )
    decision_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Binary classification: scores at or above it count as the positive class. Default: 0.5."
    )


def _default_drift_resources() -> ContainerResources:
    # a CPU limit too: the drift job is a workload of ours, and the policy pack wants both limits in canary and prod
    return ContainerResources(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")


class DriftMonitorConfig(StrictModel):
    """A scheduled job comparing live data with reference data; it pushes drift and quality gauges to the Pushgateway."""

    enabled: bool = Field(default=False, description="Deploy the drift-monitor CronJob and its alerts. Default: false.")
    image: str | None = Field(
        default=None,
        description="The drift-monitor image, pinned by tag or digest (never `latest`). Required when enabled.",
    )
    reference_data_uri: str | None = Field(
        default=None,
        description="Prefix of the reference (training) data: `<uri>/<model>/` holds each model's Parquet, CSV or JSONL "
        "files, with the feature columns the capture gives (a tensor `x` of per-row shape `[n]` as `x.0` ... `x.<n-1>`) and, "
        "for prediction drift, `output:<tensor>` columns. `s3://`, `gs://` or `as://`. Required when enabled.",
    )
    capture_uri: str | None = Field(
        default=None,
        description="Prefix of the inference capture: the capture service writes `<uri>/<model>/YYYY/MM/DD/HH/*.jsonl`, "
        "the job reads it and keeps its watermarks (and the retraining trigger its records) beside it, under `<uri>-state/`. "
        "A prefix inside a bucket (`s3://bucket/capture`, `as://account/container/capture`). Required when enabled.",
    )
    labels_uri: str | None = Field(
        default=None,
        description="Prefix of delayed labels: `<uri>/<model>/` holds files with `request_id`, optional `row` and the label "
        "column, joined with captured requests for quality (concept drift). Default: none (no quality gauges).",
    )
    sampling_percent: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Percent of each Triton model's requests the gateway mirrors to the capture service. Default: 10.",
    )
    capture_predictions: bool = Field(
        default=True,
        description="The capture service asks the model's stable version for the prediction of each captured request (a "
        "mirror cannot carry the response): prediction drift and quality need it; it adds `sampling_percent` of inference "
        "load. Default: true.",
    )
    min_rows: int = Field(
        default=1000,
        ge=100,
        le=10_000_000,
        description="Captured rows a model needs before a run scores it; fewer, and the run waits for more. Default: 1000.",
    )
    models: dict[DnsLabel, DriftModel] = Field(
        default_factory=dict,
        description="The Triton models the loop captures and scores, keyed by name, with their task, label and prediction "
        "settings (a model with variable-length or free-text inputs has no per-column reference: leave it out). "
        "Default: every Triton model, as classification.",
    )
    schedule: str = Field(default="*/30 * * * *", description="Cron schedule of the job (5 fields, UTC). Default: every 30 minutes.")
    timeout_minutes: int = Field(default=20, ge=1, le=1440, description="A run is stopped after this many minutes. Default: 20.")
    stale_after_minutes: int = Field(
        default=120,
        ge=5,
        le=10080,
        description="DriftMonitorStale fires when no run has succeeded for this long. Default: 120.",
    )
    resources: ContainerResources = Field(
        default_factory=_default_drift_resources, description="Container resources. Default: 250m / 512Mi requested, 1 CPU / 1Gi limit."
    )
    thresholds: DriftThresholds = Field(
        default_factory=DriftThresholds, description="Alert thresholds for every model. Default: drift score 0.3, quality 0.8."
    )
    model_thresholds: dict[DnsLabel, DriftThresholds] = Field(
        default_factory=dict, description="Per-model thresholds, keyed by model name. Default: none (`thresholds` for all)."
    )
    service_account_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations of the job's service account (the retraining trigger runs as it too), e.g. the IRSA role "
        "or GKE/Azure workload identity that reads the capture, reference and labels prefixes and writes `<capture_uri>-state/`. "
        "Azure pods get the `azure.workload.identity/use` label, GKE pods egress to the metadata server. Default: none.",
    )

    @model_validator(mode="after")
    def _enabled_fields(self) -> DriftMonitorConfig:
        issues: list[Issue] = []
        if self.enabled:
            if self.image is None:
                issues.append(("image", None, "a pinned image: required when enabled"))
            if self.reference_data_uri is None:
                issues.append(("reference_data_uri", None, "a data URI: required when enabled"))
            if self.capture_uri is None:
                issues.append(("capture_uri", None, "an object-store URI: required when enabled"))
        if self.image is not None:
            issues += image_issues("image", self.image)
        for key in ("reference_data_uri", "capture_uri", "labels_uri"):
            value = getattr(self, key)
            if value is not None and not _STORE_URI.match(value):
                issues.append((key, value, "an object-store URI: s3://bucket/prefix, gs://bucket/prefix or as://account/container/prefix"))
        if self.capture_uri is not None and _STORE_URI.match(self.capture_uri):
            scheme, rest = self.capture_uri.split("://", 1)
            parts = [p for p in rest.split("/") if p]
            if len(parts) < (3 if scheme == "as" else 2):
                issues.append(
                    ("capture_uri", self.capture_uri, "a prefix inside the bucket (e.g. s3://bucket/capture): its state goes beside it")
                )
        if not _CRON.match(self.schedule):
            issues.append(("schedule", self.schedule, "a 5-field cron schedule such as '*/30 * * * *'"))
        raise_issues(issues)
        return self

    def thresholds_for(self, model: str) -> DriftThresholds:
        """The thresholds that apply to one model."""
        return self.model_thresholds.get(model, self.thresholds)

    def scored(self, models: list[str]) -> list[str]:
        """The models the loop captures and scores, of the stack's Triton models (in their order)."""
        return [m for m in models if not self.models or m in self.models]

    def model_for(self, model: str) -> DriftModel:
        """The task, label and prediction settings of one model."""
        return self.models.get(model, DriftModel())

    def uri(self, field: Literal["reference_data_uri", "capture_uri", "labels_uri"], model: str) -> str | None:
        """A model's folder under one of the prefixes."""
        prefix: str | None = getattr(self, field)
        return None if prefix is None else f"{prefix.rstrip('/')}/{model}"

    @property
    def state_uri(self) -> str:
        """Where the job keeps its watermarks and the retraining trigger its records: beside the capture prefix, not
        under it, so the capture service's identity (it writes exactly the capture prefix) cannot touch them."""
        assert self.capture_uri is not None
        return f"{self.capture_uri.rstrip('/')}-state"


class RetrainingConfig(StrictModel):
    """The retraining trigger: drift and quality alerts dispatch a GitHub Actions workflow, once per model and window."""

    enabled: bool = Field(
        default=False,
        description="Deploy the retraining trigger (the drift monitor's image) and route drift and quality alerts to it. "
        "Requires the drift monitor. Default: false.",
    )
    repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$",
        description="The GitHub repository (`owner/name`) holding the retraining workflow. Required when enabled.",
    )
    workflow: str = Field(
        default="retrain.yml",
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*\.ya?ml$",
        description="The workflow file it dispatches (`workflow_dispatch` with inputs model, version, alert, figures). "
        "Default: `retrain.yml`.",
    )
    ref: str = Field(default="main", min_length=1, description="The git ref the workflow runs on. Default: `main`.")
    token_secret_key: SecretKey | None = Field(
        default=None,
        description="Secret config key holding a GitHub token allowed to dispatch the workflow (fine-grained, `actions: write` "
        "on that repository only). Required when enabled.",
    )
    window_hours: int = Field(
        default=24,
        ge=1,
        le=720,
        description="At most one retraining per model in this many hours; later alerts are recorded as deduplicated. Default: 24.",
    )

    @model_validator(mode="after")
    def _required(self) -> RetrainingConfig:
        issues: list[Issue] = []
        if self.enabled and self.repository is None:
            issues.append(("repository", None, "the GitHub repository owner/name: required when enabled"))
        if self.enabled and self.token_secret_key is None:
            issues.append(("token_secret_key", None, "a secret config key holding the GitHub token: required when enabled"))
        raise_issues(issues)
        return self


def _default_prometheus_resources() -> ContainerResources:
    return ContainerResources(cpu_request="500m", memory_request="2Gi", memory_limit="4Gi")


def _default_alertmanager_resources() -> ContainerResources:
    return ContainerResources(cpu_request="50m", memory_request="128Mi", memory_limit="256Mi")


def _default_grafana_resources() -> ContainerResources:
    return ContainerResources(cpu_request="100m", memory_request="256Mi", memory_limit="512Mi")


PUSHGATEWAY_IMAGE = "prom/pushgateway:v1.11.3@sha256:74fa117cef2d7e383112d25139ff1c2d2e309c35389a9e0554a47136a1482e48"


class MonitoringConfig(StrictModel):
    """The Prometheus/Grafana stack and the alerting it routes."""

    enabled: bool = Field(default=True, description="Deploy the monitoring stack. Default: true.")
    install: bool = Field(
        default=True,
        description="Install Prometheus, Alertmanager and Grafana (the chart). Set false when the cluster already runs a "
        "Prometheus Operator and a Grafana with its dashboard sidecar: the stack then creates only its rules, "
        "ServiceMonitors, dashboards and Pushgateway, labelled with the selector label that Prometheus must select, and "
        "alerts route through that installation's Alertmanager. Default: true.",
    )
    selector_labels: dict[str, str] | None = Field(
        default=None,
        description="`install: false` only: the labels the existing Prometheus selects ServiceMonitors and "
        "PrometheusRules by (kube-prometheus-stack: `release: <its release name>`); its rule and monitor "
        "namespace selectors must also admit the platform's namespaces. Required when `install` is false.",
    )
    prometheus_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+/?$",
        description="`install: false` only: in-cluster URL of the existing Prometheus, scheme, host and port without a "
        "path (the canary rollback and KEDA's triggers query it). Required when `install` is false.",
    )
    retention_days: int = Field(default=15, ge=1, le=365, description="Prometheus retention in days. Default: 15.")
    storage_gb: int = Field(default=50, ge=10, le=10000, description="Prometheus volume size in GiB. Default: 50.")
    storage_class: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="StorageClass of the Prometheus and Alertmanager volumes. Default: the cluster's default class.",
    )
    prometheus_replicas: int = Field(default=1, ge=1, le=3, description="Prometheus replicas. Default: 1.")
    alertmanager_replicas: int = Field(default=1, ge=1, le=3, description="Alertmanager replicas (a gossip cluster). Default: 1.")
    prometheus_resources: ContainerResources = Field(
        default_factory=_default_prometheus_resources, description="Prometheus resources. Default: 500m / 2Gi requested, 4Gi limit."
    )
    alertmanager_resources: ContainerResources = Field(
        default_factory=_default_alertmanager_resources,
        description="Alertmanager resources. Default: 50m / 128Mi requested, 256Mi limit.",
    )
    grafana_resources: ContainerResources = Field(
        default_factory=_default_grafana_resources, description="Grafana resources. Default: 100m / 256Mi requested, 512Mi limit."
    )
    grafana_hostname: Hostname | None = Field(
        default=None, description="Public host name for Grafana behind the ingress with TLS. Default: in-cluster only."
    )
    chart: str = Field(
        default="kube-prometheus-stack",
        min_length=1,
        description="Chart name in `repository`, an `oci://` reference, or a local chart path (air-gapped clusters). "
        "Default: `kube-prometheus-stack`.",
    )
    repository: str | None = Field(
        default="https://prometheus-community.github.io/helm-charts",
        description="Helm repository URL; null when `chart` is an OCI reference or a local path. "
        "Default: the prometheus-community repository.",
    )
    version: str = Field(default="79.10.0", pattern=r"^v?\d+\.\d+\.\d+$", description="Pinned chart version. Default: `79.10.0`.")
    cluster_components: bool = Field(
        default=True,
        description="Install the cluster-wide parts: CRDs, the operator, node exporter and kube-state-metrics. Set false "
        "when another stack's monitoring already runs them in the same cluster (its operator then reconciles this "
        "stack's Prometheus). Default: true.",
    )
    pushgateway_image: str = Field(
        default=PUSHGATEWAY_IMAGE,
        description="Pushgateway image, pinned (batch jobs such as the drift monitor push to it). "
        "Default: `prom/pushgateway:v1.11.3` by digest.",
    )
    receivers: list[AlertReceiver] = Field(default_factory=list, description="Alert receivers. Default: none.")
    alerting: AlertingConfig = Field(
        default_factory=AlertingConfig, description="Alert thresholds and severity overrides. Default: see its fields."
    )
    drift: DriftMonitorConfig = Field(default_factory=DriftMonitorConfig, description="The drift monitor. Default: disabled.")
    retraining: RetrainingConfig = Field(default_factory=RetrainingConfig, description="The retraining trigger. Default: disabled.")

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringConfig:
        issues: list[Issue] = chart_source_issues(self.chart, self.repository)
        issues += image_issues("pushgateway_image", self.pushgateway_image)
        if self.install and self.prometheus_url is not None:
            issues.append(("prometheus_url", self.prometheus_url, "not set: the installed Prometheus has its own URL"))
        if self.install and self.selector_labels is not None:
            issues.append(("selector_labels", self.selector_labels, "not set: the installed Prometheus selects its own label"))
        if self.retraining.enabled and not self.drift.enabled:
            issues.append(("retraining.enabled", True, "false, or drift.enabled true: only the drift monitor's alerts trigger retraining"))
        if not self.install:
            if self.prometheus_url is None:
                issues.append(("prometheus_url", None, "the existing Prometheus's URL: required when install is false"))
            if not self.selector_labels:
                expected = "the labels the existing Prometheus selects: required when install is false"
                issues.append(("selector_labels", self.selector_labels, expected))
            for i, receiver in enumerate(self.receivers):
                issues.append(
                    (f"receivers[{i}]", receiver.name, "no receivers: with install false, alerts route through the existing Alertmanager")
                )
        raise_issues(issues)
        return self


def monitoring_issues(
    monitoring: MonitoringConfig, models: list[str], require_image_digest: bool = False, environment: str | None = None
) -> list[Issue]:
    """Cross-section problems of the monitoring section (paths relative to the config root).

    ``models`` are the names of the stack's Triton models; ``require_image_digest`` is the guardrail.
    """
    issues: list[Issue] = []
    if not monitoring.enabled:
        return issues
    for field in ("model_thresholds", "models"):
        for name in getattr(monitoring.drift, field):
            if name not in models:
                known = ", ".join(models) or "none defined"
                issues.append((f"monitoring.drift.{field}.{name}", name, f"the name of a model in models ({known})"))
    if require_image_digest:
        images = [("monitoring.pushgateway_image", monitoring.pushgateway_image)]
        if monitoring.drift.enabled and monitoring.drift.image:
            images.append(("monitoring.drift.image", monitoring.drift.image))
        for path, image in images:
            if "@sha256:" not in image:
                issues.append((path, image, f"an image pinned by digest (@sha256:...) in {environment}"))
    return issues
