"""Models served by NVIDIA Triton on the platform's Kubernetes cluster."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import DnsLabel, Issue, PinnedVersion, StrictModel, raise_issues

_REPO_URI = re.compile(
    r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?"
    r"|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?"
    r"|as://[a-z0-9]{3,24}/[a-z0-9](-?[a-z0-9])+(/.*)?)$"
)

REPOSITORY_SCHEMES = {"aws": "s3://", "gcp": "gs://", "azure": "as://"}
"""The object-store URI scheme of each cloud, in Triton's own spelling (`as://` is Azure Storage)."""


class Replicas(StrictModel):
    """Replica bounds; the autoscaler moves between them."""

    min: int = Field(default=1, ge=1, le=100, description="Minimum replicas (at least 1). Default: 1.")
    max: int = Field(default=1, ge=1, le=100, description="Maximum replicas. Default: 1.")

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise_issues([("min", self.min, f"at most max ({self.max})")])
        return self


class Autoscaling(StrictModel):
    """Scaling on Triton's own signals rather than CPU."""

    metric: Literal["queue_time", "inference_rate", "gpu_utilization"] = Field(
        default="queue_time",
        description="Signal to scale on: average queue time per request, inferences per second per "
        "replica, or GPU utilisation. Default: `queue_time`.",
    )
    target: float = Field(
        default=50.0,
        gt=0,
        description="Target value per replica: milliseconds for `queue_time`, requests per second for "
        "`inference_rate`, percent (1-100) for `gpu_utilization`. Default: 50.",
    )

    @model_validator(mode="after")
    def _target_range(self) -> Autoscaling:
        if self.metric == "gpu_utilization" and self.target > 100:
            raise_issues([("target", self.target, "a percentage between 1 and 100 for gpu_utilization")])
        return self


class Canary(StrictModel):
    """A candidate model version that receives a share of traffic until it is promoted or rolled back."""

    version: PinnedVersion = Field(description="The candidate version. Required.")
    weight: int = Field(default=10, ge=1, le=50, description="Percent of requests sent to the candidate (1-50). Default: 10.")
    max_error_rate: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Error ratio above which the candidate is rolled back automatically. Default: 0.01.",
    )
    max_p99_latency_ms: int | None = Field(
        default=None,
        ge=1,
        description="p99 latency above which the candidate is rolled back. Default: the model's SLO latency.",
    )


class Slo(StrictModel):
    """Service-level objectives that alerting is generated from."""

    availability: float = Field(
        default=0.999, ge=0.9, lt=1, description="Fraction of requests that must succeed (0.9-0.9999...). Default: 0.999."
    )
    p99_latency_ms: int = Field(default=500, ge=1, le=60000, description="p99 request latency objective in ms. Default: 500.")


class ModelConfig(StrictModel):
    """One model served by Triton."""

    name: DnsLabel = Field(description="Model name as Triton loads it; unique in the stack. Required.")
    version: PinnedVersion = Field(description="Pinned model version (an integer; aliases such as `latest` are rejected). Required.")
    repository_uri: str = Field(
        description="Triton model repository holding the model: `s3://bucket/prefix` (aws), "
        "`gs://bucket/prefix` (gcp) or `as://account/container/prefix` (azure). Required."
    )
    gpu_pool: str | None = Field(
        default=None,
        description="Name of the GPU pool the replicas run on. Required when `gpus_per_replica` > 0.",
    )
    gpus_per_replica: int = Field(default=1, ge=0, le=8, description="GPUs per replica (0 runs on CPU nodes). Default: 1.")
    replicas: Replicas = Field(default_factory=Replicas, description="Replica bounds. Default: 1-1.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="Scaling signal. Default: queue time 50 ms.")
    canary: Canary | None = Field(default=None, description="Canary release of a candidate version. Default: none.")
    slo: Slo = Field(default_factory=Slo, description="Objectives for alerting. Default: 99.9 % availability, p99 500 ms.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        issues: list[Issue] = []
        if not _REPO_URI.match(self.repository_uri):
            issues.append(
                (
                    "repository_uri",
                    self.repository_uri,
                    "an object-store URI: s3://bucket/prefix, gs://bucket/prefix or as://account/container/prefix",
                )
            )
        if self.gpus_per_replica > 0 and self.gpu_pool is None:
            issues.append(("gpu_pool", None, "the name of a GPU pool: required when gpus_per_replica > 0"))
        if self.gpus_per_replica == 0 and self.gpu_pool is not None:
            issues.append(("gpu_pool", self.gpu_pool, "not set: a CPU-only model (gpus_per_replica 0) does not use a GPU pool"))
        if self.canary is not None and self.canary.version == self.version:
            issues.append(("canary.version", self.canary.version, f"a version other than the stable version {self.version}"))
        raise_issues(issues)
        return self

    @property
    def max_gpus(self) -> int:
        """GPUs the model can hold at full scale, canary included (the canary runs one replica)."""
        return self.gpus_per_replica * (self.replicas.max + (1 if self.canary else 0))
