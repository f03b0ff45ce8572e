"""The retraining trigger's workload: the loop image's ``mlops_loop.retrain`` behind Alertmanager, as pure specs.

Alertmanager posts drift and quality alerts to it; it dispatches the configured GitHub workflow once
per model and window and records each decision under the drift monitor's state prefix. It needs the
object store (records) and GitHub's API (HTTPS egress, which the monitoring namespace allows); only
Alertmanager reaches it (the namespace's pods). One replica: the dedup decision is taken under one lock.
"""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from ..config.monitoring import DriftMonitorConfig, RetrainingConfig
from ..loop_image import NONROOT_UID, identity_pod_labels, loop_service_container
from ..security import restricted_pod
from .workloads import DRIFT_MONITOR

RETRAIN_TRIGGER = "retrain-trigger"
RETRAIN_PORT = 8080
RETRAIN_LABELS = {"app.kubernetes.io/name": RETRAIN_TRIGGER}
TOKEN_SECRET = "retrain-trigger-github"
"""The Secret holding the GitHub token, mounted as a file (never an environment variable)."""
TOKEN_DIR = "/var/run/secrets/retraining"


def retrain_trigger_url(namespace: str) -> str:
    return f"http://{RETRAIN_TRIGGER}.{namespace}.svc:{RETRAIN_PORT}/alerts"


def retrain_settings(retraining: RetrainingConfig, drift: DriftMonitorConfig, models: list[str]) -> dict[str, Any]:
    """The trigger's settings document (``RETRAIN_CONFIG``; ``loop/mlops_loop/retrain.py`` reads it).

    ``models``: the scored models; an alert naming another (any pod of the namespace can post) is ignored.
    """
    assert retraining.repository is not None
    return {
        "record_uri": f"{drift.state_uri}/retraining",
        "window_minutes": retraining.window_hours * 60,
        "models": models,
        "github": {
            "repository": retraining.repository,
            "workflow": retraining.workflow,
            "ref": retraining.ref,
            "token_file": f"{TOKEN_DIR}/token",
        },
    }


def retrain_deployment_spec(
    retraining: RetrainingConfig, drift: DriftMonitorConfig, labels: dict[str, str], models: list[str]
) -> k8s.apps.v1.DeploymentSpecArgs:
    assert drift.image is not None
    container = loop_service_container(
        RETRAIN_TRIGGER,
        drift.image,
        "retrain",
        ("RETRAIN_CONFIG", retrain_settings(retraining, drift, models)),
        RETRAIN_PORT,
        requests={"cpu": "50m", "memory": "128Mi"},
        limits={"cpu": "500m", "memory": "512Mi"},
        mounts=(k8s.core.v1.VolumeMountArgs(name="token", mount_path=TOKEN_DIR, read_only=True),),
    )
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(RETRAIN_LABELS)),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels={**labels, **RETRAIN_LABELS, **identity_pod_labels(drift.service_account_annotations)}
            ),
            spec=k8s.core.v1.PodSpecArgs(
                # the drift monitor's identity: it writes the records under the same state prefix
                service_account_name=DRIFT_MONITOR,
                automount_service_account_token=False,
                security_context=restricted_pod(NONROOT_UID),
                containers=[container],
                volumes=[
                    k8s.core.v1.VolumeArgs(
                        name="token",
                        secret=k8s.core.v1.SecretVolumeSourceArgs(
                            secret_name=TOKEN_SECRET, items=[k8s.core.v1.KeyToPathArgs(key="token", path="token")]
                        ),
                    ),
                    k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
                ],
            ),
        ),
    )


def retrain_service_spec() -> k8s.core.v1.ServiceSpecArgs:
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        selector=dict(RETRAIN_LABELS),
        ports=[k8s.core.v1.ServicePortArgs(name="http", port=RETRAIN_PORT, target_port="http", protocol="TCP")],
    )
