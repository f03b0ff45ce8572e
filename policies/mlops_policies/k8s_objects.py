"""Reading Kubernetes objects off the wire, for the policies of every group: kinds, names, pod templates, containers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs

from . import wire
from .settings import setting_strings, settings

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob", "Pod")
GPU_RESOURCE_PREFIXES = ("nvidia.com/", "amd.com/gpu", "gpu.intel.com/")
SYSTEM_NAMESPACES = ["kube-system", "gpu-operator"]
"""Namespaces of vendor operators that need host access by design (the NVIDIA GPU Operator's daemonsets)."""
EXEMPT_NAMESPACES_PROPERTY: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": SYSTEM_NAMESPACES,
    "description": "Namespaces of vendor system components this policy does not apply to.",
}
RENDERED_PARENT_TYPES = ("kubernetes:helm.sh/", "kubernetes:yaml")


def kind_of(resource_type: str) -> str | None:
    """The Kubernetes kind of a ``kubernetes:<group>/<version>:<Kind>`` type; None for other types and patches."""
    if not resource_type.startswith("kubernetes:") or resource_type.count(":") != 2:
        return None
    kind = resource_type.rsplit(":", 1)[1]
    return None if kind.endswith("Patch") or resource_type.startswith("kubernetes:helm.sh/") else kind


def describe(kind: str, props: Mapping[str, Any], fallback_name: str) -> str:
    """``Kind 'namespace/name'`` of an object, using the Pulumi name when metadata.name is left to auto-naming."""
    name = wire.text(wire.get(props, "metadata", "name")) or fallback_name
    namespace = wire.text(wire.get(props, "metadata", "namespace"))
    return f"{kind} '{namespace}/{name}'" if namespace else f"{kind} '{name}'"


def namespace_of(props: Mapping[str, Any]) -> str:
    """metadata.namespace, or "default" when the provider's default namespace applies."""
    return wire.text(wire.get(props, "metadata", "namespace")) or "default"


def rendered_by_chart(parent: str | None) -> bool:
    """Whether a resource's parent (a URN) is a Helm chart or YAML component: a third-party manifest, not one we author."""
    if not parent or parent.count("::") < 3:
        return False
    parent_type = parent.split("::", 3)[2].rsplit("$", 1)[-1]
    return parent_type.startswith(RENDERED_PARENT_TYPES)


def pod_template(resource_type: str, props: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(pod spec, pod metadata) of a workload object, or None when the object runs no pods."""
    kind = kind_of(resource_type)
    if kind not in WORKLOAD_KINDS:
        return None
    if kind == "Pod":
        return wire.mapping(props.get("spec")), wire.mapping(props.get("metadata"))
    template = wire.get(props, "spec", "jobTemplate", "spec", "template") if kind == "CronJob" else wire.get(props, "spec", "template")
    return wire.mapping(wire.get(template, "spec")), wire.mapping(wire.get(template, "metadata"))


def containers(pod_spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, container) for every container and init container of a pod spec."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for field, label in (("initContainers", "init container"), ("containers", "container")):
        for container in wire.items(pod_spec.get(field)):
            spec = wire.mapping(container)
            found.append((f"{label} '{wire.text(spec.get('name')) or '?'}'", spec))
    return found


def gpu_resources(container: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """GPU extended resources of a container: name -> (request, limit), either possibly None."""
    requests = wire.mapping(wire.get(container, "resources", "requests"))
    limits = wire.mapping(wire.get(container, "resources", "limits"))
    names = sorted({k for k in [*requests, *limits] if k.startswith(GPU_RESOURCE_PREFIXES)})
    return {name: (requests.get(name), limits.get(name)) for name in names}


def uses_gpu(pod_spec: Mapping[str, Any]) -> bool:
    """Whether any container of the pod asks for a GPU."""
    return any(gpu_resources(c) for _, c in containers(pod_spec))


def workload_of(
    args: ResourceValidationArgs, config_schema: PolicyConfigSchema | None = None
) -> tuple[str, Mapping[str, Any], Mapping[str, Any]] | None:
    """(subject, pod spec, pod metadata) of a workload the policy applies to; None for other objects and exempt namespaces."""
    found = pod_template(args.resource_type, args.props)
    if found is None:
        return None
    if config_schema is not None and "exemptNamespaces" in config_schema.properties:
        exempt = setting_strings(settings(args, config_schema), "exemptNamespaces", SYSTEM_NAMESPACES)
        if namespace_of(args.props) in exempt:
            return None
    kind = kind_of(args.resource_type) or "object"
    return describe(kind, args.props, args.name), found[0], found[1]
