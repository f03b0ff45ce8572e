"""Guardrails: rules an environment enforces on the rest of the configuration."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from .base import StrictModel

_RELAXED: dict[str, Any] = {
    "allow_spot": True,
    "protect_stateful": False,
    "require_image_digest": False,
    "require_auth": False,
    "min_replicas": 1,
    "require_ha_database": False,
    "allow_scale_to_zero": True,
}
_STRICT: dict[str, Any] = {
    "allow_spot": False,
    "protect_stateful": True,
    "require_image_digest": True,
    "require_auth": True,
    "min_replicas": 2,
    "require_ha_database": True,
    "allow_scale_to_zero": False,
}
GUARDRAIL_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": _RELAXED,
    "staging": {**_RELAXED, "require_auth": True, "allow_scale_to_zero": False},
    "canary": _STRICT,
    "prod": _STRICT,
}
"""Guardrail defaults per environment: relaxed where mistakes are cheap, strict where users are."""


class Guardrails(StrictModel):
    """Rules the environment enforces on everything else; defaults depend on `environment`.

    Set a field only to deviate from the environment's default, e.g. a canary that may use spot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, json_schema_extra={"default_from": "environment"})

    allow_spot: bool = Field(
        description="Spot capacity allowed for pools that serve models. Default: true in dev and staging, false in canary and prod."
    )
    protect_stateful: bool = Field(
        description="Databases and buckets get `protect` and deletion protection. Default: true in canary and prod."
    )
    require_image_digest: bool = Field(description="Container images must be pinned by digest. Default: true in canary and prod.")
    require_auth: bool = Field(description="Every user-facing endpoint must authenticate. Default: true outside dev.")
    min_replicas: int = Field(
        ge=1, le=10, description="Minimum replicas of every serving and tracking workload. Default: 2 in canary and prod, else 1."
    )
    require_ha_database: bool = Field(description="The MLflow database must have a standby. Default: true in canary and prod.")
    allow_scale_to_zero: bool = Field(
        description="Models may set `replicas.min: 0` and scale to zero outside their active hours. Default: true in dev only."
    )
