"""Pod hardening: the restricted Pod Security Standard (k8s-restricted-security-context) and no host namespaces,
paths or ports (k8s-no-host-access)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import EXEMPT_NAMESPACES_PROPERTY, containers, workload_of
from .settings import AnyPolicy, message, schema

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
    workload = workload_of(args, _SECURITY_SCHEMA)
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
    workload = workload_of(args, _HOST_SCHEMA)
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


POLICIES: list[AnyPolicy] = [restricted_security_context, no_host_access]
