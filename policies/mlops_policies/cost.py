"""Cost: no spot capacity for production GPU pools, and the stack's worst-case GPU spend against its monthly budget.

The estimate prices every GPU node pool at its maximum size and every managed endpoint at its
maximum instance count, for ``hoursPerMonth`` (730) hours, with the price catalog of the installed
``mlops_platform`` package (``mlops_platform.catalog.offers``: ``hourly_price`` for nodes,
``endpoint_offer`` for endpoints; the pack's requirements.txt installs it). An instance type the
catalog has no price for is reported by ``priced-instance-types`` and left out of the total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlops_platform.catalog import offers

from . import wire
from .endpoints import AML_DEPLOYMENT, SM_CONFIG, VERTEX_GARDEN
from .settings import HOURS_PER_MONTH, AnyPolicy, budget_properties, message, schema, setting_number, setting_text, settings

EKS_POOL = "aws:eks/nodeGroup:NodeGroup"
GKE_POOL = "gcp:container/nodePool:NodePool"
AKS_POOL = "azure-native:containerservice:AgentPool"
NODE_POOLS = (EKS_POOL, GKE_POOL, AKS_POOL)
AUTOSCALING_TARGET = "aws:appautoscaling/target:Target"
CATALOG_FILE = "mlops_platform/catalog/offers.py"

CapacityKind = Literal["on_demand", "spot"]

_AWS_GPU_FAMILY = re.compile(r"^(g\d|gr\d|p\d|inf\d|trn\d|dl\d)", re.IGNORECASE)
_GCP_GPU_FAMILY = re.compile(r"^(a2|a3|a4|g2|g4|ct\d)-", re.IGNORECASE)
_AZURE_GPU_FAMILY = re.compile(r"^Standard_N[CDVG]", re.IGNORECASE)


# --- the price catalog ---------------------------------------------------------------------------------------------------


def node_hourly_price(cloud: str, instance_type: str, capacity: CapacityKind, region: str | None = None) -> float | None:
    """USD per hour of one node in ``region`` (None: the cloud's reference region), or None when the catalog has no price.

    The catalog falls back to the reference region where it has no figure for the region, as the synthesized cost
    report does. A spot pool whose type has no spot figure is priced on demand: the worst case it can cost.
    """
    price = offers.hourly_price(cloud, instance_type, capacity, region)
    if price is None and capacity == "spot":
        price = offers.hourly_price(cloud, instance_type, "on_demand", region)
    return None if price is None else float(price)


def endpoint_hourly_price(cloud: str, instance_type: str, region: str | None = None) -> float | None:
    """USD per hour of one managed-endpoint instance in ``region``, or None when the catalog has no offer."""
    found = offers.endpoint_price(cloud, instance_type, region)
    return None if found is None else float(found[0])


# --- what the stack runs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One priced line of the estimate: a GPU pool at its maximum, or an endpoint at its maximum instances."""

    urn: str
    what: str
    cloud: str
    instance_types: tuple[str, ...]
    count: float
    capacity: CapacityKind
    endpoint: bool


def _eks_is_gpu(p: Mapping[str, Any]) -> bool:
    ami = wire.text(p.get("amiType")).upper()
    taints = [wire.text(wire.get(t, "key")) for t in wire.items(p.get("taints"))]
    types = [wire.text(t) for t in wire.items(p.get("instanceTypes"))]
    return any(s in ami for s in ("NVIDIA", "GPU", "NEURON")) or "nvidia.com/gpu" in taints or any(_AWS_GPU_FAMILY.match(t) for t in types)


def _gke_is_gpu(p: Mapping[str, Any]) -> bool:
    node = wire.mapping(p.get("nodeConfig"))
    taints = [wire.text(wire.get(t, "key")) for t in wire.items(node.get("taints"))]
    return (
        bool(wire.items(node.get("guestAccelerators")))
        or "nvidia.com/gpu" in taints
        or bool(_GCP_GPU_FAMILY.match(wire.text(node.get("machineType"))))
    )


def _aks_is_gpu(p: Mapping[str, Any]) -> bool:
    taints = [wire.text(t) for t in wire.items(p.get("nodeTaints"))]
    return (
        p.get("gpuProfile") is not None
        or any(t.startswith("nvidia.com/gpu") for t in taints)
        or bool(_AZURE_GPU_FAMILY.match(wire.text(p.get("vmSize"))))
    )


def _gke_zones(p: Mapping[str, Any]) -> float:
    locations = wire.items(p.get("nodeLocations"))
    if locations:
        return float(len(locations))
    location = wire.text(p.get("location"))
    return 1.0 if re.search(r"-[a-z]$", location) else 3.0  # a regional pool without nodeLocations uses the region's 3 zones


def gpu_pool(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Item | None:
    """The pool as a priced line at its maximum size, or None when the resource is not a GPU node pool."""
    p = props
    if resource_type == EKS_POOL and _eks_is_gpu(p):
        spot = wire.text(p.get("capacityType")).upper() == "SPOT"
        count = wire.number(wire.get(p, "scalingConfig", "maxSize")) or 0.0
        types = tuple(wire.text(t) for t in wire.items(p.get("instanceTypes")) if wire.text(t))
        return Item(urn, f"EKS node group '{name}'", "aws", types, count, "spot" if spot else "on_demand", False)
    if resource_type == GKE_POOL and _gke_is_gpu(p):
        node = wire.mapping(p.get("nodeConfig"))
        spot = bool(wire.flag(node.get("spot")) or wire.flag(node.get("preemptible")))
        autoscaling = wire.mapping(p.get("autoscaling"))
        total = wire.number(autoscaling.get("totalMaxNodeCount"))
        per_zone = wire.number(autoscaling.get("maxNodeCount"))
        fixed = wire.number(p.get("nodeCount"))
        if fixed is None:
            fixed = wire.number(p.get("initialNodeCount"))
        count = total if total is not None else (per_zone if per_zone is not None else fixed or 0.0) * _gke_zones(p)
        machine = wire.text(node.get("machineType"))
        return Item(urn, f"GKE node pool '{name}'", "gcp", (machine,) if machine else (), count, "spot" if spot else "on_demand", False)
    if resource_type == AKS_POOL and _aks_is_gpu(p):
        spot = wire.text(p.get("scaleSetPriority")) == "Spot"
        autoscaled = wire.flag(p.get("enableAutoScaling"))
        nodes = wire.number(p.get("maxCount")) if autoscaled else wire.number(p.get("count"))
        vm = wire.text(p.get("vmSize"))
        return Item(urn, f"AKS agent pool '{name}'", "azure", (vm,) if vm else (), nodes or 0.0, "spot" if spot else "on_demand", False)
    return None


def _sagemaker_target_max(resources: list[PolicyResource], variant: str) -> float | None:
    found = [
        wire.number(r.props.get("maxCapacity"))
        for r in resources
        if r.resource_type == AUTOSCALING_TARGET
        and wire.text(r.props.get("serviceNamespace")) == "sagemaker"
        and wire.text(r.props.get("resourceId")).endswith(f"/variant/{variant}")
    ]
    numbers = [n for n in found if n is not None]
    return max(numbers) if numbers else None


def endpoint_items(resource: PolicyResource, resources: list[PolicyResource]) -> list[Item]:
    """Instance-backed managed endpoints of one resource, each at its maximum instance count."""
    t, p, name, urn = resource.resource_type, resource.props, resource.name, resource.urn
    items: list[Item] = []
    if t == SM_CONFIG:
        for field in ("productionVariants", "shadowProductionVariants"):
            for variant in wire.items(p.get(field)):
                v = wire.mapping(variant)
                instance = wire.text(v.get("instanceType"))
                if not instance or v.get("serverlessConfig") is not None:
                    continue
                variant_name = wire.text(v.get("variantName"))
                counts = [
                    wire.number(v.get("initialInstanceCount")),
                    wire.number(wire.get(v, "managedInstanceScaling", "maxInstanceCount")),
                    _sagemaker_target_max(resources, variant_name) if variant_name else None,
                ]
                count = max((c for c in counts if c is not None), default=1.0)
                items.append(
                    Item(urn, f"SageMaker variant '{variant_name or '?'}' of '{name}'", "aws", (instance,), count, "on_demand", True)
                )
    elif t == AML_DEPLOYMENT:
        props = wire.mapping(p.get("properties"))
        instance = wire.text(props.get("instanceType"))
        if instance and wire.text(props.get("endpointComputeType")) != "Kubernetes":
            scale = wire.mapping(props.get("scaleSettings"))
            maximum = wire.number(scale.get("maxInstances")) if wire.text(scale.get("scaleType")) == "TargetUtilization" else None
            instances = maximum if maximum is not None else wire.number(wire.get(p, "sku", "capacity")) or 1.0
            items.append(Item(urn, f"Azure ML deployment '{name}'", "azure", (instance,), instances, "on_demand", True))
    elif t == VERTEX_GARDEN:
        dedicated = wire.mapping(wire.get(p, "deployConfig", "dedicatedResources"))
        machine = wire.text(wire.get(dedicated, "machineSpec", "machineType"))
        if machine:
            replicas = wire.number(dedicated.get("maxReplicaCount")) or wire.number(dedicated.get("minReplicaCount")) or 1.0
            capacity: CapacityKind = "spot" if wire.flag(dedicated.get("spot")) else "on_demand"
            items.append(Item(urn, f"Vertex AI deployment '{name}'", "gcp", (machine,), replicas, capacity, True))
    return items


def stack_items(resources: list[PolicyResource]) -> list[Item]:
    """Every GPU pool and managed endpoint the stack declares."""
    items: list[Item] = []
    for r in resources:
        pool = gpu_pool(r.resource_type, r.props, r.urn, r.name)
        if pool is not None:
            items.append(pool)
        items.extend(endpoint_items(r, resources))
    return items


@dataclass(frozen=True)
class Priced:
    """An item with its monthly cost, or the reason it could not be priced."""

    item: Item
    monthly_usd: float | None
    problem: str | None


def price(item: Item, hours: float, region: str | None = None) -> Priced:
    """The item's worst-case monthly cost in ``region`` (the dearest of its instance types when a pool allows several)."""
    if not item.instance_types:
        return Priced(item, None, "declares no instance type (a launch template?)")
    hourly: list[float] = []
    for instance in item.instance_types:
        found = (
            endpoint_hourly_price(item.cloud, instance, region)
            if item.endpoint
            else node_hourly_price(item.cloud, instance, item.capacity, region)
        )
        if found is None:
            kind = "endpoint offer" if item.endpoint else f"{item.capacity} price"
            return Priced(item, None, f"the catalog has no {kind} for {item.cloud} '{instance}'")
        hourly.append(found)
    return Priced(item, max(hourly) * item.count * hours, None)


# --- spot ----------------------------------------------------------------------------------------------------------------


def _check_no_spot(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = gpu_pool(args.resource_type, args.props, args.urn, args.name)
    if pool is not None and pool.capacity == "spot":
        fix = {
            EKS_POOL: "set capacityType: 'ON_DEMAND'",
            GKE_POOL: "remove nodeConfig.spot / nodeConfig.preemptible",
            AKS_POOL: "set scaleSetPriority: 'Regular' (and drop the spot eviction settings)",
        }[args.resource_type]
        report(
            message(
                pool.what,
                "uses spot capacity, which the cloud can reclaim at any time and take serving capacity down with it",
                f"{fix} (set gpu_pools[].capacity: on_demand in the stack)",
            ),
            None,
        )
    elif args.resource_type == VERTEX_GARDEN and wire.flag(wire.get(args.props, "deployConfig", "dedicatedResources", "spot")):
        report(
            message(f"Vertex AI deployment '{args.name}'", "serves from spot VMs", "remove deployConfig.dedicatedResources.spot"),
            None,
        )


no_spot_gpu_pools = ResourceValidationPolicy(
    name="no-spot-gpu-pools",
    description="GPU pools and endpoints that serve production traffic do not use spot/preemptible capacity.",
    validate=_check_no_spot,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- budget --------------------------------------------------------------------------------------------------------------


def _budget_policy(name: str, description: str, threshold: float, level: EnforcementLevel) -> StackValidationPolicy:
    config_schema = schema(**budget_properties(threshold))

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        values = settings(args, config_schema)
        budget = setting_number(values, "monthlyBudgetUsd", 0)
        limit = setting_number(values, "thresholdPercent", threshold)
        hours = setting_number(values, "hoursPerMonth", HOURS_PER_MONTH)
        cloud = setting_text(values, "cloud", "")
        region = setting_text(values, "region", "") or None
        priced = [price(item, hours, region) for item in stack_items(args.resources)]
        known = sorted((p for p in priced if p.monthly_usd is not None), key=lambda p: (-(p.monthly_usd or 0.0), p.item.what))
        if not known:
            return
        total = sum(p.monthly_usd or 0.0 for p in known)
        if budget <= 0:
            report(
                message(
                    "stack",
                    f"GPU capacity can cost ${total:,.0f}/month but no monthly budget is configured",
                    "pass monthlyBudgetUsd in the policy config (runner.pack_config_for fills it from budget.gpu_monthly_usd)",
                ),
                None,
            )
            return
        share = 100.0 * total / budget
        if share <= limit:
            return
        top = ", ".join(
            f"{p.item.what} {p.item.count:g} x {'/'.join(p.item.instance_types)} = ${p.monthly_usd or 0:,.0f}" for p in known[:3]
        )
        unpriced = len(priced) - len(known)
        report(
            message(
                f"stack{f' on {cloud}' if cloud else ''}{f' in {region}' if region else ''}",
                f"GPU nodes at maximum size and endpoints at maximum instances can cost ${total:,.0f}/month "
                f"({share:.0f}% of the ${budget:,.0f} budget, over the {limit:g}% threshold); largest: {top}"
                + (f"; {unpriced} item(s) could not be priced and are not included" if unpriced else ""),
                "lower max_nodes of the largest GPU pools or the endpoints' maximum instances, use smaller instance types, "
                "or raise budget.gpu_monthly_usd in the stack file",
            ),
            known[0].item.urn,
        )

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, config_schema=config_schema
    )


gpu_budget_warning = _budget_policy(
    "gpu-budget-warning",
    "Worst-case monthly GPU spend (pools at max, endpoints at max instances) stays below 80% of the stack's budget.",
    80.0,
    EnforcementLevel.ADVISORY,
)
gpu_budget_limit = _budget_policy(
    "gpu-budget-limit",
    "Worst-case monthly GPU spend (pools at max, endpoints at max instances) does not exceed the stack's budget.",
    100.0,
    EnforcementLevel.MANDATORY,
)


# --- unpriced capacity -------------------------------------------------------------------------------------------------

_PRICED_SCHEMA = schema(hoursPerMonth=budget_properties(100.0)["hoursPerMonth"])


def _check_priced(args: StackValidationArgs, report: ReportViolation) -> None:
    hours = setting_number(settings(args, _PRICED_SCHEMA), "hoursPerMonth", HOURS_PER_MONTH)
    for item in stack_items(args.resources):
        result = price(item, hours)
        if result.problem is not None:
            report(
                message(
                    item.what,
                    f"cannot be priced: {result.problem}, so the budget policies leave it out",
                    f"add the instance type to {CATALOG_FILE}, or choose an instance type it prices",
                ),
                item.urn,
            )


priced_instance_types = StackValidationPolicy(
    name="priced-instance-types",
    description="Every GPU pool and endpoint instance type has a price in the catalog, so the budget check covers it.",
    validate=_check_priced,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_PRICED_SCHEMA,
)


POLICIES: list[AnyPolicy] = [no_spot_gpu_pools, gpu_budget_warning, gpu_budget_limit, priced_instance_types]
