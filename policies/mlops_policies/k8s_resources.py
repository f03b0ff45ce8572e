"""What containers ask of a node: CPU and memory requests and limits (k8s-container-resources), GPUs as whole
devices with requests equal to limits (k8s-gpu-requests-equal-limits)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import EXEMPT_NAMESPACES_PROPERTY, containers, gpu_resources, workload_of
from .settings import AnyPolicy, message, schema

# --- requests and limits -------------------------------------------------------------------------------------------


_RESOURCES_SCHEMA = schema(exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY)


def _check_container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args, _RESOURCES_SCHEMA)
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
    workload = workload_of(args)
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


POLICIES: list[AnyPolicy] = [container_resources, gpu_requests_equal_limits]
