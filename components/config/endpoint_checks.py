"""Validation of managed endpoints against the capability matrix: every unsupported combination is reported with
why, and what to use instead, before any resource is registered. Pure functions: no Pulumi or cloud SDK imports.
"""

from __future__ import annotations

import math
import re

from ..catalog.endpoint_capabilities import (
    AUTOSCALING_HOW,
    AWS_LINEAR_MIN_STEP,
    AWS_MAX_EXECUTION_SECONDS,
    AWS_PROVISIONING_MARGIN_SECONDS,
    AZURE_MAX_ENDPOINT_NAME,
    GCP_MAX_BAKE_MINUTES,
    MATRIX,
    NATIVE_AUTOSCALING_METRIC,
    SERVICES,
)
from ..catalog.offers import ENDPOINT_OFFERS, endpoint_offer
from .base import Issue
from .endpoints import MODEL_URI_PREFIXES, ManagedEndpointConfig

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
