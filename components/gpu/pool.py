"""The cloud-neutral GPU node pool component; `eks`, `gke` and `aks` render it natively."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pulumi

from ..clouds.target import CloudTarget
from ..config.gpu import GpuPoolConfig
from ..pool_wiring import PoolWiring, wiring
from .cost import PoolCost, pool_cost, pool_offer

_ADAPTERS = {"aws": "eks", "gcp": "gke", "azure": "aks"}


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """One pool, described once for every cloud."""

    pool: GpuPoolConfig
    """The pool itself: GPU type and count, scaling, capacity, zones, labels, taints, disk, sharing."""
    cloud: CloudTarget
    """The stack's cloud; selects the adapter and the offer table, and its region the prices."""
    cluster_name: pulumi.Input[str]
    """The managed cluster the pool attaches to (unused on provider `kubernetes`)."""
    cluster_location: str | None = None
    """gcp only: the cluster's region or zone. Default: the cloud region."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags for the pool's cloud resources (azure-native has no provider default tags)."""


class GpuNodePool(pulumi.ComponentResource):
    """GPU nodes with drivers, the GPU taint, sharing and autoscaling, on EKS, GKE or AKS.

    Outputs for the workloads that use the pool: ``wiring`` (node labels, node selector,
    tolerations, GPU resource name, schedulable GPUs per node) and ``cost`` (hourly per node,
    monthly at min and max nodes). ``node_pool`` is the native resource.

    On provider `kubernetes` the pool is a node group the cluster already has: nothing is created
    (``node_pool`` is None), and the wiring is the contract those nodes must meet (its labels, taints
    and GPU resource), which ``tools.cluster.nodes`` also uses to build the local cluster's nodes.

    The cloud provider comes from ``opts`` (``pulumi.ResourceOptions(providers=[aws_provider])``): every cloud
    resource of the pool is a child of the component and inherits it.
    """

    wiring: PoolWiring
    cost: PoolCost
    node_pool: pulumi.CustomResource | None

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:compute:GpuNodePool", name, None, opts)
        cloud = args.cloud.provider
        self.wiring = wiring(args.pool, cloud)
        self.cost = pool_cost(args.pool, cloud, args.cloud.price_region)
        self.node_pool = None
        if cloud != "kubernetes":
            offer = pool_offer(args.pool, cloud)
            adapter = importlib.import_module(f"{__package__}.{_ADAPTERS[cloud]}")
            child = pulumi.ResourceOptions(parent=self)
            self.node_pool = adapter.node_pool(name, args, offer, self.wiring, child)
        self.schedulable_gpus = args.pool.max_nodes * self.wiring.schedulable_gpus_per_node
        self.register_outputs(
            {
                "node_selector": self.wiring.node_selector,
                "tolerations": self.wiring.tolerations,
                "gpu_resource": self.wiring.gpu_resource,
                "schedulable_gpus": self.schedulable_gpus,
                "hourly_cost": {
                    "min": self.cost.hourly_per_node * args.pool.min_nodes,
                    "max": self.cost.hourly_per_node * args.pool.max_nodes,
                },
            }
        )
