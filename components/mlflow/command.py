"""What the MLflow server runs and answers to: its ports, names, users, arguments, accepted Host headers and backend
store URI. Pure values and functions, shared by the server's Deployment, its proxy, its exposure and the tests that
run the real `mlflow server` with them."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import pulumi

from ..contracts import MLFLOW_SERVER_PORT
from .database_tls import connection_options
from .stores import BackendDatabase

SERVER_PORT = MLFLOW_SERVER_PORT
"""The server's port: the API, the UI and, with ``--expose-prometheus``, ``/metrics``."""
METRICS_DIR = "/var/lib/mlflow/metrics"
"""prometheus_flask_exporter's multiprocess files, one set per worker process (an emptyDir: the root filesystem is read-only)."""
POD_IP_ENV = "POD_IP"
PROXY_PORT = 4180
SERVICE_PORT = 80
SERVICE = "mlflow"
"""The Service every client uses, with or without the proxy."""
SERVER_SERVICE = "mlflow-server"
"""The server's own Service behind the proxy (auth on)."""
SERVICE_ACCOUNT = "mlflow"
DB_SECRET, DB_SECRET_KEY = "mlflow-db", "backend-store-uri"
AUTH_SECRET = "mlflow-auth"
SERVER_UID = 10001
PROXY_UID = 65532
"""oauth2-proxy's distroless image runs as nonroot (65532); the MLflow image has no user of its own."""
CLUSTER_DOMAIN = "cluster.local"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""Where a private database endpoint can be: RDS, Cloud SQL private IP and Azure delegated subnets all are in these."""
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"


def allowed_hosts(namespace: str, hostname: str | None, services: Sequence[str]) -> list[str]:
    """Host headers the server accepts: the public name, the Services' cluster names, and localhost for port-forwards.

    Each name is allowed with and without a port: the port in a Host header depends on how the server is
    reached (Service port 80, the container port, a port-forward), the name is what guards against DNS rebinding.
    """
    names = [hostname] if hostname else []
    for service in services:
        names += [f"{service}.{namespace}.svc.{CLUSTER_DOMAIN}", f"{service}.{namespace}.svc", f"{service}.{namespace}"]
    names += ["localhost", "127.0.0.1"]
    return [host for name in names for host in (name, f"{name}:*")]


READINESS_PATH = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
"""Readiness reads the Default experiment, so a replica that cannot reach its database leaves the Service; liveness
stays on `/health`, which answers without the database, so a database outage does not restart every replica."""


def pod_address_hosts(port: int) -> list[str]:
    """Host headers of requests to the pod's own IP (IPv4 and IPv6 forms), as Prometheus scrapes an endpoint.

    ``$(POD_IP)`` is expanded by the kubelet from the Downward API. An IP literal is not a name DNS rebinding
    could point at the pod, so allowing it keeps the protection ``--allowed-hosts`` exists for.
    """
    return [f"$({POD_IP_ENV}):{port}", f"[$({POD_IP_ENV})]:{port}"]


def server_args(workers: int, destination: str, hosts: str, origins: Sequence[str]) -> list[pulumi.Input[str]]:
    """The arguments of `mlflow server` (the backend store URI comes from the environment)."""
    args: list[pulumi.Input[str]] = ["server", "--host", "0.0.0.0", "--port", str(SERVER_PORT), "--workers", str(workers)]
    args += ["--serve-artifacts", "--artifacts-destination", destination, "--allowed-hosts", hosts]
    args += ["--expose-prometheus", METRICS_DIR]
    if origins:
        args += ["--cors-allowed-origins", ",".join(origins)]
    return args


def backend_store_uri(database: BackendDatabase, host: str, password: str) -> str:
    """The SQLAlchemy URI of the backend store: TLS with the server's certificate verified as the cloud allows."""
    user = quote(database.user, safe="")
    address = f"{host}:{database.port}/{database.database}"
    return f"postgresql+psycopg2://{user}:{quote(password, safe='')}@{address}?{connection_options(database.tls)}"
