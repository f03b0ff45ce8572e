"""What a managed endpoint costs, from the endpoint offer table: per instance, at min and at max instances."""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.offers import PRICES_AS_OF, REFERENCE_REGIONS, endpoint_offer
from ..config.endpoints import ManagedEndpointConfig

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class EndpointCost:
    """Hourly and monthly USD of one endpoint (live version plus candidates), in the cloud's reference region."""

    endpoint: str
    cloud: str
    instance_type: str | None
    hourly_per_instance: float | None
    """None for serverless endpoints, which bill per request and are not estimated."""
    min_instances: int
    max_instances: int
    candidate_instances: int
    """Instances of the canary and shadow versions, always on."""
    price_source: str

    @property
    def monthly_at_min(self) -> float:
        if self.hourly_per_instance is None:
            return 0.0
        return round(self.hourly_per_instance * (self.min_instances + self.candidate_instances) * HOURS_PER_MONTH, 2)

    @property
    def monthly_at_max(self) -> float:
        if self.hourly_per_instance is None:
            return 0.0
        return round(self.hourly_per_instance * (self.max_instances + self.candidate_instances) * HOURS_PER_MONTH, 2)

    def as_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "cloud": self.cloud,
            "instance_type": self.instance_type or "serverless",
            "price_basis": "on_demand" if self.hourly_per_instance is not None else "serverless: billed per request, not estimated",
            "hourly_per_instance_usd": self.hourly_per_instance,
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "candidate_instances": self.candidate_instances,
            "monthly_at_min_usd": self.monthly_at_min,
            "monthly_at_max_usd": self.monthly_at_max,
            "price_source": self.price_source,
        }


def endpoint_cost(cfg: ManagedEndpointConfig, cloud: str) -> EndpointCost:
    """The endpoint's cost; validation guarantees the instance type has a price row."""
    candidates = sum(c.instances for c in cfg.candidates.values())
    if cfg.instance_type is None:
        return EndpointCost(cfg.name, cloud, None, None, 0, 0, 0, "serverless inference bills per request; not in the offer table")
    offer = endpoint_offer(cloud, cfg.instance_type)
    if offer is None:
        raise ValueError(f"no {cloud} endpoint price for {cfg.instance_type}")
    return EndpointCost(
        cfg.name,
        cloud,
        cfg.instance_type,
        offer.hourly_usd,
        cfg.instances.min,
        cfg.instances.max,
        candidates,
        f"{REFERENCE_REGIONS[cloud]} list price as of {PRICES_AS_OF}: {offer.source}",
    )
