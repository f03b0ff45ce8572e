"""How the server's pods get the CA they verify the database with, and the libpq options that use it.

libpq reads ``sslrootcert`` on every new connection, so a CA that changes (a ConfigMap the kubelet updates,
a bundle fetched again when a pod starts) is picked up without touching the connection string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi_kubernetes as k8s

from .stores import DatabaseTls

CA_DIR = "/etc/mlflow/db-ca"
CA_FILE = "ca.pem"
CA_CONFIG_MAP = "mlflow-db-ca"
VOLUME = "db-ca"

FETCH_SCRIPT = """\
import sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=30) as reply:
    body = reply.read()
if b"-----BEGIN CERTIFICATE-----" not in body:
    sys.exit(f"{url}: no PEM certificate in the answer")
with open(path, "wb") as out:
    out.write(body)
print(f"{url}: {body.count(b'-----BEGIN CERTIFICATE-----')} certificates")
"""
"""Fetch the cloud's CA bundle over HTTPS, verified by the image's trust store; refuse anything but PEM."""


@dataclass(frozen=True)
class PodTrust:
    """What a pod that connects to the database carries for TLS verification."""

    root_cert: str
    """The file libpq's ``sslrootcert`` names."""
    volumes: list[k8s.core.v1.VolumeArgs] = field(default_factory=list)
    mounts: list[k8s.core.v1.VolumeMountArgs] = field(default_factory=list)
    init_containers: list[k8s.core.v1.ContainerArgs] = field(default_factory=list)
    fetches: bool = False
    """Whether the pod downloads the bundle at start (it needs HTTPS egress then)."""


def connection_options(tls: DatabaseTls) -> str:
    """The libpq query options of the backend store URI."""
    return f"sslmode={tls.mode}&sslrootcert={root_cert(tls)}"


def root_cert(tls: DatabaseTls) -> str:
    return tls.ca_file or f"{CA_DIR}/{CA_FILE}"


def pod_trust(tls: DatabaseTls, image: str, security: k8s.core.v1.SecurityContextArgs) -> PodTrust:
    """Volumes, mounts and init containers that put the CA at :func:`root_cert` in a pod."""
    if tls.ca_file is not None:
        return PodTrust(root_cert=tls.ca_file)
    mount = k8s.core.v1.VolumeMountArgs(name=VOLUME, mount_path=CA_DIR, read_only=True)
    if tls.ca_pem is not None:
        volume = k8s.core.v1.VolumeArgs(name=VOLUME, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CA_CONFIG_MAP))
        return PodTrust(root_cert=root_cert(tls), volumes=[volume], mounts=[mount])
    assert tls.ca_url is not None
    fetch = k8s.core.v1.ContainerArgs(
        name="fetch-db-ca",
        image=image,
        command=["python", "-c", FETCH_SCRIPT, tls.ca_url, f"{CA_DIR}/{CA_FILE}"],
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "128Mi"}
        ),
        security_context=security,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=VOLUME, mount_path=CA_DIR)],
    )
    volume = k8s.core.v1.VolumeArgs(name=VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="4Mi"))
    return PodTrust(root_cert=root_cert(tls), volumes=[volume], mounts=[mount], init_containers=[fetch], fetches=True)
