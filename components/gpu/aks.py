"""AKS adapter: a user agent pool on a GPU VM size, with driver installation and native MIG."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
from pulumi_azure_native import containerservice

from ..catalog.offers import InstanceOffer
from ..pool_wiring import PoolWiring

if TYPE_CHECKING:
    from .pool import GpuNodePoolArgs


def mig_instance_profile(profile: str) -> str:
    """`3g.40gb` -> `MIG3g`, the AKS GPUInstanceProfile enum."""
    return f"MIG{profile.split('.', 1)[0]}"


def node_pool(
    name: str, args: GpuNodePoolArgs, offer: InstanceOffer, wiring: PoolWiring, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """The agent pool; AKS installs the driver, the GPU operator adds the device plugin."""
    pool = args.pool
    spot = pool.capacity == "spot"
    return containerservice.AgentPool(
        f"{name}-pool",
        resource_group_name=args.cloud.resource_group or "",
        resource_name_=args.cluster_name,
        agent_pool_name=pool.name,
        vm_size=offer.instance_type,
        mode=containerservice.AgentPoolMode.USER,
        os_type=containerservice.OSType.LINUX,
        os_sku=containerservice.OSSKU.UBUNTU,
        enable_auto_scaling=True,
        count=pool.initial_nodes,
        min_count=pool.min_nodes,
        max_count=pool.max_nodes,
        scale_set_priority=containerservice.ScaleSetPriority.SPOT if spot else containerservice.ScaleSetPriority.REGULAR,
        scale_set_eviction_policy=containerservice.ScaleSetEvictionPolicy.DELETE if spot else None,
        spot_max_price=-1 if spot else None,  # pay up to the on-demand price, never be evicted on price
        node_taints=[f"{t.key}={t.value}:{t.effect}" for t in pool.taints],
        node_labels=wiring.node_labels,
        gpu_profile=containerservice.GPUProfileArgs(driver=containerservice.GPUDriver.INSTALL),
        gpu_instance_profile=mig_instance_profile(pool.sharing.profile) if pool.sharing.mode == "mig" and pool.sharing.profile else None,
        availability_zones=pool.zones or None,
        os_disk_size_gb=pool.disk_gb,
        os_disk_type=containerservice.OSDiskType.MANAGED,
        upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge="1"),
        tags={**args.tags, "gpu-pool": pool.name},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["count"])),
    )
