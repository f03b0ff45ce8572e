"""What a managed endpoint costs, from the endpoint offer tables: per instance, at min and at max instances.

A serverless endpoint has no instances: it bills per second of invocation. Its "instances" are concurrent
invocations, 0 when idle and at most `serverless.max_concurrency`, so the same min/max figures bound its compute cost
(data processed is billed per GB on top and is not estimated).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.offers import PRICES_AS_OF, REFERENCE_REGIONS, endpoint_offer, endpoint_price, serverless_offer
from ..catalog.regional_prices import READ_ON, SOURCES
from ..config.endpoints import ManagedEndpointConfig

HOURS_PER_MONTH = 730
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class EndpointCost:
    """Hourly and monthly USD of one endpoint (live version plus candidates), at the list price of ``price_region``."""

    endpoint: str
    cloud: str
    instance_type: str | None
    """None for serverless endpoints."""
    hourly_per_instance: float
    """USD per instance-hour; for serverless, per hour of one invocation running (at the configured memory)."""
    min_instances: int
    """Instances at min; 0 for serverless (idle costs nothing)."""
    max_instances: int
    """Instances at max; for serverless, the maximum concurrent invocations."""
    candidate_instances: int
    """Instances of the canary and shadow versions, always on."""
    price_source: str
    serverless_memory_mb: int | None = None
    data_per_gb: float | None = None
    """Serverless only: USD per GB processed, billed on top of compute and not estimated."""
    price_region: str | None = None
    """The region whose list price this is: the stack's where the regional table prices the instance there (Azure ML),
    otherwise the cloud's reference region."""
    price_fallback: bool = False
    """True when the stack's region is not the reference region and the reference region's price is used."""

    @property
    def monthly_at_min(self) -> float:
        return round(self.hourly_per_instance * (self.min_instances + self.candidate_instances) * HOURS_PER_MONTH, 2)

    @property
    def monthly_at_max(self) -> float:
        return round(self.hourly_per_instance * (self.max_instances + self.candidate_instances) * HOURS_PER_MONTH, 2)

    @property
    def price_basis(self) -> str:
        if self.serverless_memory_mb is None:
            return "on_demand"
        return (
            f"serverless {self.serverless_memory_mb} MB: per invocation-second, idle free; +${self.data_per_gb}/GB processed, not estimated"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "cloud": self.cloud,
            "instance_type": self.instance_type or f"serverless-{self.serverless_memory_mb}mb",
            "price_basis": self.price_basis,
            "price_region": self.price_region,
            "hourly_per_instance_usd": self.hourly_per_instance,
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "candidate_instances": self.candidate_instances,
            "monthly_at_min_usd": self.monthly_at_min,
            "monthly_at_max_usd": self.monthly_at_max,
            "price_source": self.price_source,
        }


def endpoint_cost(cfg: ManagedEndpointConfig, cloud: str, region: str | None = None) -> EndpointCost:
    """The endpoint's cost at the list price of ``region`` (the stack's) where the tables have one, otherwise of the
    cloud's reference region; validation guarantees the instance type (or serverless memory size) has a price row."""
    reference = REFERENCE_REGIONS[cloud]
    elsewhere = bool(region) and region != reference
    if cfg.serverless is not None:
        serverless = serverless_offer(cloud, cfg.serverless.memory_mb)
        if serverless is None:
            raise ValueError(f"no {cloud} serverless price for {cfg.serverless.memory_mb} MB")
        return EndpointCost(
            cfg.name,
            cloud,
            None,
            round(serverless.per_second_usd * SECONDS_PER_HOUR, 4),
            0,
            cfg.serverless.max_concurrency,
            0,
            f"{reference} list price as of {PRICES_AS_OF}: {serverless.source}",
            serverless_memory_mb=cfg.serverless.memory_mb,
            data_per_gb=serverless.data_per_gb_usd,
            price_region=reference,
            price_fallback=elsewhere,
        )
    offer = endpoint_offer(cloud, cfg.instance_type or "")
    found = endpoint_price(cloud, cfg.instance_type or "", region)
    if offer is None or found is None:
        raise ValueError(f"no {cloud} endpoint price for {cfg.instance_type}")
    hourly, price_region, fallback = found
    if price_region == reference:
        source = f"{reference} list price as of {PRICES_AS_OF}: {offer.source}"
    else:
        commit = SOURCES[cloud][2]
        source = (
            f"{price_region} list price: Azure ML bills the VM price, {cfg.instance_type} in {price_region} from "
            f"skypilot-org/skypilot-catalog {SOURCES[cloud][1]} @{commit[:8]}, read {READ_ON}"
        )
    return EndpointCost(
        cfg.name,
        cloud,
        cfg.instance_type,
        hourly,
        cfg.instances.min,
        cfg.instances.max,
        sum(c.instances for c in cfg.candidates.values()),
        source,
        price_region=price_region,
        price_fallback=fallback,
    )
