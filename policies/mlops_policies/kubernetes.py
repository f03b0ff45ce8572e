"""Kubernetes resource policies: container resources, GPUs, images, security context, host access, exposure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .settings import AnyPolicy, message, schema, setting_flag, setting_strings, setting_text, settings

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob", "Pod")
GPU_RESOURCE_PREFIXES = ("nvidia.com/", "amd.com/gpu", "gpu.intel.com/")
GPU_TAINT_KEY = "nvidia.com/gpu"
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


def _workload(
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


# --- requests and limits -------------------------------------------------------------------------------------------


_RESOURCES_SCHEMA = schema(exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY)


def _check_container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args, _RESOURCES_SCHEMA)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    for label, container in containers(pod_spec):
        requests = wire.mapping(wire.get(container, "resources", "requests"))
        limits = wire.mapping(wire.get(container, "resources", "limits"))
        missing = [
            f"{kind}.{res}"
            for kind, values in (("requests", requests), ("limits", limits))
            for res in ("cpu", "memory")
            if res not in values
        ]
        if missing:
            report(
                message(
                    f"{label} of {subject}",
                    f"no {', '.join(missing)}: the scheduler cannot place it reliably and it can starve its neighbours",
                    "set resources.requests and resources.limits for both cpu and memory (limits at or above the requests)",
                ),
                None,
            )
        for res in ("cpu", "memory"):
            request, limit = wire.quantity(requests.get(res)), wire.quantity(limits.get(res))
            if request is not None and limit is not None and request > limit:
                report(
                    message(
                        f"{label} of {subject}",
                        f"requests.{res} ({requests.get(res)}) exceeds limits.{res} ({limits.get(res)}), which the API server rejects",
                        f"raise limits.{res} to at least requests.{res}",
                    ),
                    None,
                )


container_resources = ResourceValidationPolicy(
    name="k8s-container-resources",
    description="Every container declares CPU and memory requests and limits.",
    validate=_check_container_resources,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_RESOURCES_SCHEMA,
)


# --- GPU requests equal limits ---------------------------------------------------------------------------------------


def _check_gpu_requests(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    for label, container in containers(pod_spec):
        for name, (request, limit) in gpu_resources(container).items():
            request_n, limit_n = wire.quantity(request), wire.quantity(limit)
            if limit is None:
                report(
                    message(
                        f"{label} of {subject}",
                        f"requests {name} ({request}) without a limit; extended resources are allocated by their limit",
                        f"set resources.limits['{name}'] to the same whole number as the request",
                    ),
                    None,
                )
            elif request is not None and request_n != limit_n:
                report(
                    message(
                        f"{label} of {subject}",
                        f"requests.{name} ({request}) differs from limits.{name} ({limit}); GPUs cannot be overcommitted",
                        f"make requests['{name}'] equal to limits['{name}'] (or omit the request)",
                    ),
                    None,
                )
            elif limit_n is None or limit_n != int(limit_n) or limit_n < 0:
                report(
                    message(
                        f"{label} of {subject}",
                        f"{name} is '{limit}', not a whole number of devices",
                        f"set limits['{name}'] to a whole number such as 1",
                    ),
                    None,
                )


gpu_requests_equal_limits = ResourceValidationPolicy(
    name="k8s-gpu-requests-equal-limits",
    description="GPU resources (nvidia.com/gpu, MIG slices) are requested as whole devices with requests equal to limits.",
    validate=_check_gpu_requests,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- pinned images -----------------------------------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_SCHEMA = schema(
    requireDigest={"type": "boolean", "default": True, "description": "Require every image to be pinned by @sha256 digest."},
    forbiddenTags={
        "type": "array",
        "items": {"type": "string"},
        "default": ["latest"],
        "description": "Floating tags that are never allowed.",
    },
    exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY,
)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``repo:tag`` or ``repo:tag@digest``), or None when it has none."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_problem(image: str, require_digest: bool, forbidden_tags: list[str]) -> str | None:
    """Why an image reference is not pinned, or None when it is."""
    tag = image_tag(image)
    has_digest = bool(_DIGEST.search(image))
    if tag is not None and tag.lower() in {t.lower() for t in forbidden_tags}:
        return f"image '{image}' uses the floating tag '{tag}'"
    if require_digest and not has_digest:
        return f"image '{image}' is not pinned by digest"
    if tag is None and not has_digest:
        return f"image '{image}' has neither tag nor digest, so it means ':latest'"
    return None


def _check_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args, _IMAGE_SCHEMA)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    values = settings(args, _IMAGE_SCHEMA)
    require_digest = setting_flag(values, "requireDigest", True)
    forbidden = setting_strings(values, "forbiddenTags", ["latest"])
    for label, container in containers(pod_spec):
        image = wire.text(container.get("image"))
        problem = image_problem(image, require_digest, forbidden) if image else "no image"
        if problem:
            fix = (
                "pin the image by digest: '<registry>/<repo>:<version>@sha256:<digest>' (e.g. from `crane digest`)"
                if require_digest
                else "pin the image to an immutable version tag (and by @sha256 digest where possible)"
            )
            where = "the image's `digest` (serving.triton_image, serving.sync_image, monitoring.pushgateway_image, ...)"
            report(message(f"{label} of {subject}", problem, fix, where if require_digest else None), None)


image_pinned = ResourceValidationPolicy(
    name="k8s-image-pinned",
    description="Container images are pinned: never `latest` or untagged, and by digest where the environment requires it.",
    validate=_check_images,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_IMAGE_SCHEMA,
)


# --- restricted security context ---------------------------------------------------------------------------------------

_ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}
_SECCOMP_OK = {"RuntimeDefault", "Localhost"}


def _security_problems(pod_spec: Mapping[str, Any], container: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(problem, fix) pairs that break the Pod Security Standards "restricted" profile for one container."""
    pod_ctx = wire.mapping(pod_spec.get("securityContext"))
    ctx = wire.mapping(container.get("securityContext"))
    problems: list[tuple[str, str]] = []
    if wire.flag(ctx.get("privileged")):
        problems.append(("runs privileged", "remove securityContext.privileged"))
    if wire.flag(ctx.get("allowPrivilegeEscalation")) is not False:
        problems.append(("does not set allowPrivilegeEscalation: false", "set securityContext.allowPrivilegeEscalation: false"))
    non_root = wire.flag(ctx.get("runAsNonRoot"))
    if non_root is None:
        non_root = wire.flag(pod_ctx.get("runAsNonRoot"))
    run_as_user = wire.number(ctx.get("runAsUser") if ctx.get("runAsUser") is not None else pod_ctx.get("runAsUser"))
    if non_root is not True:
        problems.append(("may run as root (runAsNonRoot is not true)", "set securityContext.runAsNonRoot: true (pod or container)"))
    if run_as_user == 0:
        problems.append(("runs as UID 0", "set securityContext.runAsUser to a non-zero UID"))
    capabilities = wire.mapping(ctx.get("capabilities"))
    dropped = {str(c).upper() for c in wire.items(capabilities.get("drop"))}
    if "ALL" not in dropped:
        problems.append(("does not drop all capabilities", "set securityContext.capabilities.drop: [ALL]"))
    added = {str(c).upper() for c in wire.items(capabilities.get("add"))} - _ALLOWED_ADDED_CAPABILITIES
    if added:
        problems.append((f"adds capabilities {sorted(added)}", "add back at most NET_BIND_SERVICE"))
    seccomp = wire.text(wire.get(ctx, "seccompProfile", "type")) or wire.text(wire.get(pod_ctx, "seccompProfile", "type"))
    if seccomp not in _SECCOMP_OK:
        problems.append(
            (
                f"has seccomp profile '{seccomp or 'unset'}'",
                "set securityContext.seccompProfile.type: RuntimeDefault (pod or container)",
            )
        )
    return problems


_SECURITY_SCHEMA = schema(exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY)


def _check_security_context(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args, _SECURITY_SCHEMA)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    for label, container in containers(pod_spec):
        problems = _security_problems(pod_spec, container)
        if problems:
            report(
                message(
                    f"{label} of {subject}",
                    "breaks the restricted Pod Security Standard: " + "; ".join(p for p, _ in problems),
                    "; ".join(f for _, f in problems),
                ),
                None,
            )


restricted_security_context = ResourceValidationPolicy(
    name="k8s-restricted-security-context",
    description="Containers meet the Pod Security Standards 'restricted' profile (non-root, no escalation, no capabilities, seccomp).",
    validate=_check_security_context,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SECURITY_SCHEMA,
)


# --- host access -------------------------------------------------------------------------------------------------------


_HOST_SCHEMA = schema(exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY)


def _check_host_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args, _HOST_SCHEMA)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if wire.flag(pod_spec.get(field)):
            report(
                message(subject, f"sets {field}: true, sharing the node's namespaces", f"remove {field}; expose ports through a Service"),
                None,
            )
    for volume in wire.items(pod_spec.get("volumes")):
        if wire.mapping(volume).get("hostPath") is not None:
            report(
                message(
                    subject,
                    f"mounts the node's filesystem through hostPath volume '{wire.text(wire.get(volume, 'name'))}'",
                    "use an emptyDir, a ConfigMap/Secret or a PersistentVolumeClaim instead of hostPath",
                ),
                None,
            )
    for label, container in containers(pod_spec):
        for port in wire.items(container.get("ports")):
            if wire.mapping(port).get("hostPort") is not None:
                report(
                    message(
                        f"{label} of {subject}",
                        f"binds hostPort {wire.get(port, 'hostPort')} on the node",
                        "remove hostPort and expose the port through a Service",
                    ),
                    None,
                )


no_host_access = ResourceValidationPolicy(
    name="k8s-no-host-access",
    description="Pods do not use the host's network, PID or IPC namespaces, hostPath volumes or host ports.",
    validate=_check_host_access,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_HOST_SCHEMA,
)


# --- GPU toleration ----------------------------------------------------------------------------------------------------

_TOLERATION_SCHEMA = schema(
    gpuTaintKey={"type": "string", "default": GPU_TAINT_KEY, "description": "The taint key every GPU node pool carries."},
)


def tolerates(pod_spec: Mapping[str, Any], key: str, effect: str = "NoSchedule") -> bool:
    """Whether the pod tolerates a ``key`` taint with ``effect`` (any value)."""
    for toleration in wire.items(pod_spec.get("tolerations")):
        t = wire.mapping(toleration)
        t_key, operator, t_effect = wire.text(t.get("key")), wire.text(t.get("operator")) or "Equal", wire.text(t.get("effect"))
        if t_effect and t_effect != effect:
            continue
        if (not t_key and operator == "Exists") or t_key == key:
            return True
    return False


def _check_gpu_toleration(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    key = setting_text(settings(args, _TOLERATION_SCHEMA), "gpuTaintKey", GPU_TAINT_KEY)
    if uses_gpu(pod_spec) and not tolerates(pod_spec, key):
        report(
            message(
                subject,
                f"requests GPUs but does not tolerate the '{key}:NoSchedule' taint of the GPU pools, so it stays Pending",
                f"add the toleration {{key: {key}, operator: Exists, effect: NoSchedule}} to the pod spec",
            ),
            None,
        )


gpu_toleration = ResourceValidationPolicy(
    name="k8s-gpu-toleration",
    description="Pods that request GPUs tolerate the GPU node pools' taint.",
    validate=_check_gpu_toleration,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_TOLERATION_SCHEMA,
)


# --- LoadBalancer services ---------------------------------------------------------------------------------------------

INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
TLS_LB_ANNOTATIONS = ("service.beta.kubernetes.io/aws-load-balancer-ssl-cert",)
_LB_SCHEMA = schema(
    gatewayAnnotation={
        "type": "string",
        "default": "mlops.platform/behind-gateway",
        "description": 'Annotation (value "true") marking a LoadBalancer Service as the gateway\'s own TLS-terminating entry point.',
    },
    allowInternal={"type": "boolean", "default": True, "description": "Allow internal (private) load balancers."},
)


def _check_load_balancer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if kind_of(args.resource_type) != "Service" or wire.text(wire.get(args.props, "spec", "type")) != "LoadBalancer":
        return
    values = settings(args, _LB_SCHEMA)
    gateway_key = setting_text(values, "gatewayAnnotation", "mlops.platform/behind-gateway")
    annotations = {k: v.lower() for k, v in wire.string_map(wire.get(args.props, "metadata", "annotations")).items()}
    if annotations.get(gateway_key) == "true" or any(annotations.get(k) for k in TLS_LB_ANNOTATIONS):
        return
    if setting_flag(values, "allowInternal", True) and any(annotations.get(k) == v for k, v in INTERNAL_LB_ANNOTATIONS.items()):
        return
    report(
        message(
            describe("Service", args.props, args.name),
            "is a public LoadBalancer that bypasses the gateway and its TLS termination",
            "use type ClusterIP and route through the gateway (Ingress/HTTPRoute), or make it internal with the cloud's "
            f'internal-LB annotation, or annotate the gateway\'s own TLS-terminating Service with {gateway_key}: "true"',
        ),
        None,
    )


no_public_load_balancer = ResourceValidationPolicy(
    name="k8s-no-public-load-balancer",
    description="No Service of type LoadBalancer is exposed publicly except behind the gateway/TLS.",
    validate=_check_load_balancer,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_LB_SCHEMA,
)


POLICIES: list[AnyPolicy] = [
    container_resources,
    gpu_requests_equal_limits,
    image_pinned,
    restricted_security_context,
    no_host_access,
    gpu_toleration,
    no_public_load_balancer,
]
