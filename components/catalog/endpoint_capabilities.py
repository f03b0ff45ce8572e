"""The managed-endpoint capability matrix: what SageMaker, Vertex AI and Azure ML do natively, what they cannot do,
and their limits. Cloud facts, like the other catalog tables: validation (``config/endpoint_checks.py``) enforces
them and ``tools/endpoints_readme.py`` renders them into the README.
"""

from __future__ import annotations

from dataclasses import dataclass

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
