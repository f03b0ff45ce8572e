"""Scheduling onto GPU nodes: pods that request GPUs tolerate the GPU node pools' taint (k8s-gpu-toleration)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import uses_gpu, workload_of
from .settings import AnyPolicy, message, schema, setting_text, settings

GPU_TAINT_KEY = "nvidia.com/gpu"

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
    workload = workload_of(args)
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


POLICIES: list[AnyPolicy] = [gpu_toleration]
