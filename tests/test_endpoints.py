"""Managed endpoints: exact native arguments per cloud, the capability matrix enforced before any resource, cost."""

from __future__ import annotations

import importlib
import json
import re
import runpy
from typing import Any

import pulumi
import pytest

from mlops_platform.catalog.endpoint_capabilities import CLOUDS, FEATURES
from mlops_platform.catalog.offers import ENDPOINT_OFFERS, REFERENCE_REGIONS, SERVERLESS_OFFERS, endpoint_offer, serverless_offer
from mlops_platform.catalog.regional_prices import PRICES, READ_ON
from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.config.endpoints import SERVERLESS_MEMORY_MB, ManagedEndpointConfig
from mlops_platform.endpoints import (
    MATRIX,
    ManagedEndpoint,
    ManagedEndpointArgs,
    UnsupportedEndpointError,
    capability_issues,
)
from mlops_platform.endpoints.cost import HOURS_PER_MONTH, endpoint_cost
from mlops_platform.endpoints.sagemaker import has_local_nvme
from mlops_platform.testing import PlatformMocks, _digest
from tools.endpoints_readme import END as README_END
from tools.endpoints_readme import README, matrix_markdown, with_matrix
from tools.synth import cost_summary, render_report
from tools.synthesis import ROOT

from .conftest import stack_values

CLOUD_CONFIGS = {
    "aws": CloudTarget(provider="aws", region="us-east-1"),
    "gcp": CloudTarget(provider="gcp", project="acme-ml", region="us-central1"),
    "azure": CloudTarget(provider="azure", subscription_id="3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", location="eastus", resource_group="rg"),
}
SDKS = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}
DIGEST = "@sha256:" + "5f2a1c0e8b7d4a3f9e6c2b1a0d9e8f7c6b5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c"
BASE: dict[str, dict[str, Any]] = {
    "aws": {
        "name": "churn",
        "model_uri": "s3://acme-models/churn/v5/model.tar.gz",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serving/churn:5.0.1" + DIGEST,
        "instance_type": "ml.g5.xlarge",
        "instances": {"min": 2, "max": 6},
    },
    "gcp": {
        "name": "churn",
        "model_uri": "gs://acme-models/churn/5",
        "image": "us-docker.pkg.dev/acme-ml/serving/churn:5.0.1" + DIGEST,
        "instance_type": "g2-standard-8",
        "instances": {"min": 2, "max": 6},
    },
    "azure": {
        "name": "churn",
        "model_uri": "azureml:churn:5",
        "image": "acmeml.azurecr.io/serving/churn:5.0.1" + DIGEST,
        "instance_type": "Standard_NC4as_T4_v3",
        "instances": {"min": 2, "max": 4},
        "workspace": "mlw-prod",
    },
}
CANDIDATE = {"aws": "s3://acme-models/churn/v6/model.tar.gz", "gcp": "gs://acme-models/churn/6", "azure": "azureml:churn:6"}


def endpoint_config(cloud: str, **changes: Any) -> ManagedEndpointConfig:
    """The cloud's base endpoint with changes; a change to None removes the key."""
    values = {**BASE[cloud], **changes}
    return ManagedEndpointConfig(**{k: v for k, v in values.items() if v is not None})


def declare(monitor, run, cloud: str, environment: str = "prod", protect: bool = False, **changes: Any) -> ManagedEndpoint:
    created: dict[str, ManagedEndpoint] = {}

    def build() -> None:
        provider = importlib.import_module(SDKS[cloud]).Provider("cloud")
        args = ManagedEndpointArgs(
            endpoint=endpoint_config(cloud, **changes),
            cloud=CLOUD_CONFIGS[cloud],
            environment=environment,
            tags={"team": "ml"},
            protect_stateful=protect,
        )
        created["endpoint"] = ManagedEndpoint("churn", args, opts=pulumi.ResourceOptions(providers=[provider]))

    run(build)
    return created["endpoint"]


def of_type(monitor, typ: str) -> list[dict[str, Any]]:
    return [r for r in monitor.records if r["type"] == typ]


def one(monitor, typ: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in of_type(monitor, typ) if name is None or r["name"] == name]
    assert len(found) == 1, [r["name"] for r in of_type(monitor, typ)]
    return found[0]


def assert_children_wired(monitor) -> None:
    """Every cloud resource is a child of the component, with the provider the component took from its opts (the
    dynamic resources none); URNs are unique."""
    urns = [r["urn"] for r in monitor.records]
    assert len(urns) == len(set(urns))
    component = one(monitor, "mlops:serving:ManagedEndpoint")["urn"]
    for record in monitor.records:
        if record["custom"] and not record["type"].startswith(("pulumi:providers:", "pulumi:pulumi:")):
            assert record["parent"] == component, record["name"]
            assert record["name"].startswith("churn-"), record["name"]
            dynamic = record["type"].startswith("pulumi-python:dynamic")
            assert (record["provider"] is None) if dynamic else record["provider"].endswith("::cloud"), record["name"]


# --- SageMaker ----------------------------------------------------------------------------------------------------


CANARY_SHIFT = {"mode": "canary", "step_percent": 10, "wait_minutes": 15, "max_error_percent": 2.5, "max_p99_latency_ms": 400}


def test_sagemaker_canary_release_with_alarm_rollback(pulumi_mocks, run_pulumi):
    ep = declare(pulumi_mocks, run_pulumi, "aws", traffic_shift=CANARY_SHIFT)
    assert_children_wired(pulumi_mocks)
    endpoint = one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]
    config = one(pulumi_mocks, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    alarms = {r["name"]: r["inputs"] for r in of_type(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert endpoint["name"] == "churn-prod" and endpoint["endpointConfigName"] == mock_name(config)
    assert "name" not in config["inputs"] and "namePrefix" not in config["inputs"]  # auto-named: immutable upstream
    alarm_records = {r["name"]: r for r in of_type(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert endpoint["deploymentConfig"] == {
        "blueGreenUpdatePolicy": {
            "trafficRoutingConfiguration": {
                "type": "CANARY",
                "waitIntervalInSeconds": 900,
                "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
            },
            "terminationWaitInSeconds": 900,
            "maximumExecutionTimeoutInSeconds": 2 * 900 + 3600,
        },
        "autoRollbackConfiguration": {
            "alarms": [
                {"alarmName": mock_name(alarm_records["churn-5xx-rate"])},
                {"alarmName": mock_name(alarm_records["churn-p99-latency"])},
            ]
        },
    }
    dims = {"EndpointName": "churn-prod", "VariantName": "live"}
    errors = alarms["churn-5xx-rate"]
    assert (errors["comparisonOperator"], errors["threshold"], errors["evaluationPeriods"], errors["datapointsToAlarm"]) == (
        "GreaterThanThreshold",
        2.5,
        2,
        2,
    )
    assert errors["metricQueries"] == [
        {
            "id": "errors",
            "returnData": False,
            "metric": {"namespace": "AWS/SageMaker", "metricName": "Invocation5XXErrors", "dimensions": dims, "period": 60, "stat": "Sum"},
        },
        {
            "id": "invocations",
            "returnData": False,
            "metric": {"namespace": "AWS/SageMaker", "metricName": "Invocations", "dimensions": dims, "period": 60, "stat": "Sum"},
        },
        {"id": "error_rate", "expression": "IF(invocations > 0, 100 * errors / invocations, 0)", "label": "5xx %", "returnData": True},
    ]
    latency = alarms["churn-p99-latency"]
    assert (latency["metricName"], latency["namespace"], latency["extendedStatistic"], latency["unit"], latency["threshold"]) == (
        "ModelLatency",
        "AWS/SageMaker",
        "p99",
        "Microseconds",
        400_000,
    )
    assert latency["dimensions"] == dims and latency["treatMissingData"] == "notBreaching"
    assert ep.endpoint_name is not None and ep.physical_name == "churn-prod"


def mock_name(record: dict[str, Any]) -> str:
    """The name the mocks give an auto-named resource (what referencing resources must receive)."""
    return f"{record['name']}-{_digest(record['type'], record['name'])}"


def test_sagemaker_variants_weights_capture_and_kms(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "aws", canary={"model_uri": CANDIDATE["aws"], "percent": 10}, data_capture={"sampling_percent": 25})
    config = one(pulumi_mocks, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")["inputs"]
    models = {r["name"]: r["inputs"] for r in of_type(pulumi_mocks, "aws:sagemaker/model:Model")}
    routing = [{"routingStrategy": "LEAST_OUTSTANDING_REQUESTS"}]
    assert config["productionVariants"] == [
        {
            "variantName": "live",
            "modelName": config["productionVariants"][0]["modelName"],
            "instanceType": "ml.g5.xlarge",
            "initialInstanceCount": 2,
            "initialVariantWeight": 0.9,
            "routingConfigs": routing,
        },
        {
            "variantName": "canary",
            "modelName": config["productionVariants"][1]["modelName"],
            "instanceType": "ml.g5.xlarge",
            "initialInstanceCount": 1,
            "initialVariantWeight": 0.1,
            "routingConfigs": routing,
        },
    ]
    assert config["productionVariants"][0]["modelName"].startswith("churn-model-live-")
    assert models["churn-model-canary"]["primaryContainer"]["modelDataUrl"] == CANDIDATE["aws"]
    assert models["churn-model-live"]["primaryContainer"] == {
        "image": BASE["aws"]["image"],
        "modelDataUrl": BASE["aws"]["model_uri"],
        "mode": "SingleModel",
    }
    key_arn = one(pulumi_mocks, "aws:kms/key:Key")
    assert key_arn["inputs"]["enableKeyRotation"] is True
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True and capture["initialSamplingPercentage"] == 25
    assert capture["captureOptions"] == [{"captureMode": "Input"}, {"captureMode": "Output"}]
    assert capture["destinationS3Uri"].startswith("s3://churn-capture-") and capture["destinationS3Uri"].endswith("/datacapture/churn-prod")
    assert capture["kmsKeyId"].startswith("arn:aws:kms:")
    assert "kmsKeyArn" not in config  # ml.g5 has local NVMe storage: SageMaker refuses a volume key
    sse = one(pulumi_mocks, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")["inputs"]
    assert sse["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": capture["kmsKeyId"]}, "bucketKeyEnabled": True}
    ]
    pab = one(pulumi_mocks, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert all(pab[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    tls = json.loads(one(pulumi_mocks, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"])
    assert tls["Statement"][0]["Effect"] == "Deny" and tls["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    lifecycle = one(pulumi_mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"]["rules"][0]
    assert lifecycle["expiration"] == {"days": 90} and lifecycle["filter"] == {"prefix": "datacapture/"}
    assert lifecycle["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    versioning = one(pulumi_mocks, "aws:s3/bucketVersioning:BucketVersioning")["inputs"]
    assert versioning == {"bucket": "churn-capture-id", "versioningConfiguration": {"status": "Enabled"}}


def test_sagemaker_autoscaling_is_built_from_the_endpoint_name_output(pulumi_mocks, run_pulumi, monkeypatch):
    original = PlatformMocks.new_resource

    def renamed(self, args):  # the provider may normalise the name: the scaling ids must follow its output
        resource_id, outputs = original(self, args)
        if args.typ == "aws:sagemaker/endpoint:Endpoint":
            outputs["name"] = "churn-prod-as-created"
        return resource_id, outputs

    monkeypatch.setattr(PlatformMocks, "new_resource", renamed)
    declare(pulumi_mocks, run_pulumi, "aws", canary={"model_uri": CANDIDATE["aws"], "percent": 10}, autoscaling={"target": 120})
    targets = {r["name"]: r["inputs"] for r in of_type(pulumi_mocks, "aws:appautoscaling/target:Target")}
    assert targets == {
        "churn-scaling-live": {
            "serviceNamespace": "sagemaker",
            "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "resourceId": "endpoint/churn-prod-as-created/variant/live",
            "minCapacity": 2,
            "maxCapacity": 6,
        },
        "churn-scaling-canary": {
            "serviceNamespace": "sagemaker",
            "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "resourceId": "endpoint/churn-prod-as-created/variant/canary",
            "minCapacity": 1,
            "maxCapacity": 6,
        },
    }
    policy = one(pulumi_mocks, "aws:appautoscaling/policy:Policy", "churn-invocations-live")["inputs"]
    assert policy == {
        "policyType": "TargetTrackingScaling",
        "serviceNamespace": "sagemaker",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": "endpoint/churn-prod-as-created/variant/live",
        "targetTrackingScalingPolicyConfiguration": {
            "targetValue": 120.0,
            "predefinedMetricSpecification": {"predefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "scaleInCooldown": 300,
            "scaleOutCooldown": 60,
        },
    }


def test_sagemaker_execution_role_is_least_privilege(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "aws", shadow={"model_uri": "s3://other-bucket/churn/v7/", "percent": 50})
    role = one(pulumi_mocks, "aws:iam/role:Role")["inputs"]
    assert json.loads(role["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert of_type(pulumi_mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []  # no managed (broad) policies
    statements = {s["Sid"]: s for s in json.loads(one(pulumi_mocks, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])["Statement"]}
    assert statements["ReadModelArtifacts"]["Action"] == ["s3:GetObject"]
    assert statements["ReadModelArtifacts"]["Resource"] == [
        "arn:aws:s3:::acme-models/churn/v5/model.tar.gz",
        "arn:aws:s3:::other-bucket/churn/v7/*",
    ]
    assert statements["ListModelPrefix0"]["Resource"] == "arn:aws:s3:::other-bucket"
    assert statements["ListModelPrefix0"]["Condition"] == {"StringLike": {"s3:prefix": ["churn/v7/*"]}}
    assert statements["PullServingImages"]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/serving/churn"]
    bucket = one(pulumi_mocks, "aws:s3/bucket:Bucket")
    assert statements["WriteDataCapture"] == {
        "Sid": "WriteDataCapture",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": f"arn:aws:s3:::{mock_name(bucket)}/datacapture/*",
    }
    assert statements["UseEndpointKey"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statements["UseEndpointKey"]["Resource"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert (
        statements["EndpointLogs"]["Resource"][1] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/churn-prod:*"
    )
    wildcard = [s["Sid"] for s in statements.values() if s["Resource"] == "*"]
    assert sorted(wildcard) == ["EcrLogin", "EndpointMetrics"]  # the two actions without resource-level permissions
    assert all("*" not in a for s in statements.values() for a in s["Action"])
    config = one(pulumi_mocks, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")["inputs"]
    assert len(config["productionVariants"]) == 1 and config["productionVariants"][0]["initialVariantWeight"] == 1.0
    (shadow,) = config["shadowProductionVariants"]
    assert (shadow["variantName"], shadow["initialVariantWeight"], shadow["initialInstanceCount"]) == ("shadow", 0.5, 1)
    shadow_model = one(pulumi_mocks, "aws:sagemaker/model:Model", "churn-model-shadow")["inputs"]["primaryContainer"]
    assert shadow_model["modelDataSource"] == {
        "s3DataSources": [{"s3Uri": "s3://other-bucket/churn/v7/", "s3DataType": "S3Prefix", "compressionType": "None"}]
    }


def test_sagemaker_private_cpu_endpoint_encrypts_volumes(pulumi_mocks, run_pulumi):
    declare(
        pulumi_mocks,
        run_pulumi,
        "aws",
        instance_type="ml.m5.xlarge",
        network={"private": True, "subnet_ids": ["subnet-a", "subnet-b"], "security_group_ids": ["sg-1"]},
        data_capture={"enabled": False},
        protect=True,
    )
    model = one(pulumi_mocks, "aws:sagemaker/model:Model")["inputs"]
    assert model["enableNetworkIsolation"] is True
    assert model["vpcConfig"] == {"subnets": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-1"]}
    config = one(pulumi_mocks, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")["inputs"]
    assert config["kmsKeyArn"].startswith("arn:aws:kms:") and "dataCaptureConfig" not in config
    assert of_type(pulumi_mocks, "aws:s3/bucket:Bucket") == []
    statements = json.loads(one(pulumi_mocks, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])["Statement"]
    assert "VpcNetworkInterfaces" in [s["Sid"] for s in statements] and "WriteDataCapture" not in [s["Sid"] for s in statements]
    assert of_type(pulumi_mocks, "aws:appautoscaling/target:Target")[0]["inputs"]["resourceId"] == "endpoint/churn-prod/variant/live"
    assert "deploymentConfig" not in one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]


def test_sagemaker_linear_shift_and_protected_capture_bucket(pulumi_mocks, run_pulumi):
    shift = {"mode": "linear", "step_percent": 25, "wait_minutes": 10}
    declare(pulumi_mocks, run_pulumi, "aws", traffic_shift=shift, protect=True)
    policy = one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]["deploymentConfig"]["blueGreenUpdatePolicy"]
    assert policy["trafficRoutingConfiguration"] == {
        "type": "LINEAR",
        "waitIntervalInSeconds": 600,
        "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
    }
    assert policy["maximumExecutionTimeoutInSeconds"] == 4 * 600 + 3600
    assert one(pulumi_mocks, "aws:s3/bucket:Bucket")["protect"] is True


def test_sagemaker_serverless_dev_endpoint(pulumi_mocks, run_pulumi):
    ep = declare(
        pulumi_mocks,
        run_pulumi,
        "aws",
        environment="dev",
        instance_type=None,
        instances=None,
        serverless={"memory_mb": 3072, "max_concurrency": 4},
        data_capture={"enabled": False},
    )
    config = one(pulumi_mocks, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")["inputs"]
    (variant,) = config["productionVariants"]
    assert variant == {
        "variantName": "live",
        "modelName": variant["modelName"],
        "initialVariantWeight": 1.0,
        "serverlessConfig": {"memorySizeInMb": 3072, "maxConcurrency": 4},
    }
    assert "kmsKeyArn" not in config
    for typ in ("aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:appautoscaling/target:Target", "aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert of_type(pulumi_mocks, typ) == [], typ
    endpoint = one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]
    assert endpoint["name"] == "churn-dev" and "deploymentConfig" not in endpoint
    # billed per invocation-second: nothing idle, at most 4 concurrent invocations of 3072 MB all month
    assert (ep.cost.min_instances, ep.cost.max_instances, ep.cost.hourly_per_instance) == (0, 4, 0.216)
    assert ep.cost.monthly_at_min == 0 and ep.cost.monthly_at_max == round(0.216 * 4 * HOURS_PER_MONTH, 2)


def test_sagemaker_all_at_once_release_still_rolls_back_on_alarms(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "aws", traffic_shift={"mode": "all_at_once", "wait_minutes": 5})
    config = one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]["deploymentConfig"]
    assert config["blueGreenUpdatePolicy"] == {
        "trafficRoutingConfiguration": {"type": "ALL_AT_ONCE", "waitIntervalInSeconds": 300},
        "terminationWaitInSeconds": 300,
        "maximumExecutionTimeoutInSeconds": 300 + 3600,
    }
    alarms = {r["name"]: mock_name(r) for r in of_type(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert config["autoRollbackConfiguration"] == {
        "alarms": [{"alarmName": alarms["churn-5xx-rate"]}, {"alarmName": alarms["churn-p99-latency"]}]
    }
    latency = one(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm", "churn-p99-latency")["inputs"]
    assert latency["threshold"] == 1_000_000  # the default 1000 ms, in ModelLatency's microseconds
    errors = one(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm", "churn-5xx-rate")["inputs"]
    assert errors["threshold"] == 1.0


def test_sagemaker_canary_without_rollback_creates_no_alarms(pulumi_mocks, run_pulumi):
    declare(
        pulumi_mocks, run_pulumi, "aws", traffic_shift={"mode": "canary", "step_percent": 25, "wait_minutes": 20, "auto_rollback": False}
    )
    config = one(pulumi_mocks, "aws:sagemaker/endpoint:Endpoint")["inputs"]["deploymentConfig"]
    assert config == {
        "blueGreenUpdatePolicy": {
            "trafficRoutingConfiguration": {
                "type": "CANARY",
                "waitIntervalInSeconds": 1200,
                "canarySize": {"type": "CAPACITY_PERCENT", "value": 25},
            },
            "terminationWaitInSeconds": 1200,
            "maximumExecutionTimeoutInSeconds": 2 * 1200 + 3600,
        }
    }
    assert of_type(pulumi_mocks, "aws:cloudwatch/metricAlarm:MetricAlarm") == []


# --- Vertex AI ----------------------------------------------------------------------------------------------------


def test_vertex_endpoint_capture_identity_and_deployment(pulumi_mocks, run_pulumi):
    kms = "projects/acme-ml/locations/us-central1/keyRings/ml/cryptoKeys/vertex"
    shift = {"mode": "canary", "step_percent": 20, "wait_minutes": 5, "auto_rollback": False}
    declare(pulumi_mocks, run_pulumi, "gcp", canary={"model_uri": CANDIDATE["gcp"], "percent": 25}, traffic_shift=shift, kms_key=kms)
    assert_children_wired(pulumi_mocks)
    endpoint = one(pulumi_mocks, "gcp:vertex/aiEndpoint:AiEndpoint")
    inputs = endpoint["inputs"]
    assert inputs["name"].isdigit() and len(inputs["name"]) == 10 and not inputs["name"].startswith("0")
    assert (inputs["displayName"], inputs["location"], inputs["project"]) == ("churn-prod", "us-central1", "acme-ml")
    assert inputs["encryptionSpec"] == {"kmsKeyName": kms} and inputs["dedicatedEndpointEnabled"] is True
    assert inputs["predictRequestResponseLoggingConfig"] == {
        "enabled": True,
        "samplingRate": 0.2,
        "bigqueryDestination": {"outputUri": "bq://acme-ml.churn_prod_capture"},
    }
    assert endpoint["ignore_changes"] == ["trafficSplit"]
    dataset = one(pulumi_mocks, "gcp:bigquery/dataset:Dataset")["inputs"]
    assert dataset["defaultEncryptionConfiguration"] == {"kmsKeyName": kms}
    assert dataset["defaultTableExpirationMs"] == 90 * 86_400_000 and dataset["deleteContentsOnDestroy"] is False
    account = one(pulumi_mocks, "gcp:serviceaccount/account:Account")["inputs"]
    email = f"{account['accountId']}@acme-ml.iam.gserviceaccount.com"
    readers = of_type(pulumi_mocks, "gcp:storage/bucketIAMMember:BucketIAMMember")
    listed = 'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
    only = [
        f'(resource.name.startsWith("projects/_/buckets/acme-models/objects/{p}/") || {listed} == "{p}" || {listed}.startsWith("{p}/"))'
        for p in ("churn/5", "churn/6")
    ]
    assert [r["inputs"] for r in readers] == [
        {
            "bucket": "acme-models",
            "role": "roles/storage.objectViewer",
            "member": f"serviceAccount:{email}",
            "condition": {
                "title": "model versions",
                "description": "Objects under the served model versions' prefixes and listings of them only",
                "expression": " || ".join(only),
            },
        }
    ]
    assert of_type(pulumi_mocks, "gcp:projects/iAMMember:IAMMember") == []  # nothing project-wide
    deployment = one(pulumi_mocks, "pulumi-python:dynamic/vertex:ModelDeployment")
    props = deployment["inputs"]
    assert props["__provider"] == "[secret]"
    assert props["endpoint"] == f"projects/acme-ml/locations/us-central1/endpoints/{inputs['name']}"
    assert props["versions"] == {
        "live": {"artifact_uri": BASE["gcp"]["model_uri"], "image_uri": BASE["gcp"]["image"], "percent": 75},
        "canary": {"artifact_uri": CANDIDATE["gcp"], "image_uri": BASE["gcp"]["image"], "percent": 25},
    }
    assert props["machine"] == {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1}
    assert props["replicas"] == {"live": {"min": 2, "max": 6}, "canary": {"min": 1, "max": 6}}
    assert props["shift"] == {"mode": "canary", "step_percent": 20, "wait_seconds": 300}
    assert (props["service_account"], props["kms_key"], props["model_id"]) == (email, kms, "churn-prod")
    assert props["container"] == {"port": 8080, "predict_route": "/invocations", "health_route": "/ping"}


def test_vertex_private_endpoint_without_capture(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "gcp", network={"private": True}, data_capture={"enabled": False}, instance_type="n1-standard-4")
    inputs = one(pulumi_mocks, "gcp:vertex/aiEndpoint:AiEndpoint")["inputs"]
    assert inputs["privateServiceConnectConfig"] == {"enablePrivateServiceConnect": True, "projectAllowlists": ["acme-ml"]}
    assert "dedicatedEndpointEnabled" not in inputs and "predictRequestResponseLoggingConfig" not in inputs
    assert of_type(pulumi_mocks, "gcp:bigquery/dataset:Dataset") == []
    machine = one(pulumi_mocks, "pulumi-python:dynamic/vertex:ModelDeployment")["inputs"]["machine"]
    assert machine == {"machine_type": "n1-standard-4", "accelerator_type": "", "accelerator_count": 0}


# --- Azure ML -----------------------------------------------------------------------------------------------------


def test_azure_blue_green_shadow_traffic_and_capacity(pulumi_mocks, run_pulumi):
    declare(
        pulumi_mocks,
        run_pulumi,
        "azure",
        canary={"model_uri": CANDIDATE["azure"], "percent": 10},
        shadow={"model_uri": "azureml://registries/acme/models/churn/versions/7", "percent": 20, "instances": 2},
    )
    assert_children_wired(pulumi_mocks)
    endpoint = one(pulumi_mocks, "azure-native:machinelearningservices:OnlineEndpoint")
    assert endpoint["inputs"]["properties"] == {
        "authMode": "AADToken",
        "publicNetworkAccess": "Enabled",
        "description": "Managed endpoint churn",
    }
    assert endpoint["inputs"]["identity"] == {"type": "SystemAssigned"} and endpoint["inputs"]["endpointName"] == "churn-prod"
    assert endpoint["ignore_changes"] == ["properties.mirrorTraffic", "properties.traffic"]
    traffic = one(pulumi_mocks, "pulumi-python:dynamic/azureml:EndpointTraffic")["inputs"]
    assert traffic["traffic"] == {"blue": 90, "green": 10} and traffic["mirror_traffic"] == {"shadow": 20}
    assert traffic["endpoint_id"] == "churn-endpoint-id"
    deployments = {r["inputs"]["deploymentName"]: r for r in of_type(pulumi_mocks, "azure-native:machinelearningservices:OnlineDeployment")}
    assert sorted(deployments) == ["blue", "green", "shadow"]
    assert {k: d["inputs"]["sku"] for k, d in deployments.items()} == {
        "blue": {"name": "Default", "capacity": 2},
        "green": {"name": "Default", "capacity": 1},
        "shadow": {"name": "Default", "capacity": 2},
    }
    blue = deployments["blue"]["inputs"]["properties"]
    subscription = "/subscriptions/3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c/resourceGroups/rg"
    prefix = f"{subscription}/providers/Microsoft.MachineLearningServices/workspaces/mlw-prod"
    assert blue["model"] == f"{prefix}/models/churn/versions/5"
    assert deployments["green"]["inputs"]["properties"]["model"] == f"{prefix}/models/churn/versions/6"
    assert deployments["shadow"]["inputs"]["properties"]["model"] == "azureml://registries/acme/models/churn/versions/7"
    assert (blue["endpointComputeType"], blue["instanceType"], blue["scaleSettings"]) == (
        "Managed",
        "Standard_NC4as_T4_v3",
        {"scaleType": "Default"},
    )
    assert blue["requestSettings"] == {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT60S"}  # no deprecated maxQueueWait
    assert blue["livenessProbe"]["initialDelay"] == "PT600S" and blue["readinessProbe"]["period"] == "PT10S"
    assert blue["egressPublicNetworkAccess"] == "Enabled" and blue["appInsightsEnabled"] is False
    assert blue["dataCollector"]["collections"] == {
        "request": {"dataCollectionMode": "Enabled", "samplingRate": 0.2},
        "response": {"dataCollectionMode": "Enabled", "samplingRate": 0.2},
    }
    assert blue["environmentId"].startswith("churn-env-")
    assert all(d["ignore_changes"] == ["sku.capacity"] for d in deployments.values())
    (env,) = of_type(pulumi_mocks, "azure-native:machinelearningservices:EnvironmentVersion")
    assert env["inputs"]["properties"]["image"] == BASE["azure"]["image"]
    assert env["inputs"]["properties"]["inferenceConfig"] == {
        "livenessRoute": {"path": "/ping", "port": 8080},
        "readinessRoute": {"path": "/ping", "port": 8080},
        "scoringRoute": {"path": "/invocations", "port": 8080},
    }
    scale = one(pulumi_mocks, "azure-native:monitor:AutoscaleSetting", "churn-autoscale-blue")["inputs"]
    assert scale["targetResourceUri"] == "churn-blue-id"
    (profile,) = scale["profiles"]
    assert profile["capacity"] == {"minimum": "2", "maximum": "4", "default": "2"}
    out, scale_in = profile["rules"]
    assert out["metricTrigger"] | {"metricResourceUri": "x"} == {
        "metricName": "CpuUtilizationPercentage",
        "metricNamespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "metricResourceUri": "x",
        "operator": "GreaterThan",
        "statistic": "Average",
        "threshold": 70,
        "timeAggregation": "Average",
        "timeGrain": "PT1M",
        "timeWindow": "PT5M",
    }
    assert out["scaleAction"] == {"direction": "Increase", "type": "ChangeCount", "value": "1", "cooldown": "PT5M"}
    assert (scale_in["metricTrigger"]["operator"], scale_in["metricTrigger"]["threshold"], scale_in["scaleAction"]["direction"]) == (
        "LessThan",
        35,
        "Decrease",
    )
    diagnostics = one(pulumi_mocks, "azure-native:monitor:DiagnosticSetting")["inputs"]
    assert diagnostics == {
        "name": "churn-prod-to-log-analytics",
        "resourceUri": "churn-endpoint-id",
        "workspaceId": "churn-logs-id",
        "logs": [{"categoryGroup": "allLogs", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }


def test_azure_green_canary_gets_its_share_and_its_own_autoscale(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "azure", canary={"model_uri": CANDIDATE["azure"], "percent": 25, "instances": 2})
    traffic = one(pulumi_mocks, "pulumi-python:dynamic/azureml:EndpointTraffic")["inputs"]
    assert (traffic["traffic"], traffic["mirror_traffic"]) == ({"blue": 75, "green": 25}, {})
    green = one(pulumi_mocks, "azure-native:machinelearningservices:OnlineDeployment", "churn-green")["inputs"]
    assert (green["deploymentName"], green["sku"]) == ("green", {"name": "Default", "capacity": 2})
    assert green["properties"]["instanceType"] == "Standard_NC4as_T4_v3"
    assert (
        green["properties"]["environmentId"]
        == one(pulumi_mocks, "azure-native:machinelearningservices:OnlineDeployment", "churn-blue")["inputs"]["properties"]["environmentId"]
    )  # same image: one environment version
    scales = {r["name"]: r["inputs"] for r in of_type(pulumi_mocks, "azure-native:monitor:AutoscaleSetting")}
    assert sorted(scales) == ["churn-autoscale-blue", "churn-autoscale-green"]
    green_scale = scales["churn-autoscale-green"]
    assert green_scale["targetResourceUri"] == "churn-green-id"
    assert green_scale["profiles"][0]["capacity"] == {"minimum": "2", "maximum": "4", "default": "2"}
    assert [r["metricTrigger"]["metricResourceUri"] for r in green_scale["profiles"][0]["rules"]] == ["churn-green-id"] * 2
    revision = traffic["endpoint_revision"]
    assert len(revision) == 16 and int(revision, 16) >= 0


def test_azure_private_endpoint(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "azure", network={"private": True}, instances={"min": 1, "max": 1})
    endpoint = one(pulumi_mocks, "azure-native:machinelearningservices:OnlineEndpoint")["inputs"]
    assert endpoint["properties"]["publicNetworkAccess"] == "Disabled"
    blue = one(pulumi_mocks, "azure-native:machinelearningservices:OnlineDeployment")["inputs"]["properties"]
    assert blue["egressPublicNetworkAccess"] == "Disabled"
    assert of_type(pulumi_mocks, "azure-native:monitor:AutoscaleSetting") == []  # 1-1: nothing to scale
    assert one(pulumi_mocks, "pulumi-python:dynamic/azureml:EndpointTraffic")["inputs"]["traffic"] == {"blue": 100}


# --- the capability matrix, enforced ----------------------------------------------------------------------------

REJECTED = [
    # (cloud, changes, field, words the message must contain)
    ("gcp", {"traffic_shift": {"mode": "canary"}}, "traffic_shift.auto_rollback", ["no alarm-driven rollback", "auto_rollback: false"]),
    ("gcp", {"shadow": {"model_uri": "gs://acme-models/churn/6"}}, "shadow", ["cannot mirror", "canary"]),
    ("gcp", {"instances": {"min": 0, "max": 2}}, "instances.min", ["min_replica_count >= 1", "n1-standard-4"]),
    ("gcp", {"serverless": {}, "instance_type": None, "instances": None}, "serverless", ["aws only"]),
    ("gcp", {"autoscaling": {"metric": "invocations_per_instance"}}, "autoscaling.metric", ["'utilization' on gcp"]),
    (
        "gcp",
        {"traffic_shift": {"mode": "linear", "step_percent": 10, "wait_minutes": 10, "auto_rollback": False}},
        "traffic_shift.wait_minutes",
        ["inside `pulumi up`"],
    ),
    ("gcp", {"kms_key": "arn:aws:kms:us-east-1:123456789012:key/abc"}, "kms_key", ["Cloud KMS key name"]),
    (
        "azure",
        {"traffic_shift": {"mode": "canary", "auto_rollback": False}},
        "traffic_shift.mode",
        ["does not shift traffic progressively", "`canary`"],
    ),
    (
        "azure",
        {"traffic_shift": {"mode": "linear", "auto_rollback": False}},
        "traffic_shift.mode",
        ["progressively", "raise the `canary` percent"],
    ),
    ("azure", {"traffic_shift": {"mode": "all_at_once"}}, "traffic_shift.auto_rollback", ["no alarm-driven rollback"]),
    ("azure", {"shadow": {"model_uri": "azureml:churn:6", "percent": 60}}, "shadow.percent", ["at most 50"]),
    ("azure", {"instances": {"min": 0, "max": 2}}, "instances.min", ["at least one instance", "Standard_DS3_v2"]),
    ("azure", {"workspace": None}, "workspace", ["required on azure"]),
    ("azure", {"kms_key": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}, "kms_key", ["workspace's key"]),
    ("azure", {"name": "a-rather-long-endpoint-name-x"}, "name", ["at most 27 characters"]),
    ("azure", {"network": {"private": True, "subnet_ids": ["s"]}}, "network.subnet_ids", ["aws only"]),
    ("aws", {"instances": {"min": 0, "max": 2}}, "instances.min", ["inference components", "`serverless`"]),
    (
        "aws",
        {
            "canary": {"model_uri": "s3://acme-models/churn/v6/model.tar.gz"},
            "shadow": {"model_uri": "s3://acme-models/churn/v7/model.tar.gz"},
        },
        "shadow",
        ["exactly one production variant"],
    ),
    ("aws", {"traffic_shift": {"mode": "linear", "step_percent": 5}}, "traffic_shift.step_percent", ["10-50"]),
    (
        "aws",
        {"traffic_shift": {"mode": "linear", "step_percent": 10, "wait_minutes": 60}},
        "traffic_shift.wait_minutes",
        ["aborts blue/green deployments after 4 h"],
    ),
    ("aws", {"serverless": {}, "instance_type": None, "instances": None}, "data_capture.enabled", ["does not support data capture"]),
    (
        "aws",
        {
            "serverless": {},
            "instance_type": None,
            "instances": None,
            "data_capture": {"enabled": False},
            "traffic_shift": {"mode": "canary"},
        },
        "traffic_shift",
        ["guardrails"],
    ),
    (
        "aws",
        {
            "serverless": {},
            "instance_type": None,
            "instances": None,
            "data_capture": {"enabled": False},
            "network": {"private": True, "subnet_ids": ["s"], "security_group_ids": ["g"]},
        },
        "network.private",
        ["VPC configuration"],
    ),
    ("aws", {"network": {"private": True}}, "network.private", ["subnet_ids and security_group_ids"]),
    ("aws", {"autoscaling": {"metric": "utilization"}}, "autoscaling.metric", ["'invocations_per_instance' on aws"]),
    ("aws", {"image": "ghcr.io/acme/churn:5.0.1" + DIGEST}, "image", ["Amazon ECR"]),
    ("aws", {"instance_type": "ml.g99.xlarge"}, "instance_type", ["price in the endpoint offer table", "ml.g5.xlarge"]),
    ("aws", {"canary": {"model_uri": "gs://acme-models/churn/6"}}, "canary.model_uri", ["'s3://' on aws"]),
    ("aws", {"workspace": "mlw"}, "workspace", ["azure only"]),
]


def _with(cloud: str, changes: dict[str, Any]) -> dict[str, Any]:
    values = {**BASE[cloud], **changes}
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(("cloud", "changes", "field", "words"), REJECTED, ids=[f"{c}-{f}-{i}" for i, (c, _, f, _) in enumerate(REJECTED)])
def test_unsupported_combinations_are_rejected_with_why_and_what_instead(cloud, changes, field, words, pulumi_mocks):
    stack = {"aws": "prod", "gcp": "prod-gcp", "azure": "prod-azure"}[cloud]
    values = stack_values(stack)
    values["managed_endpoints"] = [_with(cloud, changes)]
    with pytest.raises(ConfigError) as caught:
        validate_platform(stack, values, set(), allow_missing_secrets=True)
    messages = {i.path: str(i) for i in caught.value.issues}
    path = f"managed_endpoints[0].{field}"
    assert path in messages, messages
    for word in words:
        assert word in messages[path], messages[path]
    # the component itself refuses the same endpoint before registering anything
    config = ManagedEndpointConfig(**_with(cloud, changes))
    args = ManagedEndpointArgs(endpoint=config, cloud=CLOUD_CONFIGS[cloud], environment="prod")
    with pytest.raises(UnsupportedEndpointError, match=rf"managed endpoint '.*' on .*\n  - {field}: "):
        ManagedEndpoint("churn", args)
    assert pulumi_mocks.records == []


def test_invalid_endpoint_stops_the_program_before_any_resource(pulumi_mocks):
    values = stack_values("prod")
    values["managed_endpoints"][0]["shadow"] = {"model_uri": "s3://acme-ml-models-prod/sagemaker/churn-scorer/v6/model.tar.gz"}
    values["managed_endpoints"][0]["canary"] = {"model_uri": "s3://acme-ml-models-prod/sagemaker/churn-scorer/v7/model.tar.gz"}
    config = {f"mlops-platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    pulumi.runtime.set_all_config(config, [])
    with pytest.raises(pulumi.RunError, match=r"managed_endpoints\[0\]\.shadow"):
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    assert pulumi_mocks.records == []


def test_candidate_images_need_digests_in_prod():
    values = stack_values("prod")
    values["managed_endpoints"][0]["canary"] = {
        "model_uri": "s3://acme-ml-models-prod/sagemaker/churn-scorer/v6/model.tar.gz",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-scorer:6.0.0",
    }
    with pytest.raises(ConfigError) as caught:
        validate_platform("prod", values, set(), allow_missing_secrets=True)
    assert any(i.path == "managed_endpoints[0].canary.image" and "digest" in str(i) for i in caught.value.issues)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"instance_type": None}, "instance_type"),
        ({"serverless": {"memory_mb": 1500}, "instance_type": None}, "serverless.memory_mb"),
        ({"serverless": {}, "instances": {"min": 1, "max": 1}, "instance_type": None}, "instances"),
        ({"canary": {"model_uri": "s3://acme-models/churn/v6/model.tar.gz", "percent": 60}}, "canary.percent"),
        ({"canary": {"model_uri": "s3://acme-models/churn/v5/model.tar.gz"}}, "canary.model_uri"),
        ({"autoscaling": {"metric": "utilization", "target": 150}}, "autoscaling.target"),
        ({"model_uri": "azureml:churn:latest"}, "model_uri"),
        ({"traffic_shift": {"mode": "canary", "typo": 1}}, "traffic_shift.typo"),
    ],
)
def test_endpoint_model_errors(changes, field):
    values = stack_values("prod")
    values["managed_endpoints"] = [_with("aws", changes)]
    with pytest.raises(ConfigError) as caught:
        validate_platform("prod", values, set(), allow_missing_secrets=True)
    assert f"managed_endpoints[0].{field}" in [i.path for i in caught.value.issues]


def feature_request(cloud: str, feature: str) -> dict[str, Any]:
    """The endpoint config that asks for a matrix feature on a cloud (scale to zero on aws: a serverless endpoint)."""
    no_rollback = {"auto_rollback": False}
    network: dict[str, Any] = {"private": True}
    if cloud == "aws":
        network |= {"subnet_ids": ["subnet-a"], "security_group_ids": ["sg-1"]}
    requests: dict[str, dict[str, Any]] = {
        "canary": {"traffic_shift": {"mode": "canary", "step_percent": 20, "wait_minutes": 10, **no_rollback}},
        "linear": {"traffic_shift": {"mode": "linear", "step_percent": 25, "wait_minutes": 5, **no_rollback}},
        "auto_rollback": {"traffic_shift": {"mode": "all_at_once", "auto_rollback": True}},
        "weighted_canary": {"canary": {"model_uri": CANDIDATE[cloud], "percent": 20}},
        "shadow": {"shadow": {"model_uri": CANDIDATE[cloud], "percent": 20}},
        "scale_to_zero": {"instances": {"min": 0, "max": 2}},
        "data_capture": {"data_capture": {"enabled": True, "sampling_percent": 5}},
        "private_network": {"network": network},
    }
    if cloud == "aws":
        requests["scale_to_zero"] = {"serverless": {}, "instance_type": None, "instances": None, "data_capture": {"enabled": False}}
    return requests[feature]


REJECTED_AT = {
    "canary": "traffic_shift.mode",
    "linear": "traffic_shift.mode",
    "auto_rollback": "traffic_shift.auto_rollback",
    "shadow": "shadow",
    "scale_to_zero": "instances.min",
}
"""Where validation reports each feature a cloud cannot provide."""

MATRIX_CELLS = [(cloud, feature) for cloud in CLOUDS for feature in FEATURES]


@pytest.mark.parametrize(("cloud", "feature"), MATRIX_CELLS, ids=[f"{c}-{f}" for c, f in MATRIX_CELLS])
def test_validation_enforces_exactly_the_matrix(cloud, feature, pulumi_mocks, run_pulumi):
    """A "yes" cell validates and builds; a "no" cell is refused with the matrix's why and instead, before any resource."""
    support = MATRIX[cloud][feature]
    changes = feature_request(cloud, feature)
    cfg = endpoint_config(cloud, **changes)
    issues = {path: expected for path, _, expected in capability_issues(cfg, cloud, "prod")}
    if support.supported:
        assert issues == {}
        declare(pulumi_mocks, run_pulumi, cloud, **changes)
        assert one(pulumi_mocks, "mlops:serving:ManagedEndpoint")
        return
    assert set(issues) == {REJECTED_AT[feature]}, issues
    assert support.how in issues[REJECTED_AT[feature]] and support.instead in issues[REJECTED_AT[feature]]
    args = ManagedEndpointArgs(endpoint=cfg, cloud=CLOUD_CONFIGS[cloud], environment="prod")
    with pytest.raises(UnsupportedEndpointError, match=re.escape(support.instead)):
        ManagedEndpoint("churn", args)
    assert pulumi_mocks.records == []


def test_the_readme_matrix_is_generated_from_the_table_validation_uses():
    text = README.read_text()
    assert with_matrix(text) == text, "the README's endpoint capability matrix is stale: run `python -m tools.endpoints_readme`"
    assert matrix_markdown() in text
    with pytest.raises(ValueError, match="needs one"):
        with_matrix(text.replace(README_END, ""))


def test_the_matrix_covers_every_feature_and_says_what_to_use_instead():
    for cloud in CLOUDS:
        assert set(MATRIX[cloud]) == set(FEATURES)
        for feature, support in MATRIX[cloud].items():
            assert support.how, (cloud, feature)
            assert support.supported or support.instead, (cloud, feature)
    table = matrix_markdown()
    assert table.count("\n") == len(FEATURES) + 3
    assert "| shadow traffic (`shadow`) | yes: `shadow_production_variants`" in table
    assert "**no**: Vertex AI endpoints cannot mirror requests" in table


# --- cost ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_cost_comes_from_the_endpoint_offer_table(cloud):
    cfg = endpoint_config(cloud, canary={"model_uri": CANDIDATE[cloud], "percent": 10, "instances": 1})
    offer = endpoint_offer(cloud, BASE[cloud]["instance_type"])
    assert offer is not None
    cost = endpoint_cost(cfg, cloud)
    assert cost.hourly_per_instance == offer.hourly_usd
    assert cost.monthly_at_min == round(offer.hourly_usd * (cfg.instances.min + 1) * HOURS_PER_MONTH, 2)
    assert cost.monthly_at_max == round(offer.hourly_usd * (cfg.instances.max + 1) * HOURS_PER_MONTH, 2)
    entry = cost.as_dict()
    assert entry["price_basis"] == "on_demand" and offer.source in str(entry["price_source"])


def test_endpoint_cost_in_the_stacks_region():
    """Azure ML bills the VM price, which the regional table has per region; SageMaker and Vertex AI prices are not in
    the regional source, so outside the reference region they stay the reference region's, flagged as a fallback."""
    azure = endpoint_config("azure")
    cost = endpoint_cost(azure, "azure", "southcentralus")
    vm = PRICES["azure"][BASE["azure"]["instance_type"]]["southcentralus"][0]
    assert (cost.hourly_per_instance, cost.price_region, cost.price_fallback) == (vm, "southcentralus", False)
    assert vm == 0.631  # Standard_NC4as_T4_v3 in southcentralus in catalogs/v6/azure/vms.csv @098741e7
    assert "southcentralus list price" in cost.price_source and READ_ON in cost.price_source
    for cloud, region in (("aws", "eu-west-1"), ("gcp", "europe-west4")):
        cost = endpoint_cost(endpoint_config(cloud), cloud, region)
        offer = endpoint_offer(cloud, BASE[cloud]["instance_type"])
        assert offer is not None
        assert (cost.hourly_per_instance, cost.price_region, cost.price_fallback) == (offer.hourly_usd, REFERENCE_REGIONS[cloud], True)
    same = endpoint_cost(azure, "azure", "eastus")
    assert (same.price_region, same.price_fallback) == ("eastus", False)


def test_every_endpoint_offer_is_priced_and_sourced():
    for e in ENDPOINT_OFFERS:
        assert e.hourly_usd > 0 and e.source.strip()


def test_every_serverless_memory_size_is_priced_with_source_and_date():
    assert sorted(o.memory_mb for o in SERVERLESS_OFFERS) == list(SERVERLESS_MEMORY_MB)
    for o in SERVERLESS_OFFERS:
        # $0.0000200 per second per GB of memory, data processed $0.016 per GB
        assert o.cloud == "aws" and o.per_second_usd == pytest.approx(0.00002 * o.memory_mb / 1024) and o.data_per_gb_usd == 0.016
        assert "aws.amazon.com/sagemaker/pricing" in o.source and "read 2026-11" in o.source
    assert serverless_offer("gcp", 2048) is None and serverless_offer("aws", 1500) is None


def test_serverless_cost_is_zero_idle_and_bounded_by_concurrency():
    cfg = endpoint_config(
        "aws", instance_type=None, instances=None, serverless={"memory_mb": 2048, "max_concurrency": 5}, data_capture={"enabled": False}
    )
    entry = endpoint_cost(cfg, "aws").as_dict()
    assert entry == {
        "endpoint": "churn",
        "cloud": "aws",
        "instance_type": "serverless-2048mb",
        "price_basis": "serverless 2048 MB: per invocation-second, idle free; +$0.016/GB processed, not estimated",
        "hourly_per_instance_usd": 0.144,
        "min_instances": 0,
        "max_instances": 5,
        "candidate_instances": 0,
        "monthly_at_min_usd": 0.0,
        "monthly_at_max_usd": round(0.00004 * 3600 * 5 * HOURS_PER_MONTH, 2),
        "price_source": f"us-east-1 list price as of 2026-11: {serverless_offer('aws', 2048).source}",  # type: ignore[union-attr]
        "price_region": "us-east-1",
    }
    # SageMaker serverless has no regional price in the catalog: elsewhere it is the reference region's, and says so
    elsewhere = endpoint_cost(cfg, "aws", "eu-west-1")
    assert (elsewhere.price_region, elsewhere.price_fallback, elsewhere.hourly_per_instance) == ("us-east-1", True, 0.144)


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp", "prod-azure"])
def test_endpoint_costs_reach_cost_json_and_the_report(shipped, stack):
    result = shipped[stack]
    cost = cost_summary(result)
    report = render_report(result)
    assert result.config.managed_endpoints
    cloud = result.config.cloud
    region = cloud.region or cloud.location
    for endpoint, entry in zip(result.config.managed_endpoints, cost["managed_endpoints"], strict=True):
        assert entry == endpoint_cost(endpoint, cloud.provider, region).as_dict()
        if entry["price_region"] == REFERENCE_REGIONS[cloud.provider]:
            assert "2026-11" in str(entry["price_source"])
        else:  # Azure ML in eastus2: the VM's regional list price
            assert (cloud.provider, entry["price_region"]) == ("azure", region) and READ_ON in str(entry["price_source"])
        line = (
            f"| endpoint {endpoint.name} | `{entry['instance_type']}` | {entry['price_basis']} | {entry['hourly_per_instance_usd']:.4f} |"
        )
        assert line in report, report
        assert f"${entry['monthly_at_max_usd']:,.2f} |" in report


def test_local_nvme_families():
    assert has_local_nvme("ml.g5.xlarge") and has_local_nvme("ml.p4d.24xlarge") and has_local_nvme("ml.g4dn.xlarge")
    assert not has_local_nvme("ml.m5.xlarge") and not has_local_nvme("ml.c5.2xlarge")


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure"])
def test_shipped_endpoints_are_valid(stack):
    platform, _ = validate_platform(stack, stack_values(stack), set(), allow_missing_secrets=True)
    for endpoint in platform.managed_endpoints:
        assert endpoint_cost(endpoint, platform.cloud.provider).monthly_at_min > 0
