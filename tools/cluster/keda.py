"""KEDA's operator and metrics API server, run out of cluster against the local control plane.

What KEDA's chart would install, made for processes on this machine:
- the `keda` namespace (the operator's cluster object namespace) and KEDA's CRDs from the pinned module;
- `v1beta1.external.metrics.k8s.io`, served by the metrics API server on ``localhost``: the APIService
  names an ExternalName Service `keda-metrics-apiserver` whose name is `localhost`, which the
  aggregator resolves to that host and the APIService's port (an Endpoints object may not hold a
  loopback address);
- read access to external metrics for the HPA controller's service account, as the chart grants it
  (KEDA itself runs as a cluster admin, `keda-operator`: the chart's own ClusterRoles are not installed);
- one certificate for the operator's gRPC metrics service and the metrics API server, which
  authenticate each other with it (mTLS) and serve with it on 127.0.0.1 and localhost, under the
  Service's name too, which is the name the aggregator verifies.

Both processes are recorded with the control plane's and stopped with them. The metrics API server
also serves its own Prometheus metrics, on all interfaces (its `--port` takes no address); the port is
picked free and nothing connects to it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tools.crd_schemas import crd_documents

from .controlplane import LOCAL_SANS, ControlPlane, _free_port, issue

NAMESPACE = "keda"
METRICS_SERVICE = "keda-metrics-apiserver"
KINDS = {("keda.sh", kind) for kind in ("ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication")} | {
    ("eventing.keda.sh", kind) for kind in ("CloudEventSource", "ClusterCloudEventSource")
}
"""Every CRD of KEDA's release: the operator watches them all."""


def _objects(ca: bytes, port: int) -> list[dict[str, Any]]:
    reader = "keda-external-metrics-reader"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": METRICS_SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"name": "https", "port": port}]},
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {"namespace": NAMESPACE, "name": METRICS_SERVICE, "port": port},
                "caBundle": base64.b64encode(ca).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": reader},
            "rules": [{"apiGroups": ["external.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": reader},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader},
            "subjects": [{"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}],
        },
    ]


def start_keda(plane: ControlPlane, bin_dir: Path, timeout: float = 120.0) -> None:
    """Install what KEDA needs in the cluster, start its operator and metrics API server, and wait for the API."""
    certs = plane.state / "keda-certs"
    if certs.exists():
        shutil.rmtree(certs)
    certs.mkdir()
    # the aggregator checks the name of the APIService's Service (`<service>.<namespace>.svc`), whatever host it dials
    sans = f"{LOCAL_SANS},DNS:{METRICS_SERVICE}.{NAMESPACE}.svc"
    issue(plane.pki, "keda", "/CN=keda", f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth")
    shutil.copy(plane.pki / "ca.crt", certs / "ca.crt")
    shutil.copy(plane.pki / "keda.crt", certs / "tls.crt")
    shutil.copy(plane.pki / "keda.key", certs / "tls.key")
    ports = {name: _free_port() for name in ("grpc", "api", "operator-metrics", "operator-health", "adapter-metrics")}
    plane.apply([*crd_documents(KINDS), *_objects((plane.pki / "ca.crt").read_bytes(), ports["api"])])
    kubeconfig = str(plane.state / "kubeconfigs" / "keda-operator.yaml")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(plane.state),
        "POD_NAMESPACE": NAMESPACE,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
        "WATCH_NAMESPACE": "",
        "KUBECONFIG": kubeconfig,
    }
    plane.spawn(
        "keda-operator",
        bin_dir / "keda-operator",
        [
            f"--kubeconfig={kubeconfig}",
            f"--metrics-bind-address=127.0.0.1:{ports['operator-metrics']}",
            f"--health-probe-bind-address=127.0.0.1:{ports['operator-health']}",
            f"--metrics-service-bind-address=127.0.0.1:{ports['grpc']}",
            f"--cert-dir={certs}",
            "--enable-cert-rotation=false",
            "--enable-webhook-patching=false",
            "--leader-elect=false",
            "--zap-log-level=info",
        ],
        env,
    )
    plane.spawn(
        "keda-adapter",
        bin_dir / "keda-adapter",
        [
            f"--lister-kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['api']}",
            f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'tls.crt'}",
            f"--tls-private-key-file={certs / 'tls.key'}",
            f"--metrics-service-address=127.0.0.1:{ports['grpc']}",
            f"--port={ports['adapter-metrics']}",
        ],
        env,
    )
    plane.wait(lambda: _api_available(plane), "keda-adapter", timeout)


def _api_available(plane: ControlPlane) -> bool:
    done = plane.kubectl("get", "apiservice", "v1beta1.external.metrics.k8s.io", "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
