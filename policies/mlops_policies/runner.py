"""Run the pack offline over recorded resources, the way `pulumi preview --policy-pack policies` would.

The records are those ``tools.synthesis`` writes (``build/synth/<stack>/resources.json``): wire
(camelCase) inputs, the parent and provider URNs, and ``protect``. No Pulumi engine is involved:
each record becomes a ``ResourceValidationArgs``/``PolicyResource`` and every policy's ``validate``
is called directly, with the enforcement level and config the pack config assigns it.

    python -m policies.mlops_policies.runner prod 60000 aws > /tmp/policy-config.json
    pulumi preview --policy-pack policies --policy-pack-config /tmp/policy-config.json
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import copy
import functools
import inspect
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from . import ALL_POLICIES, Policy
from .settings import ENVIRONMENTS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
"""``policies/config``: one pack config file per environment."""

MANDATORY = EnforcementLevel.MANDATORY.value
ADVISORY = EnforcementLevel.ADVISORY.value
_LEVELS = {level.value for level in EnforcementLevel}


@dataclass(frozen=True, order=True)
class PolicyResult:
    """One violation."""

    level: str
    """"mandatory" | "advisory"."""
    policy: str
    urn: str | None
    message: str
    """What is wrong, where, and the fix."""


def _sort_key(result: PolicyResult) -> tuple[str, str, str, str]:
    """The dataclass order, with a missing URN (a stack-wide violation) sorting first instead of failing to compare."""
    return (result.level, result.policy, result.urn or "", result.message)


def _entry(pack_config: Mapping[str, Any], name: str) -> dict[str, Any]:
    raw = pack_config.get(name)
    if isinstance(raw, str):
        return {"enforcementLevel": raw}
    return dict(raw) if isinstance(raw, Mapping) else {}


def enforcement_level(policy: Policy, pack_config: Mapping[str, Any]) -> str:
    """The level the pack config gives ``policy``: its own entry, then "all", then the policy's default (advisory if none)."""
    for key in (policy.name, "all"):
        level = _entry(pack_config, key).get("enforcementLevel")
        if level is not None:
            if level not in _LEVELS:
                raise ValueError(f"policy config {key!r}: unknown enforcementLevel {level!r}; expected one of {sorted(_LEVELS)}")
            return MANDATORY if level == EnforcementLevel.REMEDIATE.value else str(level)
    default = policy.enforcement_level or EnforcementLevel.ADVISORY
    return MANDATORY if default == EnforcementLevel.REMEDIATE else default.value


def policy_config(policy: Policy, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The properties the engine passes ``policy``: schema defaults overlaid with its pack config entry."""
    values: dict[str, Any] = {}
    if policy.config_schema is not None:
        values = {k: copy.deepcopy(v["default"]) for k, v in policy.config_schema.properties.items() if "default" in v}
    values.update({k: v for k, v in _entry(pack_config, policy.name).items() if k != "enforcementLevel"})
    return values


def _options(record: Mapping[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        bool(record.get("protect")),
        list(record.get("ignore_changes") or []),
        None,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        [],
        record.get("parent"),
    )


def _run(result: object) -> None:
    """Finish an async validation on a private event loop, as the analyzer does.

    The thread's current loop is left alone (``asyncio.run`` would unset it and break Pulumi's
    mocks later in the same process); when a loop is already running here, a worker thread runs it.
    """
    if not inspect.isawaitable(result):
        return

    async def wait(awaitable: Awaitable[Any]) -> None:
        await awaitable

    def complete() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(wait(result))
        finally:
            loop.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        complete()
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(complete).result()


def _not_applicable(error: Exception) -> bool:
    return type(error).__name__ == "_NotApplicableError"


def evaluate(records: list[dict[str, Any]], pack_config: dict[str, Any]) -> list[PolicyResult]:
    """Every violation of the pack by the recorded resources, sorted by level, policy, URN (stack-wide first) and message.

    Resource policies see each custom record (inputs as props, ``protect`` in opts, the provider
    record's inputs as the provider); stack policies see every record as a ``PolicyResource`` with
    parents linked. Disabled policies are skipped.
    """
    by_urn = {r["urn"]: r for r in records}

    def provider_of(record: Mapping[str, Any]) -> PolicyProviderResource | None:
        ref = record.get("provider")
        if not ref:
            return None
        found = by_urn.get(ref) or by_urn.get(ref.rsplit("::", 1)[0])
        if found is None:
            return None
        return PolicyProviderResource(found["type"], unknown_checking_proxy(found.get("inputs") or {}), found["urn"], found["name"])

    results: list[PolicyResult] = []

    def reporter(policy: str, level: str, default_urn: str | None) -> Callable[[str, str | None], None]:
        def report(message: str, urn: str | None = None) -> None:
            results.append(PolicyResult(level, policy, default_urn if default_urn is not None else urn, message))

        return report

    def guarded(policy: Policy, urn: str | None, call: Callable[[], object]) -> None:
        try:
            _run(call())
        except UnknownValueError as error:
            results.append(PolicyResult(ADVISORY, policy.name, urn, f"can't run policy '{policy.name}' during preview: {error.message}"))
        except Exception as error:
            if not _not_applicable(error):
                raise

    stack_resources: list[PolicyResource] | None = None
    for policy in ALL_POLICIES:
        level = enforcement_level(policy, pack_config)
        if level == EnforcementLevel.DISABLED.value:
            continue
        config = policy_config(policy, pack_config)
        if isinstance(policy, ResourceValidationPolicy):
            for record in records:
                if not record.get("custom"):
                    continue
                args = ResourceValidationArgs(
                    record["type"],
                    unknown_checking_proxy(record.get("inputs") or {}),
                    record["urn"],
                    record["name"],
                    _options(record),
                    provider_of(record),
                    config,
                )
                guarded(policy, record["urn"], functools.partial(policy.validate, args, reporter(policy.name, level, record["urn"])))
        elif isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(records, provider_of)
            stack_args = StackValidationArgs(stack_resources, config)
            guarded(policy, None, functools.partial(policy.validate, stack_args, reporter(policy.name, level, None)))
    return sorted(results, key=_sort_key)


def _stack_resources(
    records: list[dict[str, Any]], provider_of: Callable[[Mapping[str, Any]], PolicyProviderResource | None]
) -> list[PolicyResource]:
    resources = {
        r["urn"]: PolicyResource(
            r["type"],
            unknown_checking_proxy(r.get("inputs") or {}),
            r["urn"],
            r["name"],
            _options(r),
            provider_of(r),
            None,
            [],
            {},
        )
        for r in records
    }
    for r in records:
        parent = r.get("parent")
        if parent and parent in resources:
            resources[r["urn"]].parent = resources[parent]
    return [resources[r["urn"]] for r in records]


def load_pack_config(environment: str) -> dict[str, Any]:
    """``policies/config/<environment>.json`` as data."""
    path = CONFIG_DIR / f"{environment}.json"
    if not path.is_file():
        raise ValueError(f"no policy config for environment {environment!r}; expected one of {', '.join(ENVIRONMENTS)}")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of policy name -> config")
    return data


def pack_config_for(environment: str, gpu_monthly_budget_usd: float, cloud: str, region: str | None = None) -> dict[str, Any]:
    """The environment's pack config with the stack's budget, cloud and region filled into every policy that takes them."""
    config = load_pack_config(environment)
    stack_values: dict[str, Any] = {"monthlyBudgetUsd": float(gpu_monthly_budget_usd), "cloud": cloud, "environment": environment}
    if region:
        stack_values["region"] = region
    for policy in ALL_POLICIES:
        properties = policy.config_schema.properties if policy.config_schema is not None else {}
        wanted = {k: v for k, v in stack_values.items() if k in properties}
        if not wanted:
            continue
        entry = _entry(config, policy.name)
        entry.update(wanted)
        config[policy.name] = entry
    return config


def render_markdown(results: list[PolicyResult]) -> str:
    """A report section: counts, then one table row per violation, mandatory ones first."""
    results = sorted(results, key=lambda r: (r.level != MANDATORY, _sort_key(r)))
    mandatory = sum(1 for r in results if r.level == MANDATORY)
    lines = [
        "## Policy violations",
        "",
        f"{mandatory} mandatory, {len(results) - mandatory} advisory.",
        "",
    ]
    if results:
        lines += ["| level | policy | resource | problem and fix |", "|---|---|---|---|"]
        for r in results:
            text = r.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.level} | `{r.policy}` | `{r.urn or '(stack)'}` | {text} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the pack config for one stack, for `pulumi preview --policy-pack-config`.")
    parser.add_argument("environment", choices=ENVIRONMENTS)
    parser.add_argument("gpu_monthly_budget_usd", type=float)
    parser.add_argument("cloud", choices=("aws", "gcp", "azure", "kubernetes"))
    parser.add_argument("region", nargs="?", default="", help="the stack's cloud.region, whose prices the budget uses")
    args = parser.parse_args(argv)
    config = pack_config_for(args.environment, args.gpu_monthly_budget_usd, args.cloud, args.region or None)
    json.dump(config, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
