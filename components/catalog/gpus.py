"""GPU facts that do not depend on the cloud.

Source: NVIDIA data sheets and the NVIDIA Multi-Instance GPU User Guide, section
"Supported MIG Profiles" (docs.nvidia.com/datacenter/tesla/mig-user-guide), read 2026-11.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GpuType = Literal[
    "nvidia-t4",
    "nvidia-l4",
    "nvidia-a10g",
    "nvidia-a100-40gb",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
]


@dataclass(frozen=True)
class GpuModel:
    """One GPU model: memory per GPU and the MIG profiles it can be partitioned into."""

    memory_gib: int
    mig_profiles: tuple[str, ...] = ()


GPUS: dict[str, GpuModel] = {
    "nvidia-t4": GpuModel(memory_gib=16),
    "nvidia-l4": GpuModel(memory_gib=24),
    "nvidia-a10g": GpuModel(memory_gib=24),
    "nvidia-a100-40gb": GpuModel(memory_gib=40, mig_profiles=("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")),
    "nvidia-a100-80gb": GpuModel(memory_gib=80, mig_profiles=("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    "nvidia-h100-80gb": GpuModel(memory_gib=80, mig_profiles=("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
}
