"""The local cluster's fake nodes, made from a stack's own GPU pools.

Each GPU pool gets ``max_nodes`` nodes carrying exactly what the pool's wiring
(``components.pool_wiring``) says its nodes carry: the labels, the taints and the GPU resource after
sharing. They are spread over the pool's zones. CPU nodes, untainted, hold everything that asks for
no GPU. kwok plays their kubelets (``FAKE_NODE_ANNOTATION``).
"""

from __future__ import annotations

from typing import Any

from mlops_platform.config.platform import PlatformConfig
from mlops_platform.pool_wiring import wiring

from .controlplane import FAKE_NODE_ANNOTATION

ZONE_LABEL = "topology.kubernetes.io/zone"
CPU_POOL_LABEL = "mlops.platform/cpu-pool"
DEFAULT_ZONES = ("local-a", "local-b")
"""Zones of a pool that names none, and of the CPU nodes."""
GPU_NODE = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "200Gi"}
CPU_NODE = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def _node(name: str, labels: dict[str, str], taints: list[dict[str, str]], capacity: dict[str, str]) -> dict[str, Any]:
    key, value = FAKE_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
                **labels,
            },
        },
        "spec": {"taints": taints} if taints else {},
        "status": {
            "allocatable": capacity,
            "capacity": capacity,
            "phase": "Running",
        },
    }


def fake_nodes(cfg: PlatformConfig, cpu_nodes: int = 3) -> list[dict[str, Any]]:
    """Node objects for every GPU pool of ``cfg`` (at its maximum size) and ``cpu_nodes`` CPU nodes."""
    nodes = []
    for pool in cfg.gpu_pools:
        wired = wiring(pool, cfg.cloud.provider)
        zones = pool.zones or list(DEFAULT_ZONES)
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints]
        capacity = {**GPU_NODE, wired.gpu_resource: str(wired.schedulable_gpus_per_node)}
        for i in range(pool.max_nodes):
            labels = {**wired.node_labels, ZONE_LABEL: zones[i % len(zones)]}
            nodes.append(_node(f"{pool.name}-{i}", labels, taints, capacity))
    for i in range(cpu_nodes):
        labels = {CPU_POOL_LABEL: "general", ZONE_LABEL: DEFAULT_ZONES[i % len(DEFAULT_ZONES)]}
        nodes.append(_node(f"cpu-{i}", labels, [], dict(CPU_NODE)))
    return nodes
