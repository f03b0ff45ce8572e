"""What a GPU pool costs, from the offer table: per node, at min and at max nodes, at the stack region's list price
where the regional table has it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..catalog.offers import PRICES_AS_OF, REFERENCE_REGIONS, InstanceOffer, node_price, offer_for
from ..catalog.regional_prices import READ_ON, SOURCES
from ..config.gpu import GpuPoolConfig
from ..config.serving import ModelConfig

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class PoolCost:
    """Hourly and monthly USD of one pool, at the list price of ``price_region``."""

    pool: str
    instance_type: str
    capacity: str
    hourly_per_node: float
    price_basis: str
    """`on_demand`, `spot`, or `on_demand (no spot figure)` when the table has no spot price."""
    min_nodes: int
    max_nodes: int
    price_region: str | None = None
    """The region whose list price this is: the stack's, or the cloud's reference region where the regional table has
    no figure for the stack's region (``price_fallback``); None on provider `kubernetes`."""
    price_fallback: bool = False
    """True when the stack's region has no figure in the regional table and the reference region's price is used."""

    def monthly_at(self, nodes: int) -> float:
        """USD per month of ``nodes`` of the pool's instance."""
        return round(self.hourly_per_node * nodes * HOURS_PER_MONTH, 2)

    @property
    def monthly_at_min(self) -> float:
        return self.monthly_at(self.min_nodes)

    @property
    def monthly_at_max(self) -> float:
        return self.monthly_at(self.max_nodes)

    def as_dict(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "instance_type": self.instance_type,
            "capacity": self.capacity,
            "price_basis": self.price_basis,
            "price_region": self.price_region,
            "hourly_per_node_usd": self.hourly_per_node,
            "min_nodes": self.min_nodes,
            "max_nodes": self.max_nodes,
            "monthly_at_min_usd": self.monthly_at_min,
            "monthly_at_max_usd": self.monthly_at_max,
        }


def pool_offer(pool: GpuPoolConfig, cloud: str) -> InstanceOffer:
    """The instance a pool's nodes run on; validation guarantees one exists."""
    offer = offer_for(cloud, pool.gpu_type, pool.gpus_per_node)
    if offer is None:
        raise ValueError(f"no {cloud} offer of {pool.gpus_per_node} x {pool.gpu_type}")
    return offer


EXISTING_NODES = "existing nodes"
"""The instance type of a pool on provider `kubernetes`: nodes the cluster already has, bought outside the stack."""


def pool_cost(pool: GpuPoolConfig, cloud: str, region: str | None = None) -> PoolCost:
    """The pool's cost at the list price of ``region`` (the stack's; default and fallback: the cloud's reference
    region); spot pools use the spot figure where the table has one.

    On provider `kubernetes` the pool is nodes the cluster already has: the stack bills nothing for them.
    """
    if cloud == "kubernetes":
        return PoolCost(pool.name, EXISTING_NODES, pool.capacity, 0.0, "not billed by this stack", pool.min_nodes, pool.max_nodes)
    offer = pool_offer(pool, cloud)
    price = node_price(cloud, offer.instance_type, region)
    if price is None:  # pool_offer found it in the same table
        raise ValueError(f"no {cloud} price for {offer.instance_type}")
    if pool.capacity == "spot" and price.spot_hourly_usd is not None:
        hourly, basis = price.spot_hourly_usd, "spot"
    elif pool.capacity == "spot":
        hourly, basis = price.on_demand_hourly_usd, "on_demand (no spot figure)"
    else:
        hourly, basis = price.on_demand_hourly_usd, "on_demand"
    return PoolCost(
        pool.name, offer.instance_type, pool.capacity, hourly, basis, pool.min_nodes, pool.max_nodes, price.region, price.fallback
    )


def idle_nodes(pool: GpuPoolConfig, models: Sequence[ModelConfig]) -> int:
    """Nodes the pool keeps when every model on it sits at its minimum, at least ``min_nodes``.

    A model that scales to zero holds no GPU when idle, so it counts 0 here; between releases Flagger
    keeps the candidate Deployment at zero replicas. GPUs are summed per pool (no bin-packing loss), so
    this is a lower bound.
    """
    gpus = 0
    for model in models:
        if model.gpu_pool != pool.name:
            continue
        gpus += model.gpus_per_replica * model.replicas.min
    return max(pool.min_nodes, math.ceil(gpus / pool.schedulable_gpus_per_node))


def price_reference(cloud: str, region: str | None = None, fallback: Sequence[str] = ()) -> str:
    """Where and when the prices were read and which region's they are, for reports.

    ``fallback`` names the rows (pools, endpoints) priced at the reference region because the regional table has no
    figure for them in ``region``.
    """
    if cloud not in REFERENCE_REGIONS:
        return f"no cloud prices: provider '{cloud}' creates no billed cloud resources"
    reference = REFERENCE_REGIONS[cloud]
    at_reference = f"{reference} list prices as of {PRICES_AS_OF} (components/catalog/offers.py)"
    if not region or region == reference:
        return at_reference
    _, _, commit = SOURCES[cloud]
    regional = (
        f"{region} list prices from skypilot-org/skypilot-catalog @{commit[:8]}, read {READ_ON} (components/catalog/regional_prices.py)"
    )
    if not fallback:
        return regional
    return f"{regional}; {at_reference} for {', '.join(fallback)}, which the regional table does not price in {region}"
