"""Models served by NVIDIA Triton on the platform's Kubernetes cluster."""

from __future__ import annotations

import math
import re
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from .base import CpuQuantity, DnsLabel, Issue, MemoryQuantity, PinnedVersion, StrictModel, chart_source_issues, raise_issues
from .monitoring import ContainerResources

_REPO_URI = re.compile(
    r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?"
    r"|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?"
    r"|as://[a-z0-9]{3,24}/[a-z0-9](-?[a-z0-9])+(/.*)?)$"
)

REPOSITORY_SCHEMES = {"aws": "s3://", "gcp": "gs://", "azure": "as://", "kubernetes": "s3://"}
"""The object-store URI scheme of each cloud, in Triton's own spelling (`as://` is Azure Storage;
`kubernetes` reads an S3-compatible store)."""


DataType = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16", "STRING"
]
Backend = Literal["onnxruntime", "tensorrt", "pytorch", "tensorflow", "python"]


class TensorSpec(StrictModel):
    """One model input or output as Triton declares it."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$", description="Tensor name as the model names it. Required.")
    data_type: DataType = Field(description="Element type, Triton's `TYPE_*` without the prefix, e.g. `FP32`. Required.")
    dims: list[int] = Field(
        min_length=1,
        description="Shape without the batch dimension; -1 marks a variable dimension. Required.",
    )

    @model_validator(mode="after")
    def _dims(self) -> TensorSpec:
        bad = [d for d in self.dims if d == 0 or d < -1]
        if bad:
            raise_issues([("dims", self.dims, "positive sizes, or -1 for a variable dimension")])
        return self


class DynamicBatching(StrictModel):
    """Server-side batching of concurrent requests."""

    preferred_batch_sizes: list[int] = Field(
        default_factory=list, description="Batch sizes the scheduler aims for, each at most `max_batch_size`. Default: none."
    )
    max_queue_delay_us: int = Field(
        default=100, ge=0, le=1_000_000, description="Longest a request waits for a batch to fill, in microseconds. Default: 100."
    )


class Replicas(StrictModel):
    """Replica bounds; the autoscaler moves between them."""

    min: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Minimum replicas; 0 scales the model to zero when it is idle outside `autoscaling.active_hours` "
        "(where guardrails.allow_scale_to_zero). Default: 1.",
    )
    max: int = Field(default=1, ge=1, le=100, description="Maximum replicas. Default: 1.")

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise_issues([("min", self.min, f"at most max ({self.max})")])
        return self


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?-]+$")


class ActiveHours(StrictModel):
    """When a model that may scale to zero (`replicas.min: 0`) keeps at least one replica.

    KEDA's cron trigger holds one replica from `start` until `end`; outside the window the model scales
    to zero once its Triton signal has read 0 for `cooldown_seconds`, and it comes back at the next
    `start`. The gateway cannot wake it earlier: at zero replicas Envoy Gateway answers the model's route
    itself (HTTP 500), so no per-model request signal exists to activate on.
    """

    start: str = Field(description="Cron expression (minute hour day-of-month month day-of-week) that opens the window. Required.")
    end: str = Field(description="Cron expression that closes the window. Required.")
    timezone: str = Field(default="UTC", description="IANA time zone both expressions are read in, e.g. `Europe/Berlin`. Default: `UTC`.")

    @model_validator(mode="after")
    def _valid(self) -> ActiveHours:
        import zoneinfo

        issues: list[Issue] = []
        for field in ("start", "end"):
            value = getattr(self, field)
            parts = value.split()
            if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
                issues.append((field, value, "a cron expression of five fields: minute hour day-of-month month day-of-week"))
        if self.start.split() == self.end.split():
            issues.append(("end", self.end, "a time other than start"))
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            issues.append(("timezone", self.timezone, "an IANA time zone name such as UTC or Europe/Berlin"))
        raise_issues(issues)
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

    cpu_utilization: int | None = Field(
        default=80,
        ge=10,
        le=100,
        description="CPU utilisation target (percent) of a second trigger, which needs the cluster's resource metrics "
        "(metrics-server); null scales on the Triton signal alone. Default: 80.",
    )
    cooldown_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Stabilisation before scaling down: the largest replica count proposed in this window wins; with "
        "`replicas.min: 0` also how long the signal must read 0 before the model scales to zero. Default: 300.",
    )
    active_hours: ActiveHours | None = Field(
        default=None,
        description="`replicas.min: 0` only, and required there: the window in which the model keeps one replica. Default: none.",
    )

    @model_validator(mode="after")
    def _target_range(self) -> Autoscaling:
        if self.metric == "gpu_utilization" and self.target > 100:
            raise_issues([("target", self.target, "a percentage between 1 and 100 for gpu_utilization")])
        return self


ReleaseMode = Literal["canary", "linear", "ab", "mirror", "blue_green", "all_at_once"]


class HeaderMatch(StrictModel):
    """A request header (or cookie) that sends a request to the candidate during an `ab` release."""

    header: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$", description="Header name; set this or `cookie`. Default: none."
    )
    cookie: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$", description="Cookie name; set this or `header`. Default: none."
    )
    value: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[^\s\\\"]+$",
        description="The exact header value, or the cookie's value (a request whose cookie has it is routed). Required.",
    )

    @model_validator(mode="after")
    def _one(self) -> HeaderMatch:
        if (self.header is None) == (self.cookie is None):
            raise_issues([("header", self.header, "exactly one of header or cookie")])
        return self


class Release(StrictModel):
    """How a new `version` of the model reaches traffic: Flagger releases it.

    Changing `version` makes `pulumi up` update the model's Deployment. Flagger starts that
    version beside the primary (the version serving now), runs the acceptance test, then moves
    traffic by `mode`, checking the candidate's Triton error ratio, p99 latency and queue time every
    `interval_seconds`. After `threshold` failed checks it rolls back (all traffic to the primary);
    when every step passes it promotes the candidate to primary.
    """

    mode: ReleaseMode = Field(
        default="canary",
        description="`canary`: the weights in `steps`; `linear`: `step_percent` more each interval up to `max_percent`; "
        "`ab`: requests matching `match` go to the candidate for `iterations` intervals; `mirror`: a copy of every request "
        "goes to the candidate (answers discarded) for `iterations`, then all traffic switches; `blue_green`: the candidate "
        "is checked for `iterations` with only the acceptance test's traffic, then all traffic switches (the one mode without "
        "a gateway); `all_at_once`: promoted once ready, no analysis (models that may scale to zero). Default: `canary`.",
    )
    steps: list[int] = Field(
        default_factory=lambda: [5, 10, 25],
        min_length=1,
        max_length=20,
        description="`canary`: the candidate's traffic share at each step, in percent, increasing, each 1-99 (the policy pack "
        "allows at most 25 in canary and prod). Default: 5, 10, 25.",
    )
    step_percent: int = Field(default=10, ge=1, le=50, description="`linear`: traffic added per interval, in percent. Default: 10.")
    max_percent: int = Field(
        default=50, ge=1, le=100, description="`linear`: the share after which the candidate is promoted. Default: 50."
    )
    iterations: int = Field(
        default=10, ge=1, le=1000, description="`ab`, `mirror`, `blue_green`: intervals the candidate is checked for. Default: 10."
    )
    match: list[HeaderMatch] = Field(
        default_factory=list,
        max_length=8,
        description="`ab`: requests that go to the candidate; any one matching suffices. Required for `ab`.",
    )
    interval_seconds: int = Field(default=60, ge=10, le=3600, description="Time between checks (and steps). Default: 60.")
    threshold: int = Field(default=5, ge=1, le=100, description="Failed checks after which the candidate is rolled back. Default: 5.")
    max_error_rate: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Check: the candidate's Triton failure ratio over the interval stays at most this. Default: 0.01.",
    )
    max_p99_latency_ms: int | None = Field(
        default=None,
        ge=1,
        le=3_600_000,
        description="Check: the candidate's p99 request latency in ms. Default: the model's `slo.p99_latency_ms`.",
    )
    max_queue_ms: float | None = Field(
        default=None, gt=0, le=60_000, description="Check: the candidate's mean queue time per request in ms. Default: not checked."
    )
    acceptance_test: bool = Field(
        default=True,
        description="Before any traffic, Flagger's load tester sends the candidate one inference request built from `inputs`; "
        "a failure stops the release. Default: true.",
    )
    confirm_promotion: bool | None = Field(
        default=None,
        description="Hold a candidate that passed every check until someone opens its gate on Flagger's load tester "
        "(README: Releasing a model version). Default: true in prod, else false.",
    )

    @property
    def plan(self) -> str:
        """The release in a line, as the stack outputs show it: e.g. `canary 5/10/25% every 60s, rollback after 5 failed checks`."""
        if self.mode == "all_at_once":
            return "all_at_once: promoted once ready, no analysis"
        traffic = {
            "canary": "canary " + "/".join(str(s) for s in self.steps) + "%",
            "linear": f"linear +{self.step_percent}% to {self.max_percent}%",
            "ab": f"ab on {len(self.match)} match(es) for {self.iterations} checks",
            "mirror": f"mirror for {self.iterations} checks",
            "blue_green": f"blue_green for {self.iterations} checks",
        }[self.mode]
        return f"{traffic} every {self.interval_seconds}s, rollback after {self.threshold} failed checks"

    def confirms(self, environment: str) -> bool:
        """Whether promotion waits for a person: as configured, else in prod only."""
        return self.confirm_promotion if self.confirm_promotion is not None else environment == "prod"

    @model_validator(mode="after")
    def _consistent(self) -> Release:
        issues: list[Issue] = []
        if self.mode == "canary":
            if any(not 1 <= s <= 99 for s in self.steps) or self.steps != sorted(set(self.steps)):
                issues.append(("steps", self.steps, "strictly increasing percentages between 1 and 99"))
        elif "steps" in self.model_fields_set:
            issues.append(("steps", self.steps, "not set: steps apply to mode canary"))
        if self.mode == "linear" and self.max_percent < self.step_percent:
            issues.append(("max_percent", self.max_percent, f"at least step_percent ({self.step_percent})"))
        if self.mode == "ab" and not self.match:
            issues.append(("match", [], "at least one header or cookie: mode ab sends only matching requests to the candidate"))
        if self.mode != "ab" and self.match:
            issues.append(("match", "set", "not set: matches apply to mode ab"))
        raise_issues(issues)
        return self


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
    release: Release = Field(
        default_factory=Release, description="How a new `version` reaches traffic (Flagger). Default: canary at 5, 10, 25 %."
    )
    slo: Slo = Field(default_factory=Slo, description="Objectives for alerting. Default: 99.9 % availability, p99 500 ms.")
    backend: Backend = Field(default="onnxruntime", description="Triton backend that runs the model. Default: `onnxruntime`.")
    max_batch_size: int = Field(default=8, ge=0, le=4096, description="Largest batch Triton forms; 0 disables batching. Default: 8.")
    inputs: list[TensorSpec] = Field(min_length=1, description="Model inputs. Required.")
    outputs: list[TensorSpec] = Field(min_length=1, description="Model outputs. Required.")
    dynamic_batching: DynamicBatching | None = Field(
        default_factory=DynamicBatching, description="Dynamic batching; null turns it off. Default: on, 100 us queue delay."
    )
    instances_per_gpu: int = Field(
        default=1, ge=1, le=8, description="Model instances per GPU (or on CPU when gpus_per_replica is 0). Default: 1."
    )
    load_timeout_seconds: int = Field(
        default=600, ge=30, le=3600, description="Time a replica may take to download and load the model before it restarts. Default: 600."
    )
    cpu: CpuQuantity = Field(default="2", description="CPU request and limit of the Triton container. Default: `2`.")
    memory: MemoryQuantity = Field(default="8Gi", description="Memory request and limit of the Triton container. Default: `8Gi`.")

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
        if self.gpus_per_replica == 0 and self.autoscaling.metric == "gpu_utilization":
            issues.append(
                (
                    "autoscaling.metric",
                    "gpu_utilization",
                    "queue_time or inference_rate: a CPU-only model exports no GPU metrics to scale on",
                )
            )
        if self.replicas.min == 0 and self.autoscaling.active_hours is None:
            issues.append(
                (
                    "autoscaling.active_hours",
                    None,
                    "a window (start, end) when replicas.min is 0: the schedule is what brings the model back from zero",
                )
            )
        if self.replicas.min > 0 and self.autoscaling.active_hours is not None:
            issues.append(("autoscaling.active_hours", "set", "not set: active hours apply to a model with replicas.min 0 only"))
        if self.replicas.min == 0 and self.release.mode != "all_at_once":
            issues.append(
                (
                    "release.mode",
                    self.release.mode,
                    "all_at_once when replicas.min is 0: a model idle at zero replicas has no traffic to judge a candidate on",
                )
            )
        if self.dynamic_batching is not None:
            if self.max_batch_size == 0:
                issues.append(("dynamic_batching", "on", "null: dynamic batching needs max_batch_size > 0"))
            for size in self.dynamic_batching.preferred_batch_sizes:
                if not 1 <= size <= self.max_batch_size:
                    issues.append(
                        ("dynamic_batching.preferred_batch_sizes", size, f"sizes between 1 and max_batch_size ({self.max_batch_size})")
                    )
        names = [t.name for t in [*self.inputs, *self.outputs]]
        for name in sorted({n for n in names if names.count(n) > 1}):
            issues.append(("outputs", name, "tensor names unique across inputs and outputs"))
        raise_issues(issues)
        return self

    @property
    def scales_to_zero(self) -> bool:
        """Idle outside its active hours, the model holds no replica and no GPU."""
        return self.replicas.min == 0

    @property
    def autoscales(self) -> bool:
        """The replica count can move: an HPA scales the stable track on the model's Triton signal."""
        return self.replicas.max > self.replicas.min

    @property
    def p99_limit_ms(self) -> int:
        """The release's p99 check: its own limit, else the model's objective."""
        return self.release.max_p99_latency_ms or self.slo.p99_latency_ms

    @property
    def candidate_replicas(self) -> int:
        """Replicas the candidate of a release may reach. Flagger starts it at `replicas.min` (at least 1); its own
        ScaledObject then scales it on its own signal, which follows the share of traffic it gets: the largest step
        (`canary`, `linear`), all of it (`ab`, whose matching share is unknown; `mirror`, a copy of everything), or only
        the acceptance test's (`blue_green`, `all_at_once`)."""
        share = {
            "canary": self.release.steps[-1] / 100,
            "linear": self.release.max_percent / 100,
            "ab": 1.0,
            "mirror": 1.0,
        }.get(self.release.mode, 0.0)
        return max(self.replicas.min, 1, math.ceil(self.replicas.max * share))

    def gpus_needed(self) -> int:
        """GPUs the model may hold at once: during a release, the primary at full scale with the surge pod of its
        rolling update at promotion (maxSurge 1), and the candidate (``candidate_replicas``; it starts from zero, so
        it has no surge pod). The pool capacity check and the serving namespace's GPU quota both use this, so a
        release the quota admits also fits the pool."""
        return self.gpus_per_replica * (self.replicas.max + 1 + self.candidate_replicas)


class ImageRef(StrictModel):
    """A container image pinned by tag, and by digest where the environment requires it."""

    repository: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]*(:\d+)?(/[a-z0-9._-]+)+$|^[a-z0-9._-]+(/[a-z0-9._-]+)*$", description="Image repository. Required."
    )
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image tag (never `latest`). Required.")
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[a-f0-9]{64}$",
        description="Image digest; required where guardrails.require_image_digest. Default: none.",
    )

    @model_validator(mode="after")
    def _not_latest(self) -> ImageRef:
        if self.tag == "latest":
            raise_issues([("tag", self.tag, "a pinned tag, not 'latest'")])
        return self

    @property
    def reference(self) -> str:
        """`repository:tag[@digest]`, as a pod spec takes it."""
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


def _image(repository: str, tag: str) -> Any:
    return lambda: ImageRef(repository=repository, tag=tag)


TRITON_IMAGE: Final = ImageRef(repository="nvcr.io/nvidia/tritonserver", tag="24.10-py3")
"""The pinned Triton server image: the default of `serving.triton_image` and of `TritonDeploymentArgs.triton_image`."""
SYNC_IMAGE: Final = ImageRef(repository="rclone/rclone", tag="1.68.2")
"""The pinned image of the init container that copies the model version: the default of `serving.sync_image` and of
`TritonDeploymentArgs.sync_image`."""
GATEWAY_CONTROLLER_NAMESPACE: Final = "envoy-gateway-system"
"""Envoy Gateway's namespace, where its proxies run: the default of `serving.gateway.controller_namespace` and of
`ModelRoute.gateway_namespace`."""


class GatewayConfig(StrictModel):
    """The API gateway in front of every model: Gateway API routes on Envoy Gateway."""

    enabled: bool = Field(default=True, description="Expose the models through the gateway. Default: true.")
    gateway_class: str = Field(
        default="eg", min_length=1, description="GatewayClass of the cluster's gateway controller. Default: `eg` (Envoy Gateway)."
    )
    hostname: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$",
        description="Host name of the inference API. Required when enabled.",
    )
    tls_secret: str = Field(
        default="inference-tls",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Secret with the TLS certificate (e.g. from cert-manager). Default: `inference-tls`.",
    )
    auth: Literal["jwt", "none"] = Field(
        default="jwt", description="Client authentication: `jwt` (OIDC tokens) or `none` (dev only). Default: `jwt`."
    )
    jwt_issuer: str | None = Field(default=None, pattern=r"^https://", description="`jwt` only: token issuer. Required for `jwt`.")
    jwt_jwks_uri: str | None = Field(default=None, pattern=r"^https://", description="`jwt` only: JWKS URI. Required for `jwt`.")
    jwt_audiences: list[str] = Field(default_factory=list, description="`jwt` only: accepted audiences. Default: any.")
    controller_namespace: str = Field(
        default=GATEWAY_CONTROLLER_NAMESPACE,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of the gateway's proxies; only they may reach Triton's HTTP and gRPC ports. "
        f"Default: `{GATEWAY_CONTROLLER_NAMESPACE}`.",
    )
    rate_limit_rps: int = Field(
        default=50,
        ge=1,
        le=100000,
        description="Requests per second per client: per value of `rate_limit_claim` with `jwt`, else per client IP. Default: 50.",
    )
    rate_limit_claim: str = Field(
        default="sub",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="`jwt` only: the token claim (dots for a nested one, e.g. `azp` or `realm.client`) that tells clients "
        "apart for the rate limit. Default: `sub`.",
    )
    rate_limit_ip_rps: int | None = Field(
        default=None,
        ge=1,
        le=1000000,
        description="`jwt` only: requests per second per client IP, over all tokens: bounds a token without the claim "
        "and a client that rotates tokens; set it above the traffic of the largest NAT in front of the gateway. "
        "Default: 10 x `rate_limit_rps`.",
    )
    max_request_mb: int = Field(default=16, ge=1, le=1024, description="Largest request body in MiB. Default: 16.")
    request_timeout_seconds: int = Field(default=30, ge=1, le=3600, description="Upstream request timeout in seconds. Default: 30.")

    @model_validator(mode="after")
    def _auth_fields(self) -> GatewayConfig:
        issues: list[Issue] = []
        if self.enabled and self.hostname is None:
            issues.append(("hostname", None, "the inference API's host name: required when the gateway is enabled"))
        if self.auth == "jwt" and self.enabled:
            for field in ("jwt_issuer", "jwt_jwks_uri"):
                if getattr(self, field) is None:
                    issues.append((field, None, "a value: required when auth is 'jwt'"))
        elif self.auth != "jwt" and (self.jwt_issuer or self.jwt_jwks_uri or self.jwt_audiences):
            issues.append(("auth", self.auth, "'jwt' when jwt_* fields are set"))
        if self.auth != "jwt":
            for field in sorted({"rate_limit_claim", "rate_limit_ip_rps"} & self.model_fields_set):
                issues.append((field, getattr(self, field), "not set: without jwt auth the gateway limits per client IP"))
        raise_issues(issues)
        return self


def _default_keda_resources() -> ContainerResources:
    return ContainerResources(cpu_request="100m", memory_request="128Mi", cpu_limit="1", memory_limit="1Gi")


class KedaConfig(StrictModel):
    """KEDA, which scales the autoscaling models' Deployments from Prometheus queries on Triton's signals.

    KEDA serves the external metrics API (`v1beta1.external.metrics.k8s.io`), one per cluster: where
    stacks share a cluster, one installs KEDA and the others set `install: false`.
    """

    install: bool = Field(
        default=True,
        description="Install KEDA's chart when a model autoscales; false where the cluster already runs KEDA (another "
        "stack's, or the cluster owner's). Default: true.",
    )
    namespace: DnsLabel = Field(default="keda", description="Namespace of KEDA. Default: `keda`.")
    chart: str = Field(
        default="keda",
        min_length=1,
        description="Chart name in `repository`, an `oci://` reference, or a local chart path (air-gapped clusters). Default: `keda`.",
    )
    repository: str | None = Field(
        default="https://kedacore.github.io/charts",
        description="Helm repository URL; null when `chart` is an OCI reference or a local path. Default: KEDA's chart repository.",
    )
    version: str = Field(
        default="2.20.2",
        pattern=r"^v?\d+\.\d+\.\d+$",
        description="Pinned chart version; its images are KEDA's release of the same version. Default: `2.20.2`.",
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Operator and metrics API server replicas (the operator runs one leader). Default: guardrails.min_replicas.",
    )
    resources: ContainerResources = Field(
        default_factory=_default_keda_resources,
        description="Resources of each KEDA container. Default: 100m / 128Mi requested, 1 CPU / 1Gi limits.",
    )
    prometheus_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/:]+(:\d+)?/?$",
        description="Prometheus the models' triggers query (`http(s)://host[:port]`). Default: the monitoring stack's Prometheus.",
    )
    polling_interval_seconds: int = Field(
        default=15, ge=1, le=300, description="How often KEDA evaluates each model's triggers. Default: 15."
    )

    @model_validator(mode="after")
    def _chart_source(self) -> KedaConfig:
        raise_issues(chart_source_issues(self.chart, self.repository))
        return self


def _default_flagger_resources() -> ContainerResources:
    return ContainerResources(cpu_request="50m", memory_request="64Mi", cpu_limit="1", memory_limit="512Mi")


class FlaggerConfig(StrictModel):
    """Flagger, which releases every model version: canary analysis on Triton's metrics, promotion and rollback.

    One Flagger per cluster serves every namespace it is pointed at; where stacks share a cluster, each
    installs its own into its own namespace, watching only its serving namespace.
    """

    install: bool = Field(
        default=True,
        description="Install Flagger's chart; false where the cluster already runs one that "
        "watches the serving namespace with the Gateway API provider. Default: true.",
    )
    namespace: DnsLabel = Field(default="flagger", description="Namespace of Flagger and its load tester. Default: `flagger`.")
    chart: str = Field(
        default="flagger",
        min_length=1,
        description="Chart name in `repository`, an `oci://` reference, or a local chart path (air-gapped clusters). Default: `flagger`.",
    )
    repository: str | None = Field(
        default="https://flagger.app",
        description="Helm repository URL; null when `chart` is an OCI reference or a local path. Default: Flagger's chart repository.",
    )
    version: str = Field(
        default="1.36.1",
        pattern=r"^v?\d+\.\d+\.\d+$",
        description="Pinned chart version; its image is Flagger's release of the same version. Default: `1.36.1`.",
    )
    loadtester_version: str = Field(
        default="0.31.0",
        pattern=r"^v?\d+\.\d+\.\d+$",
        description="Pinned version of the load tester's chart (`loadtester` in the same repository). Default: `0.31.0`.",
    )
    resources: ContainerResources = Field(
        default_factory=_default_flagger_resources,
        description="Resources of Flagger's container. Default: 50m / 64Mi requested, 1 CPU / 512Mi limits.",
    )
    prometheus_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/:]+(:\d+)?/?$",
        description="Prometheus the release checks query (`http(s)://host[:port]`). Default: the monitoring stack's Prometheus.",
    )

    @model_validator(mode="after")
    def _chart_source(self) -> FlaggerConfig:
        raise_issues(chart_source_issues(self.chart, self.repository))
        return self


class ServingConfig(StrictModel):
    """How models are served: images, the gateway, KEDA and Flagger."""

    triton_image: ImageRef = Field(
        default_factory=lambda: TRITON_IMAGE,
        description=f"Triton server image. Default: `{TRITON_IMAGE.reference}`.",
    )
    sync_image: ImageRef = Field(
        default_factory=lambda: SYNC_IMAGE,
        description="Image of the init container that copies the pinned model version from object storage. "
        f"Default: `{SYNC_IMAGE.reference}`.",
    )
    loadtester_image: ImageRef = Field(
        default_factory=_image("ghcr.io/fluxcd/flagger-loadtester", "0.31.0"),
        description="Flagger's load tester, which runs each model's acceptance test (curl) and holds the promotion gates. "
        "Default: `ghcr.io/fluxcd/flagger-loadtester:0.31.0`, the release of its chart.",
    )
    gateway: GatewayConfig = Field(default_factory=lambda: GatewayConfig(enabled=False), description="API gateway. Default: disabled.")
    keda: KedaConfig = Field(
        default_factory=KedaConfig,
        description="KEDA, which scales every model (a fixed size is a ScaledObject with equal bounds). Default: installed.",
    )
    flagger: FlaggerConfig = Field(
        default_factory=lambda: FlaggerConfig(),
        description="Flagger, which releases each new model version. Default: installed.",
    )
