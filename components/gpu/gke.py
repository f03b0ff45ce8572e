"""GKE adapter: a node pool with guest accelerators, driver installation and native GPU sharing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from ..catalog.offers import InstanceOffer
from ..config.gpu import GPU_TAINT_KEY
from ..identity.names import gcp_account_id
from ..pool_wiring import EFFECTS, PoolWiring

if TYPE_CHECKING:
    from .pool import GpuNodePoolArgs

SHARING_STRATEGIES = {"time_slicing": "TIME_SHARING", "mps": "MPS"}
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer", "roles/artifactregistry.reader")
"""The least a GKE node's service account needs (instead of the default compute account's Editor)."""


def node_pool(
    name: str, args: GpuNodePoolArgs, offer: InstanceOffer, wiring: PoolWiring, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """A dedicated node service account and the node pool."""
    pool = args.pool
    project = args.cloud.project
    account = gcp.serviceaccount.Account(
        f"{name}-nodes",
        account_id=pulumi.Output.from_input(args.cluster_name).apply(lambda cluster: gcp_account_id("gpu", pool.name, cluster)),
        display_name=f"GKE GPU pool {pool.name}",
        project=project,
        opts=opts,
    )
    for role in NODE_ROLES:
        gcp.projects.IAMMember(
            f"{name}-{role.split('/')[1].lower()}",
            project=project or "",
            role=role,
            member=account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=opts,
        )
    accelerator = gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
        type=offer.accelerator,
        count=pool.gpus_per_node,
        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
            gpu_driver_version=(pool.gke_gpu_driver or "default").upper()
        ),
        gpu_partition_size=pool.sharing.profile if pool.sharing.mode == "mig" else None,
        gpu_sharing_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
            gpu_sharing_strategy=SHARING_STRATEGIES[pool.sharing.mode], max_shared_clients_per_gpu=pool.sharing.replicas or 2
        )
        if pool.sharing.mode in SHARING_STRATEGIES
        else None,
    )
    # GKE adds nvidia.com/gpu=present:NoSchedule to GPU nodes itself; declaring it again is refused.
    taints = [
        gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=EFFECTS[t.effect])
        for t in pool.taints
        if t.key != GPU_TAINT_KEY
    ]
    zones = len(pool.zones) or 1
    return gcp.container.NodePool(
        f"{name}-np",
        cluster=args.cluster_name,
        location=args.cluster_location or args.cloud.region,
        project=project,
        node_locations=pool.zones or None,
        initial_node_count=math.ceil(pool.initial_nodes / zones),  # per zone
        autoscaling=gcp.container.NodePoolAutoscalingArgs(
            total_min_node_count=pool.min_nodes,
            total_max_node_count=pool.max_nodes,
            location_policy="ANY" if pool.capacity == "spot" else "BALANCED",
        ),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1, max_unavailable=0),
        node_config=gcp.container.NodePoolNodeConfigArgs(
            machine_type=offer.instance_type,
            guest_accelerators=[accelerator],
            spot=pool.capacity == "spot",
            disk_size_gb=pool.disk_gb,
            disk_type="pd-balanced",
            image_type="COS_CONTAINERD",
            labels=wiring.node_labels,
            resource_labels={**args.tags, "gpu-pool": pool.name},
            taints=taints,
            service_account=account.email,
            oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
            workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_integrity_monitoring=True
            ),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
    )
