"""Policy configuration: schemas with defaults, reading them defensively, and the violation message format.

Every policy declares its properties in a ``PolicyConfigSchema`` whose ``default`` values are also
the values used when a property is missing: a direct call gets exactly the dict passed (often
``{}``), while the engine passes what the pack config file sets. Defaults are the strict
(production) settings; the per-environment files in ``policies/config/`` relax them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy

from . import wire

AnyPolicy = ResourceValidationPolicy | StackValidationPolicy
"""A policy of either kind, as the pack lists them."""

ENVIRONMENTS = ("dev", "staging", "canary", "prod")
"""The environments a pack config file exists for (``policies/config/<environment>.json``)."""

HOURS_PER_MONTH = 730.0
"""Hours in the average month (8760 / 12), the convention cloud price lists use."""


def schema(**properties: dict[str, Any]) -> PolicyConfigSchema:
    """A config schema; every property must carry its ``default``."""
    for name, spec in properties.items():
        if "default" not in spec:
            raise ValueError(f"config property {name!r} needs a default")
    return PolicyConfigSchema(properties=dict(properties))


def budget_properties(threshold_percent: float) -> dict[str, dict[str, Any]]:
    """Config properties of the budget policies."""
    return {
        "monthlyBudgetUsd": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "The stack's monthly GPU budget in USD (budget.gpu_monthly_usd); 0 means not configured.",
        },
        "thresholdPercent": {
            "type": "number",
            "minimum": 0,
            "default": threshold_percent,
            "description": "Report when the estimate exceeds this share of the budget, in percent.",
        },
        "hoursPerMonth": {"type": "number", "minimum": 1, "default": HOURS_PER_MONTH, "description": "Hours billed per month."},
        "cloud": {"type": "string", "default": "", "description": "The stack's cloud (aws, gcp, azure, kubernetes), shown in messages."},
        "region": {
            "type": "string",
            "default": "",
            "description": "The stack's region (cloud.region), whose list prices the estimate uses; empty: the cloud's reference region.",
        },
    }


def settings(args: ResourceValidationArgs | StackValidationArgs, config_schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The policy's config: schema defaults overlaid with what the engine or a direct call passed."""
    values: dict[str, Any] = {}
    if config_schema is not None:
        values = {name: spec.get("default") for name, spec in config_schema.properties.items()}
    given = args.get_config()
    if isinstance(given, Mapping):
        values.update({k: v for k, v in given.items() if k != "enforcementLevel" and v is not None})
    return values


def setting_number(values: Mapping[str, Any], key: str, default: float) -> float:
    """A numeric setting (the engine passes numbers as floats, files may hold strings)."""
    found = wire.number(values.get(key))
    return default if found is None else found


def setting_flag(values: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean setting."""
    found = wire.flag(values.get(key))
    return default if found is None else found


def setting_strings(values: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    """A list-of-strings setting."""
    raw = values.get(key)
    found = [str(v) for v in wire.items(raw)] if raw is not None else None
    return default if found is None else found


def setting_text(values: Mapping[str, Any], key: str, default: str) -> str:
    """A string setting."""
    raw = values.get(key)
    return raw if isinstance(raw, str) else default


PROTECT_STATEFUL = "guardrails.protect_stateful: true (the default in canary and prod)"
"""The stack setting that protects stateful resources, for every policy whose fix is protection."""


def message(subject: str, problem: str, fix: str, stack_config: str | None = None) -> str:
    """The violation format: what is wrong, where, and how to fix it; ``stack_config`` names the setting of this
    project's stack files that makes the fix, for a stack user who does not write the program."""
    text = f"{subject}: {problem}. Fix: {fix}"
    return f"{text}; in a stack file of this project: {stack_config}" if stack_config else text
