"""The monitoring stack's own workloads: the Pushgateway and the drift-monitor CronJob, as pure specs.

Both run under Pod Security `restricted` (non-root, read-only root filesystem, no privilege
escalation, every capability dropped, RuntimeDefault seccomp) with requests and limits, even though
the monitoring namespace admits privileged pods for the node and DCGM exporters.

The drift monitor runs the loop image (``loop/``: ``python -m mlops_loop.drift``) with its settings as
one JSON document in ``DRIFT_CONFIG`` (``drift_settings``): per model, the capture, reference and labels
folders, and where to push. It pushes one Pushgateway group per model under job ``drift-monitor``:
``mlops_drift_score{model, version, feature_set}``, ``mlops_feature_drift_distance``,
``mlops_data_quality{check}``, ``mlops_model_quality{metric}`` (with labels), ``mlops_drift_rows`` and,
last, ``mlops_drift_last_success_timestamp_seconds``. It runs as a non-root user with a read-only root
filesystem; ``/tmp`` is writable.
"""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from ..config.monitoring import ContainerResources, DriftMonitorConfig
from ..loop_image import NONROOT_UID, identity_pod_labels, settings_json
from ..security import restricted, restricted_pod

PUSHGATEWAY = "pushgateway"
PUSHGATEWAY_PORT = 9091
PUSHGATEWAY_LABELS = {"app.kubernetes.io/name": PUSHGATEWAY}
"""Labels of the Pushgateway's pods and Service: the Deployment, the Service and the ServiceMonitor select on them."""
DRIFT_MONITOR = "drift-monitor"


def resource_requirements(resources: ContainerResources) -> k8s.core.v1.ResourceRequirementsArgs:
    """The container `resources` of a configured ``ContainerResources``."""
    block = resources.as_kubernetes()
    return k8s.core.v1.ResourceRequirementsArgs(requests=block["requests"], limits=block["limits"])


def pushgateway_url(namespace: str) -> str:
    return f"http://{PUSHGATEWAY}.{namespace}.svc:{PUSHGATEWAY_PORT}"


def pushgateway_deployment_spec(image: str, labels: dict[str, str]) -> k8s.apps.v1.DeploymentSpecArgs:
    """One Pushgateway replica; pushed groups persist in an emptyDir across container restarts."""
    container = k8s.core.v1.ContainerArgs(
        name=PUSHGATEWAY,
        image=image,
        image_pull_policy="IfNotPresent",
        args=["--persistence.file=/data/pushgateway.db", "--persistence.interval=1m"],
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PUSHGATEWAY_PORT, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/ready", port="http"), period_seconds=10),
        liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/healthy", port="http"), period_seconds=20),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "50m", "memory": "64Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
        ),
        security_context=restricted(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data")],
    )
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(PUSHGATEWAY_LABELS)),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **PUSHGATEWAY_LABELS}),
            spec=k8s.core.v1.PodSpecArgs(
                automount_service_account_token=False,
                security_context=restricted_pod(NONROOT_UID),
                containers=[container],
                volumes=[k8s.core.v1.VolumeArgs(name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="512Mi"))],
            ),
        ),
    )


def pushgateway_service_spec() -> k8s.core.v1.ServiceSpecArgs:
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        selector=dict(PUSHGATEWAY_LABELS),
        ports=[k8s.core.v1.ServicePortArgs(name="http", port=PUSHGATEWAY_PORT, target_port="http", protocol="TCP")],
    )


def drift_settings(
    drift: DriftMonitorConfig,
    namespace: str,
    models: list[tuple[str, int]],
    environment: str,
    ignore: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The drift job's settings document (``DRIFT_CONFIG``; ``loop/mlops_loop/drift.py`` reads it).

    ``ignore``: per model, the tensors of variable per-row size to leave out.
    """
    entries = []
    for name, version in models:
        model = drift.model_for(name)
        entries.append(
            {
                "name": name,
                "version": str(version),
                "capture_uri": drift.uri("capture_uri", name),
                "reference_uri": drift.uri("reference_data_uri", name),
                "labels_uri": drift.uri("labels_uri", name),
                "label": model.label,
                "prediction": f"output:{model.prediction}" if model.prediction else None,
                "task": model.task,
                "decision_threshold": model.decision_threshold,
                "feature_threshold": drift.thresholds_for(name).feature_distance,
                "ignore_tensors": list((ignore or {}).get(name, ())),
            }
        )
    return {
        "environment": environment,
        "job": DRIFT_MONITOR,
        "pushgateway_url": pushgateway_url(namespace),
        "state_uri": f"{drift.state_uri}/drift",
        "min_rows": drift.min_rows,
        "models": entries,
    }


def drift_environment(
    drift: DriftMonitorConfig,
    namespace: str,
    models: list[tuple[str, int]],
    environment: str,
    ignore: dict[str, tuple[str, ...]] | None = None,
) -> list[k8s.core.v1.EnvVarArgs]:
    """The drift job's environment: its settings, and a writable home for the libraries' caches."""
    values = [
        ("DRIFT_CONFIG", settings_json(drift_settings(drift, namespace, models, environment, ignore))),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
    ]
    return [k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in values]


def drift_cronjob_spec(
    drift: DriftMonitorConfig,
    namespace: str,
    models: list[tuple[str, int]],
    environment: str,
    labels: dict[str, str],
    ignore: dict[str, tuple[str, ...]] | None = None,
) -> k8s.batch.v1.CronJobSpecArgs:
    """The drift-monitor CronJob: one run at a time, bounded in time, restricted, pushing to the Pushgateway.

    ``models`` are (name, stable version) pairs the monitor scores.
    """
    assert drift.image is not None
    pod_labels = {**labels, "app.kubernetes.io/name": DRIFT_MONITOR, **identity_pod_labels(drift.service_account_annotations)}
    container = k8s.core.v1.ContainerArgs(
        name=DRIFT_MONITOR,
        image=drift.image,
        image_pull_policy="IfNotPresent",
        command=["python", "-m", "mlops_loop.drift"],
        env=drift_environment(drift, namespace, models, environment, ignore),
        resources=resource_requirements(drift.resources),
        security_context=restricted(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
    )
    pod = k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        service_account_name=DRIFT_MONITOR,
        automount_service_account_token=False,
        security_context=restricted_pod(NONROOT_UID),
        containers=[container],
        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="2Gi"))],
    )
    return k8s.batch.v1.CronJobSpecArgs(
        schedule=drift.schedule,
        time_zone="Etc/UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=300,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        job_template=k8s.batch.v1.JobTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=1,
                active_deadline_seconds=drift.timeout_minutes * 60,
                ttl_seconds_after_finished=86400,
                template=k8s.core.v1.PodTemplateSpecArgs(metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels), spec=pod),
            ),
        ),
    )
