"""Kubernetes availability, checked across the stack: replicas, disruption budgets and zone spread.

These are stack policies because each rule relates several objects: a Deployment's effective minimum
comes from its autoscaler (a HorizontalPodAutoscaler, or a KEDA ScaledObject, which makes one), and its
PodDisruptionBudget is a separate object that selects its pods by label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from . import wire
from .k8s_objects import EXEMPT_NAMESPACES_PROPERTY, SYSTEM_NAMESPACES, describe, kind_of
from .settings import AnyPolicy, message, schema, setting_flag, setting_number, setting_strings, setting_text, settings

AVAILABILITY_KINDS = ("Deployment", "StatefulSet")
ZONE_KEYS = ["topology.kubernetes.io/zone"]
EXEMPT_ANNOTATION = "mlops.platform/availability-exempt"

_EXEMPT = {
    "exemptAnnotation": {
        "type": "string",
        "default": EXEMPT_ANNOTATION,
        "description": "Annotation whose non-empty value (the reason) exempts a workload, e.g. a single-writer database.",
    },
    "exemptNamespaces": EXEMPT_NAMESPACES_PROPERTY,
}


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet with what the availability rules need."""

    resource: PolicyResource
    kind: str
    name: str | None
    namespace: str
    subject: str
    replicas: float
    pod_labels: dict[str, str]
    pod_spec: Mapping[str, Any]


def _namespace(props: Mapping[str, Any]) -> str:
    return wire.text(wire.get(props, "metadata", "namespace")) or "default"


def workloads(resources: list[PolicyResource], values: Mapping[str, Any]) -> list[Workload]:
    """The stack's Deployments and StatefulSets, minus those annotated as exempt or in exempt namespaces."""
    exempt_annotation = setting_text(values, "exemptAnnotation", EXEMPT_ANNOTATION)
    exempt_namespaces = setting_strings(values, "exemptNamespaces", SYSTEM_NAMESPACES)
    found: list[Workload] = []
    for r in resources:
        kind = kind_of(r.resource_type)
        if kind not in AVAILABILITY_KINDS or _namespace(r.props) in exempt_namespaces:
            continue
        annotations = wire.string_map(wire.get(r.props, "metadata", "annotations"))
        if exempt_annotation and annotations.get(exempt_annotation, "").strip():
            continue
        replicas = wire.number(wire.get(r.props, "spec", "replicas"))
        found.append(
            Workload(
                resource=r,
                kind=kind,
                name=wire.text(wire.get(r.props, "metadata", "name")) or None,
                namespace=_namespace(r.props),
                subject=describe(kind, r.props, r.name),
                replicas=1.0 if replicas is None else replicas,
                pod_labels=wire.string_map(wire.get(r.props, "spec", "template", "metadata", "labels")),
                pod_spec=wire.mapping(wire.get(r.props, "spec", "template", "spec")),
            )
        )
    return found


def _same_owner(a: PolicyResource, b: PolicyResource) -> bool:
    return a.parent is not None and b.parent is not None and a.parent.urn == b.parent.urn


AUTOSCALERS = {"HorizontalPodAutoscaler": ("minReplicas", 1.0), "ScaledObject": ("minReplicaCount", 0.0)}
"""Autoscaler kinds, with the field that holds their minimum and its default (KEDA's is 0)."""


def autoscaler_for(workload: Workload, resources: list[PolicyResource]) -> PolicyResource | None:
    """The autoscaler (HPA or ScaledObject) of ``workload``, matched by target kind and name (or by owner when auto-named)."""
    for r in resources:
        if kind_of(r.resource_type) not in AUTOSCALERS or _namespace(r.props) != workload.namespace:
            continue
        ref = wire.mapping(wire.get(r.props, "spec", "scaleTargetRef"))
        if wire.text(ref.get("kind") or "Deployment") != workload.kind:  # a ScaledObject's kind defaults to Deployment
            continue
        target = wire.text(ref.get("name"))
        if (target and target == workload.name) or ((not target or workload.name is None) and _same_owner(r, workload.resource)):
            return r
    return None


def minimum_replicas(workload: Workload, resources: list[PolicyResource]) -> float:
    """The fewest pods the workload runs: its autoscaler's minimum (a ScaledObject's idle count when lower), else spec.replicas."""
    scaler = autoscaler_for(workload, resources)
    if scaler is None:
        return workload.replicas
    field, default = AUTOSCALERS[kind_of(scaler.resource_type) or ""]
    found = wire.number(wire.get(scaler.props, "spec", field))
    minimum = default if found is None else found
    idle = wire.number(wire.get(scaler.props, "spec", "idleReplicaCount"))
    return minimum if idle is None else min(minimum, idle)


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects pods with ``labels``."""
    if selector is None:
        return False
    sel = wire.mapping(selector)
    for key, value in wire.string_map(sel.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in wire.items(sel.get("matchExpressions")):
        e = wire.mapping(expression)
        key, operator = wire.text(e.get("key")), wire.text(e.get("operator"))
        values = {str(v) for v in wire.items(e.get("values"))}
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not ok:
            return False
    return True


def budgets_for(workload: Workload, resources: list[PolicyResource]) -> list[PolicyResource]:
    """PodDisruptionBudgets in the workload's namespace that select its pods."""
    return [
        r
        for r in resources
        if kind_of(r.resource_type) == "PodDisruptionBudget"
        and _namespace(r.props) == workload.namespace
        and selector_matches(wire.get(r.props, "spec", "selector"), workload.pod_labels)
    ]


def _blocks_all_disruption(pdb: PolicyResource, replicas: float) -> bool:
    spec = wire.mapping(pdb.props.get("spec"))
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        return wire.text(max_unavailable).strip() in ("0", "0%") or wire.number(max_unavailable) == 0
    if isinstance(min_available, str) and min_available.endswith("%"):
        return min_available.strip() == "100%"
    minimum = wire.number(min_available)
    return minimum is not None and minimum >= replicas


# --- minimum replicas --------------------------------------------------------------------------------------------------

_REPLICAS_SCHEMA = schema(
    minReplicas={"type": "integer", "minimum": 1, "default": 2, "description": "Fewest replicas a Deployment/StatefulSet may run."},
    allowScaleToZero={
        "type": "boolean",
        "default": False,
        "description": "A KEDA ScaledObject may scale its workload to zero (a model idle outside its active hours); "
        "once it holds replicas, its minimum is checked as usual.",
    },
    **_EXEMPT,
)


def _check_min_replicas(args: StackValidationArgs, report: ReportViolation) -> None:
    values = settings(args, _REPLICAS_SCHEMA)
    required = setting_number(values, "minReplicas", 2)
    to_zero = setting_flag(values, "allowScaleToZero", False)
    for workload in workloads(args.resources, values):
        minimum = minimum_replicas(workload, args.resources)
        scaler = autoscaler_for(workload, args.resources)
        if to_zero and minimum == 0 and scaler is not None and kind_of(scaler.resource_type) == "ScaledObject":
            continue
        if minimum < required:
            scaled = autoscaler_for(workload, args.resources) is not None
            report(
                message(
                    workload.subject,
                    f"can run as few as {minimum:g} replica(s), below the {required:g} this environment requires to survive "
                    "a node or zone loss",
                    f"set {'the autoscaler minimum (HPA minReplicas, ScaledObject minReplicaCount)' if scaled else 'spec.replicas'} "
                    f"to at least {required:g}",
                    f"models[].replicas.min or mlflow.replicas of at least {required:g} (guardrails.min_replicas)",
                ),
                workload.resource.urn,
            )


min_replicas = StackValidationPolicy(
    name="k8s-min-replicas",
    description="Deployments and StatefulSets run at least the environment's minimum replicas (HPA minReplicas when autoscaled).",
    validate=_check_min_replicas,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_REPLICAS_SCHEMA,
)


# --- PodDisruptionBudget -----------------------------------------------------------------------------------------------

_PDB_SCHEMA = schema(**_EXEMPT)


def _check_disruption_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    values = settings(args, _PDB_SCHEMA)
    for workload in workloads(args.resources, values):
        budgets = budgets_for(workload, args.resources)
        if not budgets:
            report(
                message(
                    workload.subject,
                    "has no PodDisruptionBudget, so a node drain or cluster upgrade can evict every replica at once",
                    f"add a policy/v1 PodDisruptionBudget in namespace '{workload.namespace}' whose selector matches the pod "
                    "labels, with maxUnavailable: 1",
                ),
                workload.resource.urn,
            )
            continue
        minimum = minimum_replicas(workload, args.resources)
        for pdb in budgets:
            if _blocks_all_disruption(pdb, minimum):
                report(
                    message(
                        workload.subject,
                        f"its PodDisruptionBudget '{pdb.name}' allows no voluntary disruption, which blocks node drains and upgrades",
                        "use maxUnavailable: 1 (or a minAvailable below the replica count)",
                    ),
                    workload.resource.urn,
                )


pod_disruption_budget = StackValidationPolicy(
    name="k8s-pod-disruption-budget",
    description="Every Deployment/StatefulSet has a PodDisruptionBudget that still allows node drains.",
    validate=_check_disruption_budget,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_PDB_SCHEMA,
)


# --- zone spread -------------------------------------------------------------------------------------------------------

_SPREAD_SCHEMA = schema(
    topologyKeys={
        "type": "array",
        "items": {"type": "string"},
        "default": ZONE_KEYS,
        "description": "Node labels that count as zone spread.",
    },
    **_EXEMPT,
)


def spreads_across(pod_spec: Mapping[str, Any], keys: list[str]) -> bool:
    """Whether the pod spec spreads replicas over ``keys`` (topologySpreadConstraints or pod anti-affinity)."""
    for constraint in wire.items(pod_spec.get("topologySpreadConstraints")):
        if wire.text(wire.get(constraint, "topologyKey")) in keys:
            return True
    anti = wire.mapping(wire.get(pod_spec, "affinity", "podAntiAffinity"))
    terms = [*wire.items(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))]
    terms += [wire.get(t, "podAffinityTerm") for t in wire.items(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))]
    return any(wire.text(wire.get(term, "topologyKey")) in keys for term in terms)


def _check_zone_spread(args: StackValidationArgs, report: ReportViolation) -> None:
    values = settings(args, _SPREAD_SCHEMA)
    keys = setting_strings(values, "topologyKeys", ZONE_KEYS)
    for workload in workloads(args.resources, values):
        if not spreads_across(workload.pod_spec, keys):
            report(
                message(
                    workload.subject,
                    "does not spread its replicas across zones, so one zone outage can take all of them",
                    f"add a topologySpreadConstraint with topologyKey {keys[0] if keys else ZONE_KEYS[0]}, maxSkew: 1, "
                    "whenUnsatisfiable: ScheduleAnyway and a labelSelector matching the pod labels",
                ),
                workload.resource.urn,
            )


zone_spread = StackValidationPolicy(
    name="k8s-zone-spread",
    description="Deployments/StatefulSets spread their replicas across availability zones.",
    validate=_check_zone_spread,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SPREAD_SCHEMA,
)


POLICIES: list[AnyPolicy] = [min_replicas, pod_disruption_budget, zone_spread]
