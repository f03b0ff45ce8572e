"""GPU node pools: the hardware every GPU workload of the platform lands on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..catalog.gpus import GPUS, GpuType
from .base import DnsLabel, Issue, Labels, StrictModel, chart_source_issues, raise_issues

GPU_TAINT_KEY = "nvidia.com/gpu"


class Taint(StrictModel):
    """A node taint, in Kubernetes spelling; each cloud adapter translates the effect."""

    key: str = Field(min_length=1, max_length=253, description="Taint key. Required.")
    value: str = Field(default="present", max_length=63, description="Taint value. Default: `present`.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="Kubernetes taint effect. Default: `NoSchedule`."
    )


def _default_taints() -> list[Taint]:
    return [Taint(key=GPU_TAINT_KEY)]


class GpuSharing(StrictModel):
    """How the GPUs of a node are shared between pods."""

    mode: Literal["none", "time_slicing", "mps", "mig"] = Field(
        default="none",
        description="`none` (one pod per GPU), `time_slicing`, `mps` (CUDA Multi-Process Service) "
        "or `mig` (Multi-Instance GPU partitions). Default: `none`.",
    )
    replicas: int | None = Field(
        default=None,
        ge=2,
        le=48,
        description="`time_slicing` and `mps` only: pods that share one GPU (2-48). Required for those modes.",
    )
    profile: str | None = Field(
        default=None,
        description="`mig` only: the MIG profile every GPU is partitioned into, e.g. `1g.10gb`. Required for `mig`.",
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> GpuSharing:
        issues: list[Issue] = []
        needs_replicas = self.mode in ("time_slicing", "mps")
        if needs_replicas and self.replicas is None:
            issues.append(("replicas", None, f"an integer 2-48: required when mode is '{self.mode}'"))
        if not needs_replicas and self.replicas is not None:
            issues.append(("replicas", self.replicas, f"not set: it does not apply to mode '{self.mode}'"))
        if self.mode == "mig" and self.profile is None:
            issues.append(("profile", None, "a MIG profile such as '1g.10gb': required when mode is 'mig'"))
        if self.mode != "mig" and self.profile is not None:
            issues.append(("profile", self.profile, f"not set: it does not apply to mode '{self.mode}'"))
        raise_issues(issues)
        return self


class GpuPoolConfig(StrictModel):
    """One GPU node pool, described once for every cloud."""

    name: DnsLabel = Field(description="Pool name, unique in the stack; prefixes every resource of the pool. Required.")
    gpu_type: GpuType = Field(description="GPU model, e.g. `nvidia-l4` or `nvidia-a100-80gb`. Required.")
    gpus_per_node: int = Field(default=1, ge=1, le=8, description="GPUs on each node (1-8). Default: 1.")
    min_nodes: int = Field(default=0, ge=0, le=1000, description="Minimum nodes; 0 lets the pool scale to zero. Default: 0.")
    max_nodes: int = Field(ge=1, le=1000, description="Maximum nodes; bounds both scaling and worst-case cost. Required.")
    desired_nodes: int | None = Field(
        default=None,
        ge=0,
        description="Nodes at creation; the autoscaler owns the count afterwards. Default: `min_nodes`.",
    )
    capacity: Literal["on_demand", "spot"] = Field(
        default="on_demand", description="`on_demand` or `spot` (interruptible, cheaper). Default: `on_demand`."
    )
    zones: list[str] = Field(
        default_factory=list,
        description="Zones of the stack's region to place nodes in (`us-east-1a` on aws, `us-central1-a` on gcp, `1`-`3` "
        "on azure); on aws and gcp each must offer the pool's instance type (with its GPUs on gcp), where the catalog "
        "lists the region. Default: empty, meaning the cluster's zones.",
    )
    labels: Labels = Field(default_factory=dict, description="Extra node labels. Default: none.")
    taints: list[Taint] = Field(
        default_factory=_default_taints,
        description="Node taints. Default: `nvidia.com/gpu=present:NoSchedule`, so only pods that "
        "tolerate it (GPU workloads) land on the pool.",
    )
    disk_gb: int = Field(
        default=200, ge=50, le=4096, description="Node root disk in GiB; holds container images and model caches. Default: 200."
    )
    sharing: GpuSharing = Field(default_factory=GpuSharing, description="GPU sharing. Default: `mode: none`.")
    node_image: Literal["al2023", "bottlerocket"] | None = Field(
        default=None,
        description="aws only: the EKS-optimized NVIDIA image, Amazon Linux 2023 or Bottlerocket. Default: `al2023`.",
    )
    gke_gpu_driver: Literal["default", "latest"] | None = Field(
        default=None,
        description="gcp only: the NVIDIA driver GKE installs: `default`, the version GKE pairs with the node version (it "
        "changes only with a node upgrade), or `latest`, which can change whenever nodes are recreated (refused where "
        "guardrails.require_image_digest). Default: `default`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> GpuPoolConfig:
        issues: list[Issue] = []
        if self.min_nodes > self.max_nodes:
            issues.append(("min_nodes", self.min_nodes, f"at most max_nodes ({self.max_nodes})"))
        if self.desired_nodes is not None and not self.min_nodes <= self.desired_nodes <= self.max_nodes:
            issues.append(("desired_nodes", self.desired_nodes, f"between min_nodes ({self.min_nodes}) and max_nodes ({self.max_nodes})"))
        if self.sharing.mode == "mig":
            profiles = GPUS[self.gpu_type].mig_profiles
            if not profiles:
                issues.append(("sharing.mode", "mig", f"a GPU that supports MIG; {self.gpu_type} does not (use time_slicing or mps)"))
            elif self.sharing.profile not in profiles:
                issues.append(("sharing.profile", self.sharing.profile, f"one of {', '.join(profiles)} for {self.gpu_type}"))
        if len(set(self.zones)) != len(self.zones):
            issues.append(("zones", self.zones, "distinct zones"))
        raise_issues(issues)
        return self

    @property
    def initial_nodes(self) -> int:
        """Node count at creation."""
        return self.min_nodes if self.desired_nodes is None else self.desired_nodes

    @property
    def schedulable_gpus_per_node(self) -> int:
        """GPU resources a node advertises to the scheduler once sharing is applied."""
        if self.sharing.mode in ("time_slicing", "mps") and self.sharing.replicas:
            return self.gpus_per_node * self.sharing.replicas
        if self.sharing.mode == "mig" and self.sharing.profile:
            slices = int(self.sharing.profile.split("g.", 1)[0])
            return self.gpus_per_node * (7 // slices)
        return self.gpus_per_node


class GpuOperatorConfig(StrictModel):
    """The NVIDIA GPU Operator: device plugin, DCGM exporter, sharing and MIG configuration in the cluster.

    EKS and AKS nodes come with the driver but not the device plugin, so the operator runs there
    with its driver (and on EKS its container toolkit) disabled; GKE installs drivers and its own
    device plugin and reads sharing from the node pool, so it needs no operator.
    """

    mode: Literal["auto", "enabled", "disabled"] = Field(
        default="auto",
        description="`auto` deploys it on aws and azure when gpu_pools are declared; `enabled` / `disabled` force it. Default: `auto`.",
    )
    chart: str = Field(
        default="gpu-operator",
        min_length=1,
        description="Chart name in `repository`, an `oci://` reference, or a local chart path (air-gapped clusters). "
        "Default: `gpu-operator`.",
    )
    repository: str | None = Field(
        default="https://helm.ngc.nvidia.com/nvidia",
        description="Helm repository URL; null when `chart` is an OCI reference or a local path. Default: NVIDIA's NGC repository.",
    )
    version: str = Field(default="v25.3.4", pattern=r"^v?\d+\.\d+\.\d+$", description="Pinned chart version. Default: `v25.3.4`.")
    namespace: DnsLabel = Field(default="gpu-operator", description="Namespace of the operator. Default: `gpu-operator`.")

    @model_validator(mode="after")
    def _source(self) -> GpuOperatorConfig:
        raise_issues(chart_source_issues(self.chart, self.repository))
        return self
