"""What a stack needs in the local cluster before `pulumi up`: nodes, CRDs and the namespaces it does not own.

- the fake nodes of its GPU pools and CPU nodes (``nodes.fake_nodes``);
- the CRDs of every custom resource it declares, from the pinned modules (``tools.crd_schemas``);
- with ``monitoring.install: false``, the existing installation's namespace, which the stack's
  rules, ServiceMonitors and Pushgateway go into but never creates;
- on provider `kubernetes`, the model store's credentials Secret (``cloud.s3_credentials_secret``) in the
  serving namespace, as the README asks for it: annotated out of Flagger's config tracking;
- with ``serving.keda.install: false`` and ScaledObjects to run, the cluster's KEDA (``keda.py``, out of
  cluster) and, where the triggers query a loopback Prometheus, that Prometheus (``prometheus.py``).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from mlops_platform.config.platform import PlatformConfig
from tools.crd_schemas import crd_documents, group_of, is_custom
from tools.synthesis import Synthesis

from .controlplane import ControlPlane, ControlPlaneError
from .keda import start_keda
from .nodes import fake_nodes
from .prometheus import LOOPBACK, start_prometheus

STAND_IN_LABEL = "mlops.platform/stand-in"
"""Marks what the local cluster creates in place of what a real cluster already has."""
FLAGGER_TRACKING = "flagger.app/config-tracking"
"""Flagger copies every ConfigMap and Secret a released Deployment reads to `<name>-primary`, unless annotated `disabled`."""


def custom_kinds(manifests: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource among the stack's manifests."""
    return {(group_of(m["apiVersion"]), m["kind"]) for m in manifests if is_custom(m)}


def existing_namespaces(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """Namespaces the stack deploys into without owning them."""
    names = []
    if cfg.monitoring.enabled and not cfg.monitoring.install:
        names.append(cfg.namespaces.monitoring)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {STAND_IN_LABEL: "existing-installation"}}}
        for name in names
    ]


def existing_secrets(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """The credentials Secret the models' pods read on provider `kubernetes`, with stand-in keys (nothing reads them:
    kwok runs no container). Its namespace is the stack's, so it is created once `pulumi up` made the namespace."""
    name = cfg.cloud.s3_credentials_secret if cfg.cloud.provider == "kubernetes" else None
    if not name or not cfg.models:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": cfg.namespaces.serving,
                "labels": {STAND_IN_LABEL: "existing-secret"},
                "annotations": {FLAGGER_TRACKING: "disabled"},
            },
            "stringData": {"AWS_ACCESS_KEY_ID": "stand-in", "AWS_SECRET_ACCESS_KEY": "stand-in"},
        }
    ]


def prepare(plane: ControlPlane, result: Synthesis, timeout: float = 60.0) -> dict[str, int]:
    """Create the stack's nodes, CRDs and existing namespaces, and start its KEDA and Prometheus;
    wait for Ready nodes, Established CRDs and the external metrics API."""
    cfg = result.config
    manifests = result.manifests()
    nodes = fake_nodes(cfg)
    crds = crd_documents(custom_kinds(manifests))
    plane.apply([*crds, *existing_namespaces(cfg), *nodes])
    names = [crd["metadata"]["name"] for crd in crds]
    if names:
        plane.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *(f"crd/{n}" for n in names))
    wait_until_ready(plane, [n["metadata"]["name"] for n in nodes], timeout)
    scales = any(m["kind"] == "ScaledObject" for m in manifests)
    keda = cfg.serving.keda
    if scales and not keda.install:
        url = keda.prometheus_url
        if url is not None and urlsplit(url).hostname in LOOPBACK:
            start_prometheus(plane, url)
        start_keda(plane, plane.bin)
    return {"nodes": len(nodes), "crds": len(crds), "keda": int(scales and not keda.install)}


def wait_until_ready(plane: ControlPlane, names: list[str], timeout: float = 60.0) -> None:
    """Wait for kwok to report the named nodes Ready."""
    deadline = time.monotonic() + timeout
    while True:
        listed = json.loads(plane.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        ready = {
            n["metadata"]["name"]
            for n in listed
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        }
        if set(names) <= ready:
            return
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"nodes not Ready after {timeout:.0f}s: {sorted(set(names) - ready)}")
        time.sleep(0.5)
