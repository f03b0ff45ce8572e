"""What a GPU pool tells the workloads that run on it: labels, taints, tolerations, selectors.

Computed from the cloud-neutral pool config alone, so Triton, monitoring and the GPU operator
use the same strings as the pool itself instead of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config.gpu import GPU_TAINT_KEY, GpuPoolConfig

POOL_LABEL = "mlops.platform/gpu-pool"
GPU_TYPE_LABEL = "mlops.platform/gpu-type"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
GPU_RESOURCE = "nvidia.com/gpu"
EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
"""Kubernetes taint effects in the spelling of the EKS and GKE APIs."""
AKS_SPOT_TAINT = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
"""AKS adds this taint to every spot node pool by itself; workloads must tolerate it."""


@dataclass(frozen=True)
class PoolWiring:
    """The scheduling contract of one pool."""

    node_labels: dict[str, str]
    """The labels every node of the pool carries."""
    node_selector: dict[str, str]
    """What a pod selects the pool's nodes by."""
    tolerations: list[dict[str, str]]
    """What a pod tolerates to run there (the pool's GPU taint and its own taints)."""
    gpu_resource: str
    """The extended resource a pod requests its GPUs as (`nvidia.com/gpu`; MIG slices too, with the `single` strategy)."""
    schedulable_gpus_per_node: int
    """GPU resources a node advertises once sharing is applied: GPUs times the time-slicing or MPS replicas, or times
    the MIG slices per GPU."""


def sharing_via_operator(pool: GpuPoolConfig, cloud: str) -> bool:
    """Whether the GPU operator's device plugin config implements the pool's time-slicing or MPS.

    GKE implements both natively on the node pool; EKS and AKS rely on the operator.
    """
    return cloud != "gcp" and pool.sharing.mode in ("time_slicing", "mps")


def mig_via_operator(pool: GpuPoolConfig, cloud: str) -> bool:
    """Whether the operator's MIG manager partitions the GPUs (EKS); GKE and AKS partition natively."""
    return cloud == "aws" and pool.sharing.mode == "mig"


def wiring(pool: GpuPoolConfig, cloud: str) -> PoolWiring:
    """The labels a pool's nodes carry and what a workload needs to land on them."""
    labels = {**pool.labels, POOL_LABEL: pool.name, GPU_TYPE_LABEL: pool.gpu_type}
    if cloud != "gcp":
        labels["nvidia.com/gpu.present"] = "true"
    if sharing_via_operator(pool, cloud):
        labels[DEVICE_PLUGIN_CONFIG_LABEL] = pool.name
    if mig_via_operator(pool, cloud):
        labels[MIG_CONFIG_LABEL] = f"all-{pool.sharing.profile}"
    tolerations = [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in pool.taints]
    if cloud == "gcp" and not any(t.key == GPU_TAINT_KEY for t in pool.taints):
        # GKE taints every GPU node nvidia.com/gpu=present:NoSchedule by itself
        tolerations.append({"key": GPU_TAINT_KEY, "operator": "Equal", "value": "present", "effect": "NoSchedule"})
    if cloud == "azure" and pool.capacity == "spot":
        tolerations.append(dict(AKS_SPOT_TAINT))
    return PoolWiring(
        node_labels=labels,
        node_selector={POOL_LABEL: pool.name},
        tolerations=tolerations,
        gpu_resource=GPU_RESOURCE,
        schedulable_gpus_per_node=pool.schedulable_gpus_per_node,
    )
