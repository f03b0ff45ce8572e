"""The managed-endpoint capability matrix: what each cloud does natively, and what it cannot do.

The same table renders the README's capability matrix (``matrix_markdown``) and drives validation
(``capability_issues``): every unsupported combination is reported with why, and what to use instead,
before any resource is registered. Pure data and functions: no Pulumi or cloud SDK imports.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..catalog.offers import ENDPOINT_OFFERS, endpoint_offer
from ..config.base import Issue
from ..config.endpoints import MODEL_URI_PREFIXES, ManagedEndpointConfig

CLOUDS = ("aws", "gcp", "azure")
SERVICES = {"aws": "SageMaker", "gcp": "Vertex AI", "azure": "Azure ML"}


@dataclass(frozen=True)
class Support:
    """How one cloud provides one feature, or why it cannot and what to use instead."""

    supported: bool
    how: str
    """The native mechanism when supported; the reason when not."""
    instead: str = ""
    """What to configure instead (unsupported features only)."""


FEATURES: dict[str, str] = {
    "canary": "canary shift (`traffic_shift.mode: canary`)",
    "linear": "linear shift (`traffic_shift.mode: linear`)",
    "auto_rollback": "automatic rollback (`traffic_shift.auto_rollback`)",
    "weighted_canary": "weighted canary version (`canary`)",
    "shadow": "shadow traffic (`shadow`)",
    "scale_to_zero": "scale to zero (`instances.min: 0`)",
    "data_capture": "data capture (`data_capture`)",
    "private_network": "private networking (`network.private`)",
}
"""Feature key to its name and the config that asks for it."""

MATRIX: dict[str, dict[str, Support]] = {
    "aws": {
        "canary": Support(True, "blue/green `deployment_config`, `CANARY` traffic routing by `CAPACITY_PERCENT`, bake `wait_minutes`"),
        "linear": Support(True, "blue/green `LINEAR` traffic routing, steps of 10-50 % of capacity"),
        "auto_rollback": Support(True, "`auto_rollback_configuration` on the endpoint's CloudWatch alarms (5xx rate, p99 `ModelLatency`)"),
        "weighted_canary": Support(True, "second production variant, `initial_variant_weight`"),
        "shadow": Support(True, "`shadow_production_variants` (exactly one production variant next to it)"),
        "scale_to_zero": Support(
            True,
            "serverless variants only (`serverless`: CPU, billed per request); instance-based variants keep at least one "
            "instance (scale to zero needs inference components, which pulumi_aws 7.51 lacks)",
        ),
        "data_capture": Support(True, "`data_capture_config` to an SSE-KMS encrypted S3 bucket the endpoint owns"),
        "private_network": Support(True, "`vpc_config` (subnets, security groups) and network isolation on the model"),
    },
    "gcp": {
        "canary": Support(
            True,
            "the `VertexModelDeployment` dynamic resource: the new model is deployed next to the old one at `step_percent`, "
            "held for `wait_minutes` (a fixed pause: nothing is measured), then takes all traffic; each run converges from "
            "what the endpoint serves, so a retry finishes a run that failed half-way with nothing left deployed",
        ),
        "linear": Support(True, "the `VertexModelDeployment` dynamic resource raises the traffic split step by step"),
        "auto_rollback": Support(
            False,
            "Vertex AI has no alarm-driven rollback; the deployment resource rolls back only when a step of the release fails",
            "traffic_shift.auto_rollback: false (and watch the model's metrics during the pauses), or serve the model on SageMaker",
        ),
        "weighted_canary": Support(True, "second DeployedModel, endpoint traffic split"),
        "shadow": Support(
            False,
            "Vertex AI endpoints cannot mirror requests to a deployed model",
            "a `canary` with a small percent, or replay captured requests (data_capture) against the candidate offline",
        ),
        "scale_to_zero": Support(
            False,
            "dedicated resources keep min_replica_count >= 1 in the v1 API (scale to zero is a v1beta1 preview)",
            "instances.min: 1 on a small machine type such as n1-standard-4",
        ),
        "data_capture": Support(True, "request-response logging to a BigQuery dataset the endpoint owns (CMEK with `kms_key`)"),
        "private_network": Support(True, "Private Service Connect endpoint, allow-listed to the stack's project"),
    },
    "azure": {
        "canary": Support(
            False,
            "Azure ML does not shift traffic progressively when a deployment changes: the update replaces instances in place",
            "traffic_shift.mode: all_at_once, and release the new version as `canary` (a green deployment with its own traffic "
            "percent), promoted by a config change",
        ),
        "linear": Support(
            False,
            "Azure ML does not shift traffic progressively when a deployment changes",
            "traffic_shift.mode: all_at_once, and raise the `canary` percent in steps by config changes",
        ),
        "auto_rollback": Support(
            False,
            "Azure ML has no alarm-driven rollback of online deployments",
            "traffic_shift.auto_rollback: false; roll back by removing the `canary`",
        ),
        "weighted_canary": Support(True, "green `OnlineDeployment`, endpoint traffic map `{blue: 100-p, green: p}`"),
        "shadow": Support(True, "`mirror_traffic` to a shadow deployment (at most 50 %)"),
        "scale_to_zero": Support(
            False,
            "managed online deployments keep at least one instance",
            "instances.min: 1 on a small SKU such as Standard_DS3_v2",
        ),
        "data_capture": Support(True, "deployment data collector (request and response payloads) to the workspace's storage"),
        "private_network": Support(
            True,
            "endpoint `publicNetworkAccess` and deployment `egressPublicNetworkAccess` Disabled (the workspace's private endpoint "
            "or managed network carries the traffic)",
        ),
    },
}

NATIVE_AUTOSCALING_METRIC = {"aws": "invocations_per_instance", "gcp": "utilization", "azure": "utilization"}
AUTOSCALING_HOW = {
    "aws": "Application Auto Scaling target tracking on `SageMakerVariantInvocationsPerInstance`",
    "gcp": "Vertex autoscaling on accelerator duty cycle (CPU utilization without accelerators)",
    "azure": "Azure Monitor autoscale on the deployment's `CpuUtilizationPercentage`",
}

AWS_LINEAR_MIN_STEP = 10
"""SageMaker linear traffic shifting moves 10-50 % of capacity per step."""
AWS_MAX_EXECUTION_SECONDS = 14400
"""SageMaker's maximum_execution_timeout_in_seconds upper bound (4 h)."""
AWS_PROVISIONING_MARGIN_SECONDS = 3600
"""Time left for provisioning the green fleet within the execution timeout."""
GCP_MAX_BAKE_MINUTES = 60
"""The Vertex dynamic resource bakes inside `pulumi up`; longer releases belong in a release pipeline."""
AZURE_MAX_ENDPOINT_NAME = 32
"""Azure ML online endpoint names: 3-32 characters, unique in the region."""

_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][-a-z0-9._/]*[:@]")
_KMS_ARN = re.compile(r"^arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:key/[-a-f0-9]+$")
_GCP_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


def shift_steps(mode: str, step_percent: int) -> int:
    """Traffic-shifting stages that end with a bake: canary 2 (canary, rest), linear ceil(100/step), all at once 1."""
    if mode == "canary":
        return 2
    if mode == "linear":
        return math.ceil(100 / step_percent)
    return 1


def bake_seconds(cfg: ManagedEndpointConfig) -> int:
    """Total bake time of a release with the endpoint's traffic shift: one wait per stage."""
    shift = cfg.traffic_shift
    if shift is None:
        return 0
    return shift_steps(shift.mode, shift.step_percent) * shift.wait_minutes * 60


def physical_name(cfg: ManagedEndpointConfig, environment: str) -> str:
    """The endpoint's name in the cloud: stable, so clients can call it, and unique per environment."""
    return f"{cfg.name}-{environment}"


def _unsupported(cloud: str, feature: str) -> str:
    support = MATRIX[cloud][feature]
    return f"not used on {cloud}: {support.how}; instead use {support.instead}"


def capability_issues(cfg: ManagedEndpointConfig, cloud: str, environment: str | None = None) -> list[Issue]:
    """Every way the endpoint asks for something its cloud cannot do; field paths relative to the endpoint."""
    issues: list[Issue] = []
    shift = cfg.traffic_shift
    if shift is not None and shift.mode == "canary" and not MATRIX[cloud]["canary"].supported:
        issues.append(("traffic_shift.mode", shift.mode, _unsupported(cloud, "canary")))
    if shift is not None and shift.mode == "linear" and not MATRIX[cloud]["linear"].supported:
        issues.append(("traffic_shift.mode", shift.mode, _unsupported(cloud, "linear")))
    if shift is not None and shift.auto_rollback and not MATRIX[cloud]["auto_rollback"].supported:
        issues.append(("traffic_shift.auto_rollback", True, _unsupported(cloud, "auto_rollback")))
    if cfg.shadow is not None and not MATRIX[cloud]["shadow"].supported:
        issues.append(("shadow", cfg.shadow.model_uri, _unsupported(cloud, "shadow")))
    if cfg.instances.min == 0 and not MATRIX[cloud]["scale_to_zero"].supported:
        issues.append(("instances.min", 0, _unsupported(cloud, "scale_to_zero")))
    metric = cfg.autoscaling.metric
    if metric is not None and metric != NATIVE_AUTOSCALING_METRIC[cloud]:
        issues.append(
            (
                "autoscaling.metric",
                metric,
                f"'{NATIVE_AUTOSCALING_METRIC[cloud]}' on {cloud}: {SERVICES[cloud]} scales with {AUTOSCALING_HOW[cloud]}",
            )
        )
    prefix = MODEL_URI_PREFIXES[cloud]
    for role, candidate in cfg.candidates.items():
        if not candidate.model_uri.startswith(prefix):
            issues.append((f"{role}.model_uri", candidate.model_uri, f"a URI starting with '{prefix}' on {cloud}"))
    if cfg.instance_type is not None and endpoint_offer(cloud, cfg.instance_type) is None:
        known = ", ".join(e.instance_type for e in ENDPOINT_OFFERS if e.cloud == cloud)
        issues.append(
            ("instance_type", cfg.instance_type, f"an instance type with a price in the endpoint offer table for {cloud}: {known}")
        )
    if cloud != "aws":
        for field in ("subnet_ids", "security_group_ids"):
            if getattr(cfg.network, field):
                issues.append((f"network.{field}", getattr(cfg.network, field), f"not set: aws only, not {cloud}"))
        if cfg.serverless is not None:
            issues.append(
                (
                    "serverless",
                    cfg.serverless.model_dump(),
                    f"not set: aws only; {SERVICES[cloud]} serves custom containers on instances: use instance_type and instances.min: 1",
                )
            )
    if cloud != "azure" and cfg.workspace is not None:
        issues.append(("workspace", cfg.workspace, f"not set: azure only, not {cloud}"))
    issues += {"aws": _aws_issues, "gcp": _gcp_issues, "azure": _azure_issues}[cloud](cfg, environment)
    return issues


def _aws_issues(cfg: ManagedEndpointConfig, environment: str | None) -> list[Issue]:
    issues: list[Issue] = []
    shift = cfg.traffic_shift
    for field, image in [("image", cfg.image)] + [(f"{r}.image", c.image) for r, c in cfg.candidates.items() if c.image]:
        if not _ECR_IMAGE.match(image):
            issues.append(
                (field, image, "an Amazon ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>): SageMaker pulls from ECR")
            )
    if cfg.kms_key is not None and not _KMS_ARN.match(cfg.kms_key):
        issues.append(("kms_key", cfg.kms_key, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"))
    if cfg.instance_type is not None and not cfg.instance_type.startswith("ml."):
        issues.append(("instance_type", cfg.instance_type, "a SageMaker instance type (ml.*)"))
    if cfg.instances.min == 0 and cfg.serverless is None:
        issues.append(
            (
                "instances.min",
                0,
                "at least 1: SageMaker instance-based variants keep an instance (scale to zero needs inference components, "
                "which pulumi_aws 7.51 lacks); for scale to zero use `serverless` (CPU only, billed per request)",
            )
        )
    if cfg.network.private and not (cfg.network.subnet_ids and cfg.network.security_group_ids):
        issues.append(("network.private", True, "subnet_ids and security_group_ids as well: SageMaker attaches the model to your VPC"))
    if cfg.shadow is not None and cfg.canary is not None:
        issues.append(
            (
                "shadow",
                cfg.shadow.model_uri,
                "not set together with `canary` on aws: SageMaker allows exactly one production variant next to a shadow variant; "
                "use one candidate at a time",
            )
        )
    if shift is not None and shift.mode == "linear" and shift.step_percent < AWS_LINEAR_MIN_STEP:
        issues.append(("traffic_shift.step_percent", shift.step_percent, "10-50 for linear shifting on aws (SageMaker's step bounds)"))
    budget = AWS_MAX_EXECUTION_SECONDS - AWS_PROVISIONING_MARGIN_SECONDS
    if cfg.serverless is None and bake_seconds(cfg) > budget:
        issues.append(
            (
                "traffic_shift.wait_minutes",
                shift.wait_minutes if shift else None,
                f"a release that bakes at most {budget // 60} minutes in total on aws (stages x wait_minutes): SageMaker "
                f"aborts blue/green deployments after {AWS_MAX_EXECUTION_SECONDS // 3600} h; use fewer steps or shorter waits",
            )
        )
    if cfg.serverless is not None:
        issues += _serverless_issues(cfg)
    return issues


def _serverless_issues(cfg: ManagedEndpointConfig) -> list[Issue]:
    issues: list[Issue] = []
    why = "SageMaker serverless inference does not support {what}"
    if cfg.data_capture.enabled:
        issues.append(
            ("data_capture.enabled", True, "false with serverless: " + why.format(what="data capture") + "; use an instance type")
        )
    if cfg.network.private:
        issues.append(
            ("network.private", True, "false with serverless: " + why.format(what="VPC configuration") + "; use an instance type")
        )
    for role, candidate in cfg.candidates.items():
        issues.append(
            (role, candidate.model_uri, "not set with serverless: " + why.format(what="multiple variants") + "; use an instance type")
        )
    shift = cfg.traffic_shift
    if shift is not None and (shift.mode != "all_at_once" or shift.auto_rollback):
        issues.append(
            (
                "traffic_shift",
                shift.model_dump(),
                "none with serverless: deployment guardrails (traffic shifting, alarm rollback) apply to instance-based variants; "
                "use an instance type for guarded releases",
            )
        )
    if "autoscaling" in cfg.model_fields_set:
        issues.append(("autoscaling", cfg.autoscaling.model_dump(), "not set with serverless: it scales by serverless.max_concurrency"))
    return issues


def _gcp_issues(cfg: ManagedEndpointConfig, environment: str | None) -> list[Issue]:
    issues: list[Issue] = []
    if cfg.kms_key is not None and not _GCP_KMS_KEY.match(cfg.kms_key):
        issues.append(("kms_key", cfg.kms_key, "a Cloud KMS key name (projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>)"))
    if bake_seconds(cfg) > GCP_MAX_BAKE_MINUTES * 60:
        shift = cfg.traffic_shift
        issues.append(
            (
                "traffic_shift.wait_minutes",
                shift.wait_minutes if shift else None,
                f"a release that bakes at most {GCP_MAX_BAKE_MINUTES} minutes in total on gcp (stages x wait_minutes): the Vertex "
                "deployment resource bakes inside `pulumi up`; use fewer steps or shorter waits",
            )
        )
    return issues


def _azure_issues(cfg: ManagedEndpointConfig, environment: str | None) -> list[Issue]:
    issues: list[Issue] = []
    if cfg.workspace is None:
        issues.append(("workspace", None, "the Azure ML workspace that holds the registered model: required on azure"))
    if cfg.kms_key is not None:
        issues.append(
            ("kms_key", cfg.kms_key, "not set on azure: Azure ML encrypts with the workspace's key; set a customer-managed key there")
        )
    if cfg.shadow is not None and cfg.shadow.percent > 50:
        issues.append(("shadow.percent", cfg.shadow.percent, "at most 50 on azure: Azure ML mirrors at most 50 % of the traffic"))
    if environment is not None and len(physical_name(cfg, environment)) > AZURE_MAX_ENDPOINT_NAME:
        issues.append(
            (
                "name",
                cfg.name,
                f"a name of at most {AZURE_MAX_ENDPOINT_NAME - len(environment) - 1} characters on azure: the endpoint is named "
                f"'<name>-{environment}' and Azure ML online endpoint names have at most {AZURE_MAX_ENDPOINT_NAME}",
            )
        )
    return issues


def matrix_markdown() -> str:
    """The README's capability matrix, generated from MATRIX."""
    lines = ["| | " + " | ".join(f"{SERVICES[c]} ({c})" for c in CLOUDS) + " |", "|---|" + "---|" * len(CLOUDS)]
    for key, title in FEATURES.items():
        cells = []
        for cloud in CLOUDS:
            s = MATRIX[cloud][key]
            cells.append(f"yes: {s.how}" if s.supported else f"**no**: {s.how}; use {s.instead}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("| autoscaling | " + " | ".join(AUTOSCALING_HOW[c] for c in CLOUDS) + " |")
    return "\n".join(lines) + "\n"
