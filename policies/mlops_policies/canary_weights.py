"""Traffic splits (canary-weight-bounds): a release sends a bounded share of traffic to the new model version, and
splits that must add up to 100 do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .endpoints import AML_ENDPOINT, SM_CONFIG, SM_ENDPOINT, VERTEX_ENDPOINT
from .k8s_objects import describe, kind_of
from .settings import AnyPolicy, message, schema, setting_number, settings

HTTP_ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
CANARY_ANNOTATION = "mlops.platform/canary-weight"
FLAGGER_CANARY = "kubernetes:flagger.app/v1beta1:Canary"

_CANARY_SCHEMA = schema(
    maxCanaryPercent={
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "default": 25,
        "description": "Largest share of traffic any canary (non-primary) variant may receive, in percent.",
    },
)


def canary_shares(weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """(total weight, share in percent of every variant except the largest) of a traffic split."""
    positive = {k: v for k, v in weights.items() if v > 0}
    total = sum(positive.values())
    if total <= 0 or len(positive) < 2:
        return total, {}
    primary = max(sorted(positive), key=lambda k: positive[k])
    return total, {k: 100.0 * v / total for k, v in sorted(positive.items()) if k != primary}


def _weights(raw: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in wire.mapping(raw).items():
        n = wire.number(value)
        if n is not None:
            out[str(key)] = n
    return out


def traffic_splits(args: ResourceValidationArgs) -> list[tuple[str, dict[str, float], bool]]:
    """(what, weights, must sum to 100) for every traffic split the resource declares."""
    t, p = args.resource_type, args.props
    found: list[tuple[str, dict[str, float], bool]] = []
    if t == SM_CONFIG:
        weights: dict[str, float] = {}
        for i, variant in enumerate(wire.items(p.get("productionVariants"))):
            weight = wire.number(wire.get(variant, "initialVariantWeight"))
            weights[wire.text(wire.get(variant, "variantName")) or f"variant {i}"] = 1.0 if weight is None else weight
        found.append(("production variants", weights, False))
    elif t == AML_ENDPOINT:
        found.append(("traffic", _weights(wire.get(p, "properties", "traffic")), True))
    elif t == VERTEX_ENDPOINT and p.get("trafficSplit") is not None:
        found.append(("trafficSplit", _weights(p.get("trafficSplit")), True))
    elif kind_of(t) in HTTP_ROUTE_KINDS:
        for i, rule in enumerate(wire.items(wire.get(p, "spec", "rules"))):
            refs = wire.items(wire.get(rule, "backendRefs"))
            weights = {
                f"{wire.text(wire.get(r, 'name'))}#{j}": 1.0 if wire.get(r, "weight") is None else wire.number(wire.get(r, "weight")) or 0.0
                for j, r in enumerate(refs)
            }
            found.append((f"rule {i} backendRefs", weights, False))
    elif kind_of(t) == "VirtualService":
        for i, route in enumerate(wire.items(wire.get(p, "spec", "http"))):
            destinations = wire.items(wire.get(route, "route"))
            if len(destinations) > 1:
                weights = {
                    f"{wire.text(wire.get(d, 'destination', 'host'))}/{wire.text(wire.get(d, 'destination', 'subset'))}#{j}": wire.number(
                        wire.get(d, "weight")
                    )
                    or 0.0
                    for j, d in enumerate(destinations)
                }
                found.append((f"http route {i}", weights, True))
    return found


def _check_canary_weight(args: ResourceValidationArgs, report: ReportViolation) -> None:
    maximum = setting_number(settings(args, _CANARY_SCHEMA), "maxCanaryPercent", 25)
    subject = f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"
    for what, weights, sums_to_100 in traffic_splits(args):
        total, shares = canary_shares(weights)
        if sums_to_100 and weights and round(total, 6) != 100:
            report(
                message(subject, f"{what} weights sum to {total:g}, not 100", "make the weights of the split add up to exactly 100"),
                None,
            )
        for variant, share in shares.items():
            if share > maximum:
                report(
                    message(
                        subject,
                        f"{what} sends {share:.4g}% of traffic to canary '{variant}', above the {maximum:g}% allowed here",
                        f"lower the canary weight to at most {maximum:g}% and shift the rest after it proves healthy",
                    ),
                    None,
                )
    p = args.props
    if args.resource_type == SM_ENDPOINT:
        routing = wire.mapping(wire.get(p, "deploymentConfig", "blueGreenUpdatePolicy", "trafficRoutingConfiguration"))
        for field in ("canarySize", "linearStepSize"):
            size = wire.mapping(routing.get(field))
            value = wire.number(size.get("value"))
            if wire.text(size.get("type")) == "CAPACITY_PERCENT" and value is not None and value > maximum:
                report(
                    message(
                        subject,
                        f"{field} shifts {value:g}% of capacity at once, above {maximum:g}%",
                        f"set {field}.value to at most {maximum:g}",
                        f"managed_endpoints[].traffic_shift (canary or linear step) of at most {maximum:g} %",
                    ),
                    None,
                )
    if args.resource_type == AML_ENDPOINT:
        mirror = _weights(wire.get(p, "properties", "mirrorTraffic"))
        if sum(mirror.values()) > 50:
            report(
                message(
                    subject,
                    f"mirrors {sum(mirror.values()):g}% of traffic; Azure ML allows at most 50",
                    "lower mirrorTraffic to 50 or less",
                ),
                None,
            )
    if args.resource_type == FLAGGER_CANARY:
        analysis = wire.mapping(wire.get(p, "spec", "analysis"))
        steps = [wire.number(x) for x in wire.items(analysis.get("stepWeights"))]
        largest = max([x for x in steps if x is not None] + [wire.number(analysis.get("maxWeight")) or 0.0])
        if largest > maximum:
            report(
                message(
                    subject,
                    f"releases a model version to {largest:g}% of traffic before promotion, above the {maximum:g}% allowed here",
                    f"keep analysis.stepWeights and maxWeight at most {maximum:g}",
                    f"models[].release.steps (or max_percent) of at most {maximum:g} %",
                ),
                None,
            )
    if kind_of(args.resource_type) is not None:
        annotated = wire.number(wire.string_map(wire.get(p, "metadata", "annotations")).get(CANARY_ANNOTATION))
        if annotated is not None and not 0 <= annotated <= maximum:
            report(
                message(
                    describe(kind_of(args.resource_type) or "object", p, args.name),
                    f"declares canary weight {annotated:g}% ({CANARY_ANNOTATION}), outside 0-{maximum:g}%",
                    f"set the model's canary weight to at most {maximum:g}",
                    f"models[].canary.weight: {maximum:g} or less",
                ),
                None,
            )


canary_weight_bounds = ResourceValidationPolicy(
    name="canary-weight-bounds",
    description="Canary and traffic-shift steps send a bounded share of traffic to the new model version; splits add up.",
    validate=_check_canary_weight,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_CANARY_SCHEMA,
)


POLICIES: list[AnyPolicy] = [canary_weight_bounds]
