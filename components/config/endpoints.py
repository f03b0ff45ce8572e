"""Models served by the cloud's managed service: SageMaker, Vertex AI or Azure ML.

One cloud-neutral declaration per endpoint. What each cloud can and cannot do with it (canary, linear
shifting, automatic rollback, shadow traffic, scale to zero, data capture, private networking) is the
capability matrix in ``components/catalog/endpoint_capabilities.py``; the cross-section checks reject every
combination the stack's cloud does not support, before any resource is registered.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import DnsLabel, Issue, StrictModel, raise_issues

_PINNED_IMAGE = re.compile(r"^[a-z0-9][-a-z0-9._/:]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")

MODEL_URI_PREFIXES = {"aws": "s3://", "gcp": "gs://", "azure": "azureml:"}
"""Where each cloud's managed service reads model artifacts from."""

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
"""Memory sizes a SageMaker serverless variant can have (1-6 GB in 1 GB steps)."""


def image_issues(field: str, image: str) -> list[Issue]:
    """An image reference must be pinned by tag or digest, and never to `latest`."""
    if not _PINNED_IMAGE.match(image) or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
        return [(field, image, "an image reference pinned by tag or digest, e.g. repo/image:1.2.3")]
    if image.split("@", 1)[0].endswith(":latest"):
        return [(field, image, "a pinned tag or digest, not 'latest'")]
    return []


def model_uri_issues(field: str, uri: str) -> list[Issue]:
    if not any(uri.startswith(p) for p in MODEL_URI_PREFIXES.values()):
        return [(field, uri, "s3://..., gs://... or azureml:<name>:<version>")]
    if uri.startswith("azureml:") and not re.match(r"^azureml:(//registries/[^/]+/models/[^/]+/versions/\d+|[A-Za-z0-9][-\w.]*:\d+)$", uri):
        return [(field, uri, "a pinned Azure ML model: azureml:<name>:<version> or azureml://registries/<r>/models/<name>/versions/<n>")]
    return []


class InstanceRange(StrictModel):
    """Instance bounds of the endpoint's autoscaling."""

    min: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Minimum instances; 0 means scale to zero, which only some clouds offer (see the capability matrix). Default: 1.",
    )
    max: int = Field(default=1, ge=1, le=100, description="Maximum instances. Default: 1.")

    @model_validator(mode="after")
    def _ordered(self) -> InstanceRange:
        if self.min > self.max:
            raise_issues([("min", self.min, f"at most max ({self.max})")])
        return self


class Autoscaling(StrictModel):
    """Target tracking between `instances.min` and `instances.max`."""

    metric: Literal["invocations_per_instance", "utilization"] | None = Field(
        default=None,
        description="What to track: `invocations_per_instance` (requests per instance per minute) or `utilization` "
        "(accelerator duty cycle, or CPU without accelerators). Default: the cloud's native metric: "
        "`invocations_per_instance` on aws, `utilization` on gcp and azure.",
    )
    target: int = Field(
        default=70,
        ge=1,
        le=100000,
        description="Target value per instance: invocations per minute, or percent (1-100) for `utilization`. Default: 70.",
    )

    @model_validator(mode="after")
    def _percent(self) -> Autoscaling:
        if self.metric == "utilization" and self.target > 100:
            raise_issues([("target", self.target, "a percentage (1-100) for metric 'utilization'")])
        return self


class TrafficShift(StrictModel):
    """How a change of the live model or image takes over traffic, with automatic rollback on alarms."""

    mode: Literal["all_at_once", "canary", "linear"] = Field(default="canary", description="Shift strategy. Default: `canary`.")
    step_percent: int = Field(
        default=10, ge=1, le=50, description="Canary size or linear step, in percent of capacity (1-50). Default: 10."
    )
    wait_minutes: int = Field(
        default=10,
        ge=0,
        le=60,
        description="Time between steps, in minutes. SageMaker bakes under its rollback alarms; on Vertex AI it is a fixed "
        "pause that measures nothing (no alarm-driven rollback there). Default: 10.",
    )
    auto_rollback: bool = Field(
        default=True,
        description="Roll back automatically when the error-rate or latency alarm fires while traffic shifts or bakes. Default: true.",
    )
    max_error_percent: float = Field(
        default=1.0, gt=0, le=100, description="Rollback alarm: server errors (5xx) in percent of invocations per minute. Default: 1.0."
    )
    max_p99_latency_ms: int = Field(
        default=1000, ge=1, le=3_600_000, description="Rollback alarm: p99 model latency in milliseconds. Default: 1000."
    )


class CandidateVersion(StrictModel):
    """A second model version behind the same endpoint: a weighted canary or a shadow."""

    model_uri: str = Field(description="Model artifact of the candidate, same scheme as the endpoint's `model_uri`. Required.")
    image: str | None = Field(default=None, description="Serving image of the candidate, pinned. Default: the endpoint's `image`.")
    percent: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Canary: percent of live traffic the candidate answers (1-50). Shadow: percent of requests copied to it "
        "(responses discarded). Default: 10.",
    )
    instances: int = Field(default=1, ge=1, le=100, description="Instances of the candidate. Default: 1.")

    @model_validator(mode="after")
    def _consistent(self) -> CandidateVersion:
        issues = model_uri_issues("model_uri", self.model_uri)
        if self.image is not None:
            issues += image_issues("image", self.image)
        raise_issues(issues)
        return self


class DataCapture(StrictModel):
    """Request/response capture for monitoring and retraining."""

    enabled: bool = Field(default=True, description="Capture requests and responses. Default: true.")
    sampling_percent: int = Field(default=20, ge=1, le=100, description="Percent of requests captured. Default: 20.")
    retention_days: int = Field(
        default=90, ge=1, le=3650, description="Days captured data is kept (bucket lifecycle / table expiration). Default: 90."
    )


class EndpointNetwork(StrictModel):
    """Where the endpoint is reachable from and where its containers may connect to."""

    private: bool = Field(
        default=False,
        description="Serve privately: VPC-attached containers with network isolation (aws), Private Service Connect (gcp), "
        "no public inbound or outbound access (azure). Default: false.",
    )
    subnet_ids: list[str] = Field(
        default_factory=list, description="aws only: private subnets of the model containers. Required when `private` is true on aws."
    )
    security_group_ids: list[str] = Field(
        default_factory=list,
        description="aws only: security groups of the model containers. Required when `private` is true on aws.",
    )


class Serverless(StrictModel):
    """SageMaker serverless inference: no instances, billed per request, CPU only."""

    memory_mb: int = Field(default=2048, description="Memory of each concurrent invocation: 1024-6144 in 1024 steps. Default: 2048.")
    max_concurrency: int = Field(default=5, ge=1, le=200, description="Concurrent invocations (1-200). Default: 5.")

    @model_validator(mode="after")
    def _memory(self) -> Serverless:
        if self.memory_mb not in SERVERLESS_MEMORY_MB:
            raise_issues([("memory_mb", self.memory_mb, f"one of {', '.join(map(str, SERVERLESS_MEMORY_MB))}")])
        return self


class ManagedEndpointConfig(StrictModel):
    """One model on the cloud's managed inference service."""

    name: DnsLabel = Field(description="Endpoint name, unique in the stack. Required.")
    model_uri: str = Field(
        description="Model artifact: `s3://...` (SageMaker), `gs://...` (Vertex AI) or `azureml:<name>:<version>` (Azure ML). Required."
    )
    image: str = Field(description="Serving container image, pinned by tag and/or digest (never `latest`). Required.")
    instance_type: str | None = Field(
        default=None,
        min_length=3,
        description="Instance type, e.g. `ml.g5.xlarge`, `g2-standard-8`, `Standard_NC4as_T4_v3`; must have a price in the "
        "endpoint offer table. Required unless `serverless` is set.",
    )
    instances: InstanceRange = Field(default_factory=InstanceRange, description="Autoscaling bounds. Default: 1-1.")
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling, description="Target tracking. Default: the cloud's native metric, target 70."
    )
    traffic_shift: TrafficShift | None = Field(
        default=None,
        description="How a change of `model_uri` or `image` is rolled out (canary or linear shifting, auto-rollback). "
        "Default: none: the cloud's plain update, all at once.",
    )
    canary: CandidateVersion | None = Field(
        default=None, description="A candidate version answering `percent` of live traffic (1-50). Default: none."
    )
    shadow: CandidateVersion | None = Field(
        default=None, description="A candidate version receiving a copy of `percent` of the requests. Default: none."
    )
    data_capture: DataCapture = Field(default_factory=DataCapture, description="Data capture. Default: on, 20 %, kept 90 days.")
    network: EndpointNetwork = Field(default_factory=EndpointNetwork, description="Networking. Default: public endpoint, IAM auth.")
    serverless: Serverless | None = Field(
        default=None, description="aws only: SageMaker serverless inference instead of instances (CPU only). Default: none."
    )
    kms_key: str | None = Field(
        default=None,
        description="Customer-managed key: a KMS key ARN (aws) or a Cloud KMS key name (gcp). Default: a key the endpoint "
        "creates (aws), Google-managed encryption (gcp); azure uses the workspace's encryption.",
    )
    workspace: str | None = Field(
        default=None,
        description="azure only: the Azure ML workspace (in `cloud.resource_group`) that holds the registered model. Required on azure.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ManagedEndpointConfig:
        issues: list[Issue] = image_issues("image", self.image) + model_uri_issues("model_uri", self.model_uri)
        if self.instance_type is None and self.serverless is None:
            issues.append(("instance_type", None, "an instance type: required unless serverless is set"))
        if self.instance_type is not None and self.serverless is not None:
            issues.append(("instance_type", self.instance_type, "not set: a serverless endpoint has no instances"))
        if self.serverless is not None and "instances" in self.model_fields_set:
            issues.append(
                (
                    "instances",
                    self.instances.model_dump(),
                    "not set: a serverless endpoint has no instances (use serverless.max_concurrency)",
                )
            )
        if self.canary is not None and self.canary.percent > 50:
            issues.append(("canary.percent", self.canary.percent, "at most 50: a canary answers a minority of live traffic"))
        for role, candidate in (("canary", self.canary), ("shadow", self.shadow)):
            if candidate is not None and candidate.model_uri == self.model_uri and (candidate.image or self.image) == self.image:
                issues.append((f"{role}.model_uri", candidate.model_uri, "a different model or image than the live version"))
        raise_issues(issues)
        return self

    @property
    def candidates(self) -> dict[str, CandidateVersion]:
        """The declared candidate versions by role (`canary`, `shadow`)."""
        return {role: c for role, c in (("canary", self.canary), ("shadow", self.shadow)) if c is not None}
