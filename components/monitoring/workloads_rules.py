"""``workloads.rules.yaml``: pod health of the serving and tracking namespaces (kube-state-metrics: restarts,
readiness, phase) and MlflowDown (``up`` of ``job="mlflow"``)."""

from __future__ import annotations

from typing import Any

from .alert_catalogue import alert_rule
from .promql import MLFLOW_JOB, down, selector
from .spec import AlertSpec


def workloads_group(spec: AlertSpec) -> dict[str, Any]:
    """Crash-looping and unready pods of the workload namespaces; MlflowDown where the stack tracks with MLflow."""
    namespaces = "|".join(spec.workload_namespaces)
    ns = selector(namespace=f"~{namespaces}")
    ready = selector(namespace=f"~{namespaces}", condition="false")
    running = selector(namespace=f"~{namespaces}", phase="Running")
    restarts = spec.alerting.pod_restarts
    rules = [
        alert_rule(
            spec,
            "PodRestartingOften",
            f"sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{ns}[5m])) > {restarts}",
            "1m",
            "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is restarting repeatedly",
            f"More than {restarts} restarts of the container in 5 minutes: it is crash-looping or being OOM-killed.",
        ),
        alert_rule(
            spec,
            "PodNotReady",
            f"sum by (namespace, pod) (kube_pod_status_ready{ready}) > 0\n"
            f"and on (namespace, pod)\nsum by (namespace, pod) (kube_pod_status_phase{running}) > 0",
            "3m",
            "{{ $labels.namespace }}/{{ $labels.pod }} is running but not ready",
            "The pod has been running without passing its readiness probe for 3 minutes; it receives no traffic.",
        ),
    ]
    if spec.tracking_namespace:
        rules.append(
            alert_rule(
                spec,
                "MlflowDown",
                down(MLFLOW_JOB, spec.tracking_namespace),
                "2m",
                "The MLflow tracking server is down",
                f"No MLflow metrics target is up in namespace {spec.tracking_namespace}: "
                "experiment tracking and the model registry are unavailable.",
            )
        )
    return {"name": "mlops-workloads", "rules": rules}
