"""`make synth STACK=<name>`: write everything a stack declares to build/synth/<name>/.

Exit codes: 0 written; 1 written but a mandatory policy is violated (each violation printed with
its policy, resource URN and fix); 2 invalid configuration (every problem printed, no traceback).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from mlops_platform.catalog.coldstart import cold_start_seconds
from mlops_platform.catalog.offers import REFERENCE_REGIONS
from mlops_platform.config import ConfigError
from mlops_platform.endpoints import endpoint_cost
from mlops_platform.gpu.cost import HOURS_PER_MONTH, idle_nodes, pool_cost, price_reference
from mlops_platform.serving.model_config import render as render_model_config
from policies.mlops_policies.runner import MANDATORY, PolicyResult, evaluate, pack_config_for, render_markdown

from .monitoring_files import write_monitoring
from .synthesis import ROOT, Synthesis, read_stack_file, synthesize


def _dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dump_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=120)


def manifest_path(manifest: dict[str, Any]) -> str:
    """`<namespace or _cluster>/<kind>-<name>.yaml`, lower case."""
    meta = manifest.get("metadata", {})
    folder = meta.get("namespace") or "_cluster"
    return f"{folder}/{manifest['kind'].lower()}-{meta['name']}.yaml"


def cost_summary(result: Synthesis) -> dict[str, Any]:
    """cost.json: each GPU pool at min nodes, idle (every model at its minimum) and at max nodes, the stack
    totals, and the budget."""
    cfg = result.config
    region = cfg.cloud.region or cfg.cloud.location
    costs = [pool_cost(pool, cfg.cloud.provider, region) for pool in cfg.gpu_pools]
    endpoints = [endpoint_cost(endpoint, cfg.cloud.provider, region) for endpoint in cfg.managed_endpoints]
    fallback = [f"pool {c.pool} ({c.instance_type})" for c in costs if c.price_fallback] + [
        f"endpoint {e.endpoint} ({e.instance_type or f'serverless-{e.serverless_memory_mb}mb'})" for e in endpoints if e.price_fallback
    ]
    used = sorted({c.price_region for c in costs if c.price_region} | {e.price_region for e in endpoints if e.price_region})
    at_min = round(sum(c.monthly_at_min for c in costs) + sum(e.monthly_at_min for e in endpoints), 2)
    at_max = round(sum(c.monthly_at_max for c in costs) + sum(e.monthly_at_max for e in endpoints), 2)
    pools: list[dict[str, Any]] = []
    idle = sum(e.monthly_at_min for e in endpoints)
    for pool, cost in zip(cfg.gpu_pools, costs, strict=True):
        nodes = idle_nodes(pool, cfg.models)
        monthly_idle = cost.monthly_at(nodes)
        idle += monthly_idle
        pools.append(
            {
                **cost.as_dict(),
                "idle_nodes": nodes,
                "monthly_idle_usd": monthly_idle,
                "scale_to_zero_models": [m.name for m in cfg.models if m.gpu_pool == pool.name and m.scales_to_zero],
            }
        )
    idle = round(idle, 2)
    to_zero = [
        {"model": m.name, "cold_start_seconds": cold_start_seconds(cfg.cloud.provider, m.load_timeout_seconds)}
        for m in cfg.models
        if m.scales_to_zero
    ]
    return {
        "currency": "USD",
        "hours_per_month": HOURS_PER_MONTH,
        "prices": price_reference(cfg.cloud.provider, region, fallback),
        "price_region": region if region in used else (used[0] if used else REFERENCE_REGIONS.get(cfg.cloud.provider)),
        "price_fallback": fallback,
        "stack_region": region,
        "gpu_pools": pools,
        "managed_endpoints": [e.as_dict() for e in endpoints],
        "scale_to_zero": to_zero,
        "total_monthly_at_min_usd": at_min,
        "total_monthly_idle_usd": idle,
        "total_monthly_at_max_usd": at_max,
        "gpu_monthly_budget_usd": cfg.budget.gpu_monthly_usd,
        "budget_used_at_max_percent": round(100 * at_max / cfg.budget.gpu_monthly_usd, 1),
    }


def _cost_lines(cost: dict[str, Any]) -> list[str]:
    lines = [
        "## Estimated monthly cost",
        "",
        f"GPU node pools and managed endpoints, {cost['prices']}.",
        "",
        "| pool | instance | capacity | $/node-hour | nodes | at min | idle | at max |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for p in cost["gpu_pools"]:
        lines.append(
            f"| {p['pool']} | `{p['instance_type']}` | {p['price_basis']} | {p['hourly_per_node_usd']:.4f} | "
            f"{p['min_nodes']}-{p['max_nodes']} | ${p['monthly_at_min_usd']:,.2f} | ${p['monthly_idle_usd']:,.2f} "
            f"({p['idle_nodes']}) | ${p['monthly_at_max_usd']:,.2f} |"
        )
    for e in cost["managed_endpoints"]:
        hourly = "per request" if e["hourly_per_instance_usd"] is None else f"{e['hourly_per_instance_usd']:.4f}"
        instances = f"{e['min_instances']}-{e['max_instances']}" + (f" +{e['candidate_instances']}" if e["candidate_instances"] else "")
        lines.append(
            f"| endpoint {e['endpoint']} | `{e['instance_type']}` | {e['price_basis']} | {hourly} | {instances} | "
            f"${e['monthly_at_min_usd']:,.2f} | ${e['monthly_at_min_usd']:,.2f} | ${e['monthly_at_max_usd']:,.2f} |"
        )
    lines += [
        f"| **total** | | | | | **${cost['total_monthly_at_min_usd']:,.2f}** | **${cost['total_monthly_idle_usd']:,.2f}** "
        f"| **${cost['total_monthly_at_max_usd']:,.2f}** |",
        "",
        "Idle: the nodes (in brackets) every model needs at its minimum replicas, at least the pool's minimum.",
    ]
    for model in cost["scale_to_zero"]:
        wait = model["cold_start_seconds"]
        back = f"up to {wait // 60} min" if wait is not None else "as long as the cluster takes to give it a node"
        lines.append(
            f"{model['model']} scales to zero when idle outside its active hours and counts $0 of idle GPU cost; when its "
            f"hours start it serves again after {back} (node, image pull, model load: components/catalog/coldstart.py)."
        )
    lines += [
        "",
        f"GPU budget ${cost['gpu_monthly_budget_usd']:,.0f}/month (budget.gpu_monthly_usd): "
        f"GPU pools and endpoints at max use {cost['budget_used_at_max_percent']} % of it.",
        "",
    ]
    return lines


def policy_results(result: Synthesis) -> list[PolicyResult]:
    """The policy pack over every registered resource, at the stack's environment levels."""
    cfg = result.config
    return evaluate(result.records, pack_config_for(cfg.environment, cfg.budget.gpu_monthly_usd, cfg.cloud.provider, cfg.cloud.region))


def render_report(result: Synthesis, policies: list[PolicyResult] | None = None) -> str:
    """The human summary of a synthesis: what the stack declares and what it needs."""
    cfg = result.config
    kinds = Counter(r["type"] for r in result.records)
    manifests = result.manifests()
    lines = [
        f"# Synthesis report: stack `{result.stack}`",
        "",
        f"- Environment: `{cfg.environment}`",
        f"- Cloud: `{cfg.cloud.provider}` ({cfg.cloud.region or cfg.cloud.location or cfg.cloud.s3_endpoint})",
        f"- Cluster: `{cfg.cluster.source}` ({result.outputs.get('cluster', '')})",
        f"- Resources: {len(result.records)} ({sum(1 for r in result.records if r['custom'])} custom, "
        f"{sum(1 for r in result.records if not r['custom'])} components)",
        f"- Kubernetes objects: {len(manifests)}",
        f"- Protected resources: {sum(1 for r in result.records if r['protect'])}",
        f"- Monthly budget: ${cfg.budget.gpu_monthly_usd:,.0f}",
        "",
        "## Resources by type",
        "",
        "| type | count |",
        "|---|---:|",
    ]
    lines += [f"| `{kind}` | {count} |" for kind, count in sorted(kinds.items())]
    lines += ["", *_cost_lines(cost_summary(result))]
    if policies is not None:
        lines += [render_markdown(policies).rstrip(), ""]
    lines += ["## Kubernetes objects", "", "| namespace | kind | name |", "|---|---|---|"]
    for manifest in sorted(manifests, key=manifest_path):
        meta = manifest["metadata"]
        lines.append(f"| {meta.get('namespace', '(cluster)')} | {manifest['kind']} | {meta['name']} |")
    lines += ["", "## Secrets", ""]
    referenced = cfg.secret_keys()
    if referenced:
        lines.append("Config keys that must be set with `pulumi config set --secret` (values never appear here):")
        lines.append("")
        for key, path in sorted(referenced.items()):
            note = " (absent from the stack file: synthesized with a placeholder)" if key in result.placeholder_secrets else ""
            lines.append(f"- `{key}`, named by `{path}`{note}")
    else:
        lines.append("None referenced.")
    lines += ["", "## Stack outputs", "", "```json", json.dumps(result.outputs, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def write(result: Synthesis, out: Path, policies: list[PolicyResult] | None = None) -> None:
    """Replace ``out`` with the synthesis: resources.json, manifests/, outputs.json, cost.json, triton/, monitoring files, report.md."""
    if out.exists():
        shutil.rmtree(out)
    (out / "manifests").mkdir(parents=True)
    (out / "resources.json").write_text(_dump_json(result.records))
    (out / "outputs.json").write_text(_dump_json(result.outputs))
    (out / "cost.json").write_text(_dump_json(cost_summary(result)))
    for manifest in result.manifests():
        path = out / "manifests" / manifest_path(manifest)
        if path.exists():
            raise RuntimeError(f"two Kubernetes objects map to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump_yaml(manifest))
    for model in result.config.models:
        folder = out / "triton" / model.name
        folder.mkdir(parents=True)
        (folder / "config.pbtxt").write_text(render_model_config(model, model.version))
    write_monitoring(result.config, out)
    (out / "report.md").write_text(render_report(result, policies))


def main(argv: list[str] | None = None) -> int:
    entered = time.time()  # the bench's profile: everything before it is interpreter start and imports
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack", nargs="?", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml); default dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "synth", help="output root (default build/synth)")
    parser.add_argument("--stack-file", type=Path, help="read this stack file instead of stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--timings", type=Path, help="also write the seconds of each step to this JSON file (make bench)")
    args = parser.parse_args(argv)
    steps: dict[str, float] = {}
    try:
        started = time.perf_counter()
        config = read_stack_file(args.stack, path=args.stack_file)
        steps["read"] = time.perf_counter() - started
        result = synthesize(args.stack, config)
    except ConfigError as error:
        print(f"synth: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"synth: {error}", file=sys.stderr)
        return 2
    steps.update(result.seconds)
    out = args.out / args.stack
    started = time.perf_counter()
    policies = policy_results(result)
    steps["policy_pack"] = time.perf_counter() - started
    started = time.perf_counter()
    write(result, out, policies)
    steps["write"] = time.perf_counter() - started
    if args.timings:
        args.timings.write_text(json.dumps({"main_entered": entered, "steps": steps}) + "\n")
    mandatory = [r for r in policies if r.level == MANDATORY]
    if mandatory:
        print(f"synth: stack {args.stack}: {len(mandatory)} mandatory policy violation(s):", file=sys.stderr)
        for violation in mandatory:
            print(f"  - [{violation.policy}] {violation.urn or '(stack)'}: {violation.message}", file=sys.stderr)
        return 1
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"synth: stack {args.stack}: {len(result.records)} resources, {len(result.manifests())} Kubernetes objects -> {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
