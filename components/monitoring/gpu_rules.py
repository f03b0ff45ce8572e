"""``gpu.rules.yaml``: GPU saturation alerts, from the DCGM exporter (``DCGM_FI_DEV_GPU_UTIL``, on MIG
``DCGM_FI_PROF_GR_ENGINE_ACTIVE``; ``DCGM_FI_DEV_FB_USED`` / ``_FREE``)."""

from __future__ import annotations

from typing import Any

from .alert_catalogue import alert_rule
from .spec import AlertSpec


def gpu_group(spec: AlertSpec) -> dict[str, Any]:
    """Utilisation and memory saturation per GPU (or MIG instance), at the stack's thresholds."""
    by = "Hostname, gpu, modelName"
    util = spec.alerting.gpu_utilization_percent
    memory = spec.alerting.gpu_memory_percent
    return {
        "name": "mlops-gpu",
        "rules": [
            alert_rule(
                spec,
                "GpuUtilizationSaturated",
                f"(\n  max by ({by}) (DCGM_FI_DEV_GPU_UTIL)\nor\n  max by ({by}) (DCGM_FI_PROF_GR_ENGINE_ACTIVE) * 100\n) > {util}",
                "3m",
                "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is saturated",
                f"GPU utilisation above {util}% for 3 minutes: requests queue behind it; scale the model out or the pool up.",
            ),
            alert_rule(
                spec,
                "GpuMemorySaturated",
                f"max by ({by}) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) * 100 > {memory}",
                "3m",
                "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is running out of memory",
                f"More than {memory}% of the GPU's memory is in use for 3 minutes: the next model load or batch may fail.",
            ),
        ],
    }
