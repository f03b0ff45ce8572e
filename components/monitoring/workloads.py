"""The monitoring stack's own workloads: the Pushgateway and the drift-monitor CronJob, as pure specs.

Both run under Pod Security `restricted` (non-root, read-only root filesystem, no privilege
escalation, every capability dropped, RuntimeDefault seccomp) with requests and limits, even though
the monitoring namespace admits privileged pods for the node and DCGM exporters.

The drift monitor's contract (the image is the team's own, e.g. built on Evidently): it reads
``REFERENCE_DATA_URI`` (through the workload identity its service account is annotated with), scores
the live data of each model in ``DRIFT_MODELS`` (``name:stable-version,...``) and pushes, under job
``PUSHGATEWAY_JOB`` to ``PUSHGATEWAY_URL``, the gauges ``mlops_drift_score{model, feature_set}``,
``mlops_model_quality{model, metric}`` (delayed accuracy or another 0-1 quality measure, when labels
are available) and, last, ``mlops_drift_last_success_timestamp_seconds``. It runs as a non-root user
with a read-only root filesystem; ``/tmp`` is writable.
"""

from __future__ import annotations

from typing import Any

from ..config.monitoring import DriftMonitorConfig

PUSHGATEWAY = "pushgateway"
PUSHGATEWAY_PORT = 9091
DRIFT_MONITOR = "drift-monitor"
NONROOT_UID = 65534
"""`nobody`: the Prometheus images run as it; the drift monitor image must run as a non-root user too."""


def pod_security_context(uid: int = NONROOT_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pushgateway_url(namespace: str) -> str:
    return f"http://{PUSHGATEWAY}.{namespace}.svc:{PUSHGATEWAY_PORT}"


def pushgateway_deployment_spec(image: str, labels: dict[str, str]) -> dict[str, Any]:
    """One Pushgateway replica; pushed groups persist in an emptyDir across container restarts."""
    selector = {"app.kubernetes.io/name": PUSHGATEWAY}
    return {
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "strategy": {"type": "Recreate"},
        "template": {
            "metadata": {"labels": {**labels, **selector}},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(),
                "containers": [
                    {
                        "name": PUSHGATEWAY,
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["--persistence.file=/data/pushgateway.db", "--persistence.interval=1m"],
                        "ports": [{"name": "http", "containerPort": PUSHGATEWAY_PORT, "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 10},
                        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "http"}, "periodSeconds": 20},
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                        "securityContext": container_security_context(),
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "512Mi"}}],
            },
        },
    }


def pushgateway_service_spec() -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": {"app.kubernetes.io/name": PUSHGATEWAY},
        "ports": [{"name": "http", "port": PUSHGATEWAY_PORT, "targetPort": "http", "protocol": "TCP"}],
    }


def drift_environment(drift: DriftMonitorConfig, namespace: str, models: list[tuple[str, int]], environment: str) -> list[dict[str, str]]:
    """The drift monitor's contract, as environment variables (see the module docstring)."""
    assert drift.reference_data_uri is not None
    return [
        {"name": "REFERENCE_DATA_URI", "value": drift.reference_data_uri},
        {"name": "PUSHGATEWAY_URL", "value": pushgateway_url(namespace)},
        {"name": "PUSHGATEWAY_JOB", "value": DRIFT_MONITOR},
        {"name": "DRIFT_MODELS", "value": ",".join(f"{name}:{version}" for name, version in models)},
        {"name": "MLOPS_ENVIRONMENT", "value": environment},
        {"name": "TMPDIR", "value": "/tmp"},
    ]


def drift_cronjob_spec(
    drift: DriftMonitorConfig, namespace: str, models: list[tuple[str, int]], environment: str, labels: dict[str, str]
) -> dict[str, Any]:
    """The drift-monitor CronJob: one run at a time, bounded in time, restricted, pushing to the Pushgateway.

    ``models`` are (name, stable version) pairs the monitor scores.
    """
    assert drift.image is not None
    selector = {"app.kubernetes.io/name": DRIFT_MONITOR}
    return {
        "schedule": drift.schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": {**labels, **selector}},
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": drift.timeout_minutes * 60,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": {**labels, **selector}},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": DRIFT_MONITOR,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(),
                        "containers": [
                            {
                                "name": DRIFT_MONITOR,
                                "image": drift.image,
                                "imagePullPolicy": "IfNotPresent",
                                "env": drift_environment(drift, namespace, models, environment),
                                "resources": drift.resources.as_kubernetes(),
                                "securityContext": container_security_context(),
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
                    },
                },
            },
        },
    }
