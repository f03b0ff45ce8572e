"""What a stack needs in the local cluster before `pulumi up`: nodes, CRDs and the namespaces it does not own.

- the fake nodes of its GPU pools and CPU nodes (``nodes.fake_nodes``);
- the CRDs of every custom resource it declares, from the pinned modules (``tools.crd_schemas``);
- with ``monitoring.install: false``, the existing installation's namespace, which the stack's
  rules, ServiceMonitors and Pushgateway go into but never creates.
"""

from __future__ import annotations

import json
import time
from typing import Any

from components.config.platform import PlatformConfig
from tools.crd_schemas import crd_documents, group_of, is_custom
from tools.synthesis import Synthesis

from .controlplane import ControlPlane, ControlPlaneError
from .nodes import fake_nodes

STAND_IN_LABEL = "mlops.platform/stand-in"
"""Marks what the local cluster creates in place of what a real cluster already has."""


def custom_kinds(result: Synthesis) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource the stack declares."""
    return {(group_of(m["apiVersion"]), m["kind"]) for m in result.manifests() if is_custom(m)}


def existing_namespaces(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """Namespaces the stack deploys into without owning them."""
    names = []
    if cfg.monitoring.enabled and not cfg.monitoring.install:
        names.append(cfg.namespaces.monitoring)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {STAND_IN_LABEL: "existing-installation"}}}
        for name in names
    ]


def prepare(plane: ControlPlane, result: Synthesis, timeout: float = 60.0) -> dict[str, int]:
    """Create the stack's nodes, CRDs and existing namespaces; wait for Ready nodes and Established CRDs."""
    cfg = result.config
    nodes = fake_nodes(cfg)
    crds = crd_documents(custom_kinds(result))
    apply(plane, [*crds, *existing_namespaces(cfg), *nodes])
    names = [crd["metadata"]["name"] for crd in crds]
    if names:
        plane.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *(f"crd/{n}" for n in names))
    wait_until_ready(plane, [n["metadata"]["name"] for n in nodes], timeout)
    return {"nodes": len(nodes), "crds": len(crds)}


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


def apply(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    """Server-side apply, as the field manager of the local cluster's set-up."""
    if objects:
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        plane.kubectl("apply", "--server-side", "--field-manager=mlops-local-cluster", "-f", "-", input=document)
