"""Models served by the cloud's managed service: SageMaker, Vertex AI or Azure ML."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import DnsLabel, Issue, StrictModel, raise_issues

_PINNED_IMAGE = re.compile(r"^[a-z0-9][-a-z0-9._/:]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")

MODEL_URI_PREFIXES = {"aws": "s3://", "gcp": "gs://", "azure": "azureml:"}
"""Where each cloud's managed service reads model artifacts from."""


class InstanceRange(StrictModel):
    """Instance bounds of the endpoint's autoscaling."""

    min: int = Field(default=1, ge=1, le=100, description="Minimum instances. Default: 1.")
    max: int = Field(default=1, ge=1, le=100, description="Maximum instances. Default: 1.")

    @model_validator(mode="after")
    def _ordered(self) -> InstanceRange:
        if self.min > self.max:
            raise_issues([("min", self.min, f"at most max ({self.max})")])
        return self


class TrafficShift(StrictModel):
    """How a new model version takes over traffic, with automatic rollback on alarms."""

    mode: Literal["all_at_once", "canary", "linear"] = Field(default="canary", description="Shift strategy. Default: `canary`.")
    step_percent: int = Field(
        default=10, ge=1, le=50, description="Canary size or linear step, in percent of capacity (1-50). Default: 10."
    )
    wait_minutes: int = Field(default=10, ge=0, le=60, description="Bake time between steps, in minutes. Default: 10.")


class DataCapture(StrictModel):
    """Request/response capture for monitoring and retraining."""

    enabled: bool = Field(default=True, description="Capture requests and responses. Default: true.")
    sampling_percent: int = Field(default=20, ge=1, le=100, description="Percent of requests captured. Default: 20.")


class ManagedEndpointConfig(StrictModel):
    """One model on the cloud's managed inference service."""

    name: DnsLabel = Field(description="Endpoint name, unique in the stack. Required.")
    model_uri: str = Field(
        description="Model artifact: `s3://...` (SageMaker), `gs://...` (Vertex AI) or `azureml:<name>:<version>` (Azure ML). Required."
    )
    image: str = Field(description="Serving container image, pinned by tag and/or digest (never `latest`). Required.")
    instance_type: str = Field(
        min_length=3, description="Instance type, e.g. `ml.g5.xlarge`, `g2-standard-8`, `Standard_NC4as_T4_v3`. Required."
    )
    instances: InstanceRange = Field(default_factory=InstanceRange, description="Autoscaling bounds. Default: 1-1.")
    traffic_shift: TrafficShift = Field(default_factory=TrafficShift, description="Release strategy. Default: canary 10 %, 10 min.")
    data_capture: DataCapture = Field(default_factory=DataCapture, description="Data capture. Default: on, 20 %.")

    @model_validator(mode="after")
    def _consistent(self) -> ManagedEndpointConfig:
        issues: list[Issue] = []
        if not _PINNED_IMAGE.match(self.image) or (":" not in self.image.rsplit("/", 1)[-1] and "@" not in self.image):
            issues.append(("image", self.image, "an image reference pinned by tag or digest, e.g. repo/image:1.2.3"))
        elif self.image.split("@", 1)[0].endswith(":latest"):
            issues.append(("image", self.image, "a pinned tag or digest, not 'latest'"))
        if not any(self.model_uri.startswith(p) for p in MODEL_URI_PREFIXES.values()):
            issues.append(("model_uri", self.model_uri, "s3://..., gs://... or azureml:<name>:<version>"))
        raise_issues(issues)
        return self
