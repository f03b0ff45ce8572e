"""ServiceMonitors for the platform's metric sources, as pure specs (CRD field names, camelCase).

Every ServiceMonitor lives in the monitoring namespace, selects its Service across namespaces and
carries the stack's selector label, so only this stack's Prometheus scrapes it. Each one sets the
``job`` label explicitly: the generated rules select on it, whatever the Service is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contracts import MLFLOW_SERVER_PORT
from .promql import DCGM_JOB, MLFLOW_JOB, PUSHGATEWAY_JOB, TRITON_JOB
from .workloads import PUSHGATEWAY_LABELS


@dataclass(frozen=True)
class ScrapeTarget:
    """A Service to scrape: where it is, how to find it, which port, and the job label to give it."""

    name: str
    """Name of the ServiceMonitor (and of the target in reports)."""
    namespace: str
    """Namespace of the Service."""
    selector: dict[str, str]
    """Labels of the Service."""
    port: str
    """Name of the Service port that serves metrics."""
    job: str
    """The `job` label of every scraped series."""
    path: str = "/metrics"
    """The HTTP path of the metrics."""
    interval: str = "30s"
    """How often Prometheus scrapes it."""
    honor_labels: bool = False
    """Keep the scraped series' own `job`/`instance` labels (the Pushgateway's pushed groups)."""
    extra_relabelings: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    """Relabelings applied after the one that sets `job` (none where ``honor_labels``). Default: none."""
    admit: tuple[dict[str, str], int] | None = None
    """Pod labels and container port Prometheus must be admitted to by the monitoring stack itself: the target's
    namespace is default-deny and its component does not know the monitoring namespace. None: nothing to open."""


TRITON_SELECTOR = {"app.kubernetes.io/name": "triton"}
"""Labels the Triton Service must carry (the serving component sets them)."""
TRITON_METRICS_PORT = "metrics"
MLFLOW_SELECTOR = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"}
"""The tracking server's own Service, not the OIDC proxy's in front of it (whose `/metrics` needs a login)."""
MLFLOW_PORT = "http"
DCGM_SELECTOR = {"app": "nvidia-dcgm-exporter"}
"""The GPU operator's DCGM exporter Service (port `gpu-metrics`, 9400)."""
DCGM_PORT = "gpu-metrics"
PUSHGATEWAY_SELECTOR = PUSHGATEWAY_LABELS


CAPTURE_SELECTOR = {"app.kubernetes.io/name": "inference-capture"}
"""Labels of the inference capture's Service and pods (``components.serving.capture``)."""
CAPTURE_PORT = 8080


def capture_target(namespace: str) -> ScrapeTarget:
    """The capture service's counters (captured, sampled out, dropped, failed writes): a store outage shows."""
    return ScrapeTarget(
        "inference-capture", namespace, dict(CAPTURE_SELECTOR), "http", "inference-capture", admit=(dict(CAPTURE_SELECTOR), CAPTURE_PORT)
    )


def retrain_target(namespace: str) -> ScrapeTarget:
    """The retraining trigger's decisions (dispatched, deduplicated, refused, failed)."""
    return ScrapeTarget("retrain-trigger", namespace, {"app.kubernetes.io/name": "retrain-trigger"}, "http", "retrain-trigger")


def triton_target(namespace: str, selector: dict[str, str] | None = None, port: str = TRITON_METRICS_PORT) -> ScrapeTarget:
    """Triton's metrics port (8002); series keep Triton's own `model` and `version` labels."""
    return ScrapeTarget("triton", namespace, selector or dict(TRITON_SELECTOR), port, TRITON_JOB, interval="15s")


def mlflow_target(namespace: str, selector: dict[str, str] | None = None, port: str = MLFLOW_PORT) -> ScrapeTarget:
    """The MLflow server's `/metrics` (served with `--expose-prometheus` on the server's port, behind Service port `http`)."""
    pods = selector or dict(MLFLOW_SELECTOR)  # the Service's labels are its pods' selector labels
    return ScrapeTarget("mlflow", namespace, pods, port, MLFLOW_JOB, admit=(pods, MLFLOW_SERVER_PORT))


def dcgm_target(namespace: str, selector: dict[str, str] | None = None, port: str = DCGM_PORT) -> ScrapeTarget:
    """The DCGM exporter; `Hostname`, `gpu` and `modelName` come from the exporter itself."""
    return ScrapeTarget("dcgm-exporter", namespace, selector or dict(DCGM_SELECTOR), port, DCGM_JOB)


def pushgateway_target(namespace: str) -> ScrapeTarget:
    """The Pushgateway; pushed groups keep their own labels (`honorLabels`)."""
    return ScrapeTarget("pushgateway", namespace, dict(PUSHGATEWAY_SELECTOR), "http", PUSHGATEWAY_JOB, honor_labels=True)


def service_monitor_spec(target: ScrapeTarget) -> dict[str, Any]:
    """The `spec` of a monitoring.coreos.com/v1 ServiceMonitor for ``target``."""
    relabelings: list[dict[str, Any]] = (
        [] if target.honor_labels else [{"targetLabel": "job", "replacement": target.job, "action": "replace"}]
    )
    relabelings += [dict(r) for r in target.extra_relabelings]
    endpoint: dict[str, Any] = {"port": target.port, "path": target.path, "interval": target.interval, "scheme": "http"}
    if target.honor_labels:
        endpoint["honorLabels"] = True
    if relabelings:
        endpoint["relabelings"] = relabelings
    return {
        "jobLabel": "app.kubernetes.io/name",
        "namespaceSelector": {"matchNames": [target.namespace]},
        "selector": {"matchLabels": dict(sorted(target.selector.items()))},
        "endpoints": [endpoint],
    }


def service_monitor_manifest(target: ScrapeTarget, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A whole ServiceMonitor object (``labels`` must include the stack's selector label)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": target.name, "namespace": namespace, "labels": labels},
        "spec": service_monitor_spec(target),
    }
