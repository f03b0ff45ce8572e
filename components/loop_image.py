"""The monitoring loop's image (``loop/``) as the platform runs it: its user, its settings documents and its
long-running containers. Shared by serving (the capture service) and monitoring (the drift job, the retraining
trigger), which import it rather than each other."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .security import restricted

NONROOT_UID = 65534
"""`nobody`: the Prometheus images run as it; the loop image must run as a non-root user too."""


def settings_json(document: dict[str, Any]) -> str:
    """A settings document as the one-line JSON the loop's programs read: sorted keys, byte-identical per config."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def loop_service_container(
    name: str,
    image: str,
    program: str,
    settings: tuple[str, pulumi.Input[dict[str, Any]]],
    port: int,
    requests: dict[str, str],
    limits: dict[str, str],
    mounts: tuple[k8s.core.v1.VolumeMountArgs, ...] = (),
) -> k8s.core.v1.ContainerArgs:
    """A long-running program of the loop image (``python -m mlops_loop.<program>``): its settings document in one
    environment variable (``settings``: name and document), port ``http``, readiness on ``/healthz``, liveness on the
    port, restricted, with ``mounts`` and then a writable ``/tmp`` (volume ``tmp``; the root filesystem is read-only)."""
    variable, document = settings
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy="IfNotPresent",
        command=["python", "-m", f"mlops_loop.{program}"],
        env=[
            k8s.core.v1.EnvVarArgs(name=variable, value=pulumi.Output.from_input(document).apply(settings_json)),
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=port, protocol="TCP")],
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"), period_seconds=10),
        liveness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="http"), period_seconds=20),
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits),
        security_context=restricted(),
        volume_mounts=[*mounts, k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
    )


def identity_pod_labels(annotations: dict[str, str]) -> dict[str, str]:
    """Pod labels a workload identity given by service-account annotations needs: Azure's webhook only injects a
    token into pods labelled ``azure.workload.identity/use``."""
    return {"azure.workload.identity/use": "true"} if any(k.startswith("azure.workload.identity/") for k in annotations) else {}
