"""The policy pack: every policy passes a good resource and flags a bad one, shipped stacks are clean, budgets are enforced.

Only ``policies.mlops_policies`` is imported: ``policies/__main__.py`` builds the PolicyPack, which
starts a server and never returns.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.mlops_policies import ALL_POLICIES, PACK_NAME, POLICIES_BY_NAME, cost, runner
from policies.mlops_policies.runner import PolicyResult, evaluate, pack_config_for
from policies.mlops_policies.settings import ENVIRONMENTS
from tools.synthesis import ROOT

from .conftest import STACKS

Record = dict[str, Any]
DIGEST = "sha256:" + "0123456789abcdef" * 4
TRITON = f"nvcr.io/nvidia/tritonserver:24.08-py3@{DIGEST}"
OWNER = {"mlops.platform/team": "ml-platform", "mlops.platform/environment": "prod", "mlops.platform/cost-center": "cc-ml-1042"}
CLOUD_TAGS = {"team": "ml-platform", "environment": "prod", "cost-center": "cc-ml-1042"}
DELETE = object()


# --- building records ------------------------------------------------------------------------------------------------


def rec(
    type_: str, inputs: dict[str, Any], name: str = "res", *, protect: bool = False, provider: str | None = None, parent: str | None = None
) -> Record:
    """A resource record in the form tools.synthesis writes."""
    parent_type = parent.rsplit("::", 2)[1].split("$")[-1] + "$" if parent else ""
    return {
        "urn": f"urn:pulumi:test::mlops-platform::{parent_type}{type_}::{name}",
        "operation": "register",
        "type": type_,
        "name": name,
        "parent": parent,
        "custom": not type_.startswith("mlops:"),
        "provider": provider,
        "protect": protect,
        "ignore_changes": [],
        "inputs": inputs,
    }


def changed(record: Record, *edits: tuple[str | tuple[str, ...], Any]) -> Record:
    """A copy of ``record`` with input paths set (or removed with DELETE).

    A path is dotted (``"spec.replicas"``) or a tuple when a key holds dots (``("limits", "nvidia.com/gpu")``);
    numeric parts index lists.
    """
    out = copy.deepcopy(record)
    for path, value in edits:
        parts = path.split(".") if isinstance(path, str) else list(path)
        target: Any = out["inputs"]
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return out


def triton_container(**overrides: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "triton",
        "image": TRITON,
        "args": [
            "tritonserver",
            "--model-repository=s3://acme-ml-models-prod/triton",
            "--model-control-mode=explicit",
            "--load-model=fraud",
        ],
        "resources": {
            "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1},
            "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": 1},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    container.update(overrides)
    return container


POD_LABELS = {"app.kubernetes.io/name": "triton", "mlops.platform/model": "fraud"}


def deployment(name: str = "fraud", replicas: int = 3, **pod: Any) -> Record:
    """A Triton Deployment that passes every Kubernetes policy."""
    spec: dict[str, Any] = {
        "containers": [triton_container()],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": POD_LABELS},
            }
        ],
    }
    spec.update(pod)
    return rec(
        "kubernetes:apps/v1:Deployment",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ml-serving", "labels": {**OWNER, "mlops.platform/model": "fraud"}},
            "spec": {
                "replicas": float(replicas),
                "selector": {"matchLabels": POD_LABELS},
                "template": {"metadata": {"labels": POD_LABELS}, "spec": spec},
            },
        },
        name=f"{name}-deployment",
    )


def pdb(name: str = "fraud", **spec: Any) -> Record:
    return rec(
        "kubernetes:policy/v1:PodDisruptionBudget",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "ml-serving", "labels": OWNER},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "triton"}}, **(spec or {"maxUnavailable": 1.0})},
        },
        name=f"{name}-pdb",
    )


def scaled_object(target: str = "fraud", minimum: float | None = 2.0, idle: float | None = None) -> Record:
    spec: dict[str, Any] = {"scaleTargetRef": {"name": target}, "maxReplicaCount": 8.0, "triggers": []}
    if minimum is not None:
        spec["minReplicaCount"] = minimum
    if idle is not None:
        spec["idleReplicaCount"] = idle
    return rec(
        "kubernetes:keda.sh/v1alpha1:ScaledObject",
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": target, "namespace": "ml-serving", "labels": OWNER},
            "spec": spec,
        },
        name=f"{target}-scaler",
    )


def hpa(target: str = "fraud", minimum: float = 2.0) -> Record:
    return rec(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": "ml-serving", "labels": OWNER},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": minimum,
                "maxReplicas": 8.0,
            },
        },
        name=f"{target}-hpa",
    )


def service(type_: str = "ClusterIP", annotations: dict[str, str] | None = None) -> Record:
    return rec(
        "kubernetes:core/v1:Service",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "fraud", "namespace": "ml-serving", "labels": OWNER, "annotations": annotations or {}},
            "spec": {"type": type_, "ports": [{"port": 8000.0}], "selector": POD_LABELS},
        },
        name="fraud-svc",
    )


AWS_PROVIDER = rec(
    "pulumi:providers:aws", {"region": "us-east-1", "defaultTags": json.dumps({"tags": {**CLOUD_TAGS, "managed-by": "pulumi"}})}, "aws"
)
BARE_AWS_PROVIDER = rec("pulumi:providers:aws", {"region": "us-east-1"}, "aws-bare")
GCP_PROVIDER = rec("pulumi:providers:gcp", {"project": "acme-ml-prod", "defaultLabels": json.dumps(CLOUD_TAGS)}, "gcp")


def eks_pool(capacity: str = "ON_DEMAND", max_size: float = 4.0, instance: str = "g5.xlarge", provider: Record = AWS_PROVIDER) -> Record:
    return rec(
        "aws:eks/nodeGroup:NodeGroup",
        {
            "clusterName": "ml-prod",
            "amiType": "AL2023_x86_64_NVIDIA",
            "capacityType": capacity,
            "instanceTypes": [instance],
            "scalingConfig": {"minSize": 1.0, "desiredSize": 1.0, "maxSize": max_size},
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
        },
        "gpu-ng",
        provider=provider["urn"],
    )


def gke_pool(spot: bool = False, total_max: float = 3.0) -> Record:
    return rec(
        "gcp:container/nodePool:NodePool",
        {
            "cluster": "ml-prod",
            "location": "us-central1",
            "nodeLocations": ["us-central1-a", "us-central1-b"],
            "autoscaling": {"totalMinNodeCount": 1.0, "totalMaxNodeCount": total_max},
            "nodeConfig": {
                "machineType": "g2-standard-8",
                "spot": spot,
                "guestAccelerators": [{"type": "nvidia-l4", "count": 1.0}],
                "resourceLabels": CLOUD_TAGS,
            },
        },
        "gpu-np",
        provider=GCP_PROVIDER["urn"],
    )


def aks_pool(priority: str = "Regular", max_count: float = 3.0) -> Record:
    return rec(
        "azure-native:containerservice:AgentPool",
        {
            "resourceGroupName": "rg",
            "resourceName": "aks",
            "vmSize": "Standard_NC24ads_A100_v4",
            "enableAutoScaling": True,
            "minCount": 1.0,
            "maxCount": max_count,
            "scaleSetPriority": priority,
            "nodeTaints": ["nvidia.com/gpu=present:NoSchedule"],
            "tags": CLOUD_TAGS,
        },
        "gpu-pool",
    )


def sagemaker_config(**overrides: Any) -> Record:
    inputs: dict[str, Any] = {
        "productionVariants": [
            {
                "variantName": "primary",
                "modelName": "churn-5",
                "instanceType": "ml.g5.xlarge",
                "initialInstanceCount": 2.0,
                "initialVariantWeight": 1.0,
            }
        ],
        "dataCaptureConfig": {
            "enableCapture": True,
            "initialSamplingPercentage": 10.0,
            "destinationS3Uri": "s3://acme-ml-capture/churn",
            "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        },
        "tags": {"model": "churn-scorer"},
    }
    inputs.update(overrides)
    return rec("aws:sagemaker/endpointConfiguration:EndpointConfiguration", inputs, "churn-config", provider=AWS_PROVIDER["urn"])


def sagemaker_endpoint(alarms: list[str] | None = None, canary_percent: float = 10.0) -> Record:
    return rec(
        "aws:sagemaker/endpoint:Endpoint",
        {
            "endpointConfigName": "churn-config-1234",
            "deploymentConfig": {
                "blueGreenUpdatePolicy": {
                    "trafficRoutingConfiguration": {
                        "type": "CANARY",
                        "waitIntervalInSeconds": 900.0,
                        "canarySize": {"type": "CAPACITY_PERCENT", "value": canary_percent},
                    }
                },
                "autoRollbackConfiguration": {
                    "alarms": [{"alarmName": a} for a in (["churn-5xx", "churn-latency"] if alarms is None else alarms)]
                },
            },
            "tags": {"model": "churn-scorer"},
        },
        "churn-endpoint",
        provider=AWS_PROVIDER["urn"],
    )


def aml_deployment(**properties: Any) -> Record:
    props: dict[str, Any] = {
        "endpointComputeType": "Managed",
        "model": "azureml:churn-scorer:5",
        "environmentId": "azureml:infer-env:1",
        "instanceType": "Standard_NC4as_T4_v3",
        "dataCollector": {
            "collections": {"model_inputs": {"dataCollectionMode": "Enabled"}, "model_outputs": {"dataCollectionMode": "Enabled"}}
        },
    }
    props.update(properties)
    return rec(
        "azure-native:machinelearningservices:OnlineDeployment",
        {
            "endpointName": "churn",
            "resourceGroupName": "rg",
            "workspaceName": "ws",
            "sku": {"name": "Default", "capacity": 2.0},
            "properties": props,
            "tags": {**CLOUD_TAGS, "model": "churn-scorer"},
        },
        "churn-blue",
    )


def aml_endpoint(traffic: dict[str, float]) -> Record:
    return rec(
        "azure-native:machinelearningservices:OnlineEndpoint",
        {"resourceGroupName": "rg", "workspaceName": "ws", "properties": {"authMode": "AADToken", "traffic": traffic}, "tags": CLOUD_TAGS},
        "churn-endpoint",
    )


def s3_bucket(**extra: Any) -> Record:
    return rec(
        "aws:s3/bucket:Bucket", {"bucket": "acme-mlflow-artifacts", **extra}, "artifacts", protect=True, provider=AWS_PROVIDER["urn"]
    )


def s3_pab(**overrides: Any) -> Record:
    flags = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True, **overrides}
    return rec("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"bucket": "acme-mlflow-artifacts", **flags}, "artifacts-pab")


def s3_versioning(status: str = "Enabled") -> Record:
    return rec(
        "aws:s3/bucketVersioning:BucketVersioning",
        {"bucket": "acme-mlflow-artifacts", "versioningConfiguration": {"status": status}},
        "artifacts-versioning",
    )


def s3_encryption(algorithm: str | None = "aws:kms") -> Record:
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm, "kmsMasterKeyId": "alias/ml"}}] if algorithm else []
    return rec(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"bucket": "acme-mlflow-artifacts", "rules": rules},
        "artifacts-sse",
    )


def gcs_bucket(**overrides: Any) -> Record:
    inputs = {
        "name": "acme-mlflow",
        "location": "US",
        "publicAccessPrevention": "enforced",
        "uniformBucketLevelAccess": True,
        "versioning": {"enabled": True},
        **overrides,
    }
    return rec("gcp:storage/bucket:Bucket", inputs, "artifacts-gcs", protect=True, provider=GCP_PROVIDER["urn"])


def storage_account(**overrides: Any) -> Record:
    inputs = {
        "accountName": "acmemlflow",
        "allowBlobPublicAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "enableHttpsTrafficOnly": True,
        "tags": CLOUD_TAGS,
        **overrides,
    }
    return rec("azure-native:storage:StorageAccount", inputs, "artifacts-sa", protect=True)


def blob_service(versioning: bool = True) -> Record:
    return rec(
        "azure-native:storage:BlobServiceProperties", {"accountName": "acmemlflow", "isVersioningEnabled": versioning}, "artifacts-sa-blob"
    )


def rds(**overrides: Any) -> Record:
    inputs = {
        "engine": "postgres",
        "storageEncrypted": True,
        "backupRetentionPeriod": 35.0,
        "publiclyAccessible": False,
        "deletionProtection": True,
        **overrides,
    }
    return rec("aws:rds/instance:Instance", inputs, "mlflow-db", protect=True, provider=AWS_PROVIDER["urn"])


def cloud_sql(**settings: Any) -> Record:
    base = {
        "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True},
        "ipConfiguration": {"ipv4Enabled": False, "privateNetwork": "projects/p/global/networks/vpc", "sslMode": "ENCRYPTED_ONLY"},
        "deletionProtectionEnabled": True,
        "userLabels": CLOUD_TAGS,
        **settings,
    }
    return rec(
        "gcp:sql/databaseInstance:DatabaseInstance",
        {"databaseVersion": "POSTGRES_16", "settings": base},
        "mlflow-sql",
        protect=True,
        provider=GCP_PROVIDER["urn"],
    )


def azure_pg(protect: bool = True, **overrides: Any) -> Record:
    inputs = {"network": {"publicNetworkAccess": "Disabled"}, "backup": {"backupRetentionDays": 35.0}, "tags": CLOUD_TAGS, **overrides}
    return rec("azure-native:dbforpostgresql:Server", inputs, "mlflow-pg", protect=protect)


def namespace(labels: dict[str, str] | None = None) -> Record:
    return rec(
        "kubernetes:core/v1:Namespace",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-serving", "labels": OWNER if labels is None else labels}},
        "ns",
    )


# --- the fake price catalog --------------------------------------------------------------------------------------------

NODE_PRICES = {
    ("aws", "g5.xlarge", "on_demand"): 1.0,
    ("aws", "g5.xlarge", "spot"): 0.4,
    ("aws", "p5.4xlarge", "on_demand"): 7.0,
    ("gcp", "g2-standard-8", "on_demand"): 1.0,
    ("azure", "Standard_NC24ads_A100_v4", "on_demand"): 4.0,
}
ENDPOINT_PRICES = {("aws", "ml.g5.xlarge"): 1.5, ("azure", "Standard_NC4as_T4_v3"): 0.5, ("gcp", "g2-standard-8"): 1.2}


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A price catalog with round numbers, in place of mlops_platform.catalog.offers (same API)."""
    fake = SimpleNamespace(
        hourly_price=lambda cloud, instance_type, capacity="on_demand", region=None: NODE_PRICES.get((cloud, instance_type, capacity)),
        endpoint_price=lambda cloud, instance_type, region=None: (
            (ENDPOINT_PRICES[(cloud, instance_type)], region or "reference", False) if (cloud, instance_type) in ENDPOINT_PRICES else None
        ),
    )
    monkeypatch.setattr(cost, "offers", fake)
    return fake


# --- running policies ----------------------------------------------------------------------------------------------------


def only(policy: str, config: dict[str, Any] | None = None, level: str = "mandatory") -> dict[str, Any]:
    """A pack config that runs one policy."""
    return {"all": {"enforcementLevel": "disabled"}, policy: {"enforcementLevel": level, **(config or {})}}


def run(policy: str, records: list[Record], config: dict[str, Any] | None = None) -> list[PolicyResult]:
    """Violations of one policy, through the runner (engine-style read-only proxies)."""
    return [r for r in evaluate(records, only(policy, config)) if r.policy == policy]


def _opts(record: Record) -> PolicyResourceOptions:
    return PolicyResourceOptions(record["protect"], [], None, [], PolicyCustomTimeouts(0, 0, 0), [], record["parent"])


def direct(policy_name: str, records: list[Record], config: dict[str, Any]) -> list[str]:
    """Violations of one policy, calling its validate directly with plain dicts and exactly ``config``."""
    policy = POLICIES_BY_NAME[policy_name]
    by_urn = {r["urn"]: r for r in records}
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    def provider(record: Record) -> PolicyProviderResource | None:
        found = by_urn.get(record["provider"] or "")
        return PolicyProviderResource(found["type"], found["inputs"], found["urn"], found["name"]) if found else None

    if isinstance(policy, ResourceValidationPolicy):
        for r in records:
            args = ResourceValidationArgs(r["type"], r["inputs"], r["urn"], r["name"], _opts(r), provider(r), config)
            assert policy.validate(args, report) is None  # every validator is synchronous
    else:
        assert isinstance(policy, StackValidationPolicy)
        resources = {
            r["urn"]: PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], _opts(r), provider(r), None, [], {}) for r in records
        }
        for r in records:
            if r["parent"] in resources:
                resources[r["urn"]].parent = resources[r["parent"]]
        assert policy.validate(StackValidationArgs(list(resources.values()), config), report) is None
    return messages


# --- one passing and one violating case per policy ---------------------------------------------------------------------

BUDGET = {"monthlyBudgetUsd": 10_000, "cloud": "aws"}
Case = tuple[str, list[Record], list[Record], dict[str, Any]]

CASES: list[Case] = [
    (
        "k8s-container-resources",
        [deployment()],
        [changed(deployment(), ("spec.template.spec.containers.0.resources.limits.memory", DELETE))],
        {},
    ),
    (
        "k8s-container-resources",
        [deployment()],
        [changed(deployment(), ("spec.template.spec.containers.0.resources.requests.cpu", "8"))],
        {},
    ),
    (
        "k8s-gpu-requests-equal-limits",
        [deployment()],
        [
            changed(deployment(), (("spec", "template", "spec", "containers", "0", "resources", "limits", "nvidia.com/gpu"), DELETE)),
            changed(deployment(), (("spec", "template", "spec", "containers", "0", "resources", "limits", "nvidia.com/gpu"), 2)),
        ],
        {},
    ),
    (
        "k8s-image-pinned",
        [deployment()],
        [changed(deployment(), ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver:latest"))],
        {},
    ),
    (
        "k8s-image-pinned",
        [changed(deployment(), ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver:24.08-py3"))],
        [changed(deployment(), ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver"))],
        {"requireDigest": False},
    ),
    (
        "k8s-restricted-security-context",
        [deployment()],
        [changed(deployment(), ("spec.template.spec.containers.0.securityContext", {"privileged": True}))],
        {},
    ),
    (
        "k8s-no-host-access",
        [deployment()],
        [deployment(hostNetwork=True), deployment(volumes=[{"name": "dev", "hostPath": {"path": "/dev"}}])],
        {},
    ),
    ("k8s-gpu-toleration", [deployment(), deployment(tolerations=[{"operator": "Exists"}])], [deployment(tolerations=[])], {}),
    (
        "k8s-no-public-load-balancer",
        [service(), service("LoadBalancer", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"})],
        [service("LoadBalancer")],
        {},
    ),
    ("k8s-min-replicas", [deployment(replicas=3), deployment("b", replicas=1), hpa("b", 2.0)], [deployment(replicas=1)], {}),
    ("k8s-min-replicas", [deployment(replicas=3)], [deployment(replicas=3), hpa("fraud", 1.0)], {}),
    # KEDA's minimum defaults to 0, and an idle count below it is the real floor
    ("k8s-min-replicas", [deployment(replicas=1), scaled_object("fraud", 2.0)], [deployment(replicas=3), scaled_object("fraud", None)], {}),
    (
        "k8s-min-replicas",
        [deployment(replicas=1), scaled_object("fraud", 2.0)],
        [deployment(replicas=3), scaled_object("fraud", 2.0, idle=0.0)],
        {},
    ),
    ("k8s-pod-disruption-budget", [deployment(), pdb()], [deployment()], {}),
    ("k8s-pod-disruption-budget", [deployment(), pdb(minAvailable="50%")], [deployment(), pdb(minAvailable=3.0)], {}),
    ("k8s-zone-spread", [deployment()], [deployment(topologySpreadConstraints=[])], {}),
    ("storage-public-access-blocked", [s3_pab(), gcs_bucket(), storage_account()], [s3_pab(restrictPublicBuckets=False)], {}),
    (
        "storage-public-access-blocked",
        [gcs_bucket()],
        [gcs_bucket(publicAccessPrevention="inherited"), storage_account(allowBlobPublicAccess=True)],
        {},
    ),
    (
        "storage-encrypted",
        [s3_encryption(), s3_encryption("AES256"), storage_account()],
        [s3_encryption(None), storage_account(minimumTlsVersion="TLS1_0")],
        {},
    ),
    (
        "storage-versioned",
        [s3_versioning(), gcs_bucket(), blob_service()],
        [s3_versioning("Suspended"), gcs_bucket(versioning={"enabled": False})],
        {},
    ),
    (
        "storage-controls-attached",
        [AWS_PROVIDER, s3_bucket(), s3_pab(), s3_versioning(), s3_encryption(), storage_account(), blob_service()],
        [AWS_PROVIDER, s3_bucket(), s3_pab(), storage_account()],
        {},
    ),
    ("database-encrypted", [AWS_PROVIDER, rds(), GCP_PROVIDER, cloud_sql()], [AWS_PROVIDER, rds(storageEncrypted=False)], {}),
    (
        "database-backups",
        [AWS_PROVIDER, rds(), GCP_PROVIDER, cloud_sql(), azure_pg()],
        [AWS_PROVIDER, rds(backupRetentionPeriod=1.0), azure_pg(backup={})],
        {"minBackupRetentionDays": 14},
    ),
    (
        "database-not-public",
        [AWS_PROVIDER, rds(), GCP_PROVIDER, cloud_sql(), azure_pg()],
        [AWS_PROVIDER, rds(publiclyAccessible=True), GCP_PROVIDER, cloud_sql(ipConfiguration={"ipv4Enabled": True}), azure_pg(network={})],
        {},
    ),
    (
        "database-deletion-protection",
        [AWS_PROVIDER, rds(), GCP_PROVIDER, cloud_sql(), azure_pg()],
        [AWS_PROVIDER, rds(deletionProtection=False), azure_pg(protect=False)],
        {},
    ),
    (
        "stateful-resources-protected",
        [AWS_PROVIDER, s3_bucket(), rds(), gcs_bucket(), storage_account(), azure_pg()],
        [changed(s3_bucket()) | {"protect": False}, azure_pg(protect=False)],
        {},
    ),
    (
        "endpoint-data-capture",
        [AWS_PROVIDER, sagemaker_config(), aml_deployment()],
        [AWS_PROVIDER, sagemaker_config(dataCaptureConfig={}), aml_deployment(dataCollector={})],
        {},
    ),
    ("endpoint-auto-rollback", [AWS_PROVIDER, sagemaker_endpoint()], [AWS_PROVIDER, sagemaker_endpoint(alarms=[])], {}),
    (
        "canary-weight-bounds",
        [aml_endpoint({"blue": 90, "green": 10}), AWS_PROVIDER, sagemaker_endpoint()],
        [
            aml_endpoint({"blue": 50, "green": 50}),
            aml_endpoint({"blue": 80, "green": 10}),
            AWS_PROVIDER,
            sagemaker_endpoint(canary_percent=40.0),
        ],
        {"maxCanaryPercent": 25},
    ),
    (
        "model-version-pinned",
        [
            deployment(),
            AWS_PROVIDER,
            rec("aws:sagemaker/model:Model", {"primaryContainer": {"image": TRITON, "modelDataUrl": "s3://m/churn/v5/model.tar.gz"}}),
            aml_deployment(),
        ],
        [
            changed(deployment(), ("spec.template.spec.containers.0.args.2", "--model-control-mode=poll")),
            rec("aws:sagemaker/model:Model", {"primaryContainer": {"image": TRITON, "modelDataUrl": "s3://m/churn/latest/model.tar.gz"}}),
            aml_deployment(model="azureml:churn-scorer@latest"),
            rec(
                "kubernetes:core/v1:ConfigMap",
                {"metadata": {"name": "fraud-config"}, "data": {"config.pbtxt": 'name: "fraud"\nbackend: "onnxruntime"'}},
            ),
        ],
        {},
    ),
    (
        "required-tags",
        [AWS_PROVIDER, eks_pool(), namespace(), aks_pool(), GCP_PROVIDER, gke_pool()],
        [BARE_AWS_PROVIDER, eks_pool(provider=BARE_AWS_PROVIDER), namespace({"team": "ml-platform"}), changed(aks_pool(), ("tags", {}))],
        {"environment": "prod"},
    ),
    ("required-tags", [namespace()], [namespace({**OWNER, "mlops.platform/environment": "dev"})], {"environment": "prod"}),
    (
        "serving-model-tag",
        [AWS_PROVIDER, sagemaker_endpoint(), deployment()],
        [AWS_PROVIDER, changed(sagemaker_endpoint(), ("tags", {}))],
        {},
    ),
    (
        "no-spot-gpu-pools",
        [AWS_PROVIDER, eks_pool(), GCP_PROVIDER, gke_pool(), aks_pool()],
        [AWS_PROVIDER, eks_pool("SPOT"), GCP_PROVIDER, gke_pool(spot=True), aks_pool("Spot")],
        {},
    ),
    ("gpu-budget-warning", [AWS_PROVIDER, eks_pool(max_size=10.0)], [AWS_PROVIDER, eks_pool(max_size=12.0)], BUDGET),
    ("gpu-budget-limit", [AWS_PROVIDER, eks_pool(max_size=13.0)], [AWS_PROVIDER, eks_pool(max_size=14.0)], BUDGET),
    ("priced-instance-types", [AWS_PROVIDER, eks_pool(), sagemaker_config()], [AWS_PROVIDER, eks_pool(instance="g99.huge")], {}),
]


def test_every_policy_has_a_passing_and_a_violating_case():
    assert {case[0] for case in CASES} == {p.name for p in ALL_POLICIES}


@pytest.mark.parametrize(("policy", "good", "bad", "config"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_policy_passes_good_and_flags_bad_resources(catalog, policy, good, bad, config):
    assert run(policy, good, config) == [], "through the runner"
    assert direct(policy, good, config) == [], "called directly"
    found = run(policy, bad, config)
    assert found, "through the runner"
    assert direct(policy, bad, config), "called directly"
    for result in found:
        assert result.level == "mandatory" and result.policy == policy
        problem, _, fix = result.message.partition(". Fix: ")
        assert problem and fix, f"message must name the problem and the fix: {result.message}"


def test_every_violating_resource_is_flagged(catalog):
    bad = next(case[2] for case in CASES if case[0] == "no-spot-gpu-pools")
    assert {r.urn for r in run("no-spot-gpu-pools", bad)} == {r["urn"] for r in bad if not r["type"].startswith("pulumi:")}
    found = run("database-not-public", [rds(publiclyAccessible=True), cloud_sql(ipConfiguration={"ipv4Enabled": True})])
    assert {r.urn for r in found} == {rds()["urn"], cloud_sql()["urn"]}


# --- specific behaviour ------------------------------------------------------------------------------------------------


def test_direct_calls_default_to_the_strict_settings():
    """A direct call with {} config gets the schema defaults: digests required, 2 replicas, 25 % canaries."""
    tagged = changed(deployment(), ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/tritonserver:24.08-py3"))
    assert direct("k8s-image-pinned", [tagged], {})
    assert not direct("k8s-image-pinned", [tagged], {"requireDigest": False})
    assert direct("k8s-min-replicas", [deployment(replicas=1)], {})
    assert direct("canary-weight-bounds", [aml_endpoint({"blue": 70, "green": 30})], {})
    assert not direct("canary-weight-bounds", [aml_endpoint({"blue": 70, "green": 30})], {"maxCanaryPercent": 50.0})


def test_a_scaled_object_may_go_to_zero_only_where_the_config_allows_it():
    to_zero = [deployment(replicas=1), scaled_object("fraud", 0.0)]
    assert direct("k8s-min-replicas", to_zero, {"minReplicas": 2.0})
    assert not direct("k8s-min-replicas", to_zero, {"minReplicas": 2.0, "allowScaleToZero": True})
    # the allowance is for zero only: a floor of 1 under a required 2 still fails, and so does a plain Deployment at 0
    assert direct("k8s-min-replicas", [deployment(replicas=1), scaled_object("fraud", 1.0)], {"minReplicas": 2.0, "allowScaleToZero": True})
    assert direct("k8s-min-replicas", [deployment(replicas=0)], {"minReplicas": 1.0, "allowScaleToZero": True})


def test_engine_numbers_arrive_as_floats():
    assert not direct("k8s-min-replicas", [deployment(replicas=2)], {"minReplicas": 2.0})
    assert direct("k8s-min-replicas", [deployment(replicas=2)], {"minReplicas": 3.0})


def test_aws_tags_resolve_through_the_provider_default_tags():
    good = run("required-tags", [AWS_PROVIDER, eks_pool()])
    bare = run("required-tags", [BARE_AWS_PROVIDER, eks_pool(provider=BARE_AWS_PROVIDER)])
    assert good == []
    assert len(bare) == 1 and "team, environment, cost-center" in bare[0].message and bare[0].urn == eks_pool()["urn"]
    # The engine passes the provider's defaultTags as an object, the mocks as a JSON string: both resolve.
    as_object = changed(AWS_PROVIDER, ("defaultTags", {"tags": CLOUD_TAGS}))
    assert run("required-tags", [as_object, eks_pool(provider=as_object)]) == []


def test_gcp_labels_resolve_through_the_provider_default_labels():
    bucket = changed(gcs_bucket(), ("labels", {"purpose": "mlflow"}))
    assert run("required-tags", [GCP_PROVIDER, bucket]) == []
    without_defaults = changed(GCP_PROVIDER, ("defaultLabels", DELETE))
    found = run("required-tags", [without_defaults, bucket])
    assert len(found) == 1 and "in labels" in found[0].message


def test_gke_pool_labels_are_not_covered_by_provider_defaults():
    pool = changed(gke_pool(), ("nodeConfig.resourceLabels", {}))
    found = run("required-tags", [GCP_PROVIDER, pool])
    assert len(found) == 1 and "nodeConfig.resourceLabels" in found[0].message


def test_pdb_selector_must_match_the_pods():
    other = changed(pdb(), ("spec.selector", {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}))
    assert run("k8s-pod-disruption-budget", [deployment(), other])
    expression = changed(
        pdb(), ("spec.selector", {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["triton"]}]})
    )
    assert run("k8s-pod-disruption-budget", [deployment(), expression]) == []


def test_exempt_annotation_skips_availability_policies():
    single = changed(
        deployment(replicas=1, topologySpreadConstraints=[]),
        ("metadata.annotations", {"mlops.platform/availability-exempt": "single writer"}),
    )
    for policy in ("k8s-min-replicas", "k8s-pod-disruption-budget", "k8s-zone-spread"):
        assert run(policy, [single]) == []


CHART = "urn:pulumi:test::mlops-platform::mlops:gpu:GpuOperator$kubernetes:helm.sh/v4:Chart::mlops-gpu-operator"


def test_vendor_system_namespaces_are_exempt_from_pod_hardening():
    """The GPU Operator's daemonsets need host access by design; the same pod anywhere else is flagged."""
    privileged = changed(
        deployment(replicas=1, hostPID=True, volumes=[{"name": "driver", "hostPath": {"path": "/run/nvidia"}}]),
        ("spec.template.spec.containers.0.securityContext", {"privileged": True}),
        ("spec.template.spec.containers.0.resources", {}),
        ("spec.template.spec.containers.0.image", "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"),
    )
    in_operator = changed(privileged, ("metadata.namespace", "gpu-operator"))
    policies = ["k8s-no-host-access", "k8s-restricted-security-context", "k8s-container-resources", "k8s-image-pinned", "k8s-min-replicas"]
    for policy in policies:
        assert run(policy, [in_operator]) == [], policy
        assert run(policy, [privileged]), policy
    assert run("k8s-no-host-access", [in_operator], {"exemptNamespaces": []})


def test_manifests_rendered_by_a_chart_need_no_platform_labels():
    unlabelled = changed(namespace(), ("metadata.labels", {}))
    assert run("required-tags", [unlabelled])
    assert run("required-tags", [unlabelled | {"parent": CHART}]) == []


def test_model_version_references():
    from policies.mlops_policies.model_versions import FLOATING_ALIASES, floating_reference

    aliases = set(FLOATING_ALIASES)
    assert floating_reference("models:/fraud/7", aliases) is None
    assert floating_reference("models:/fraud/Production", aliases) == "MLflow stage 'Production'"
    assert floating_reference("models:/fraud@champion", aliases) == "MLflow alias '@champion'"
    assert floating_reference("s3://acme-ml-models-staging/triton/fraud/8", aliases) is None
    assert floating_reference("s3://acme/churn/latest/model.tar.gz", aliases) == "the floating alias 'latest'"
    pinned = rec("kubernetes:core/v1:ConfigMap", {"data": {"fraud/config.pbtxt": "version_policy: { specific: { versions: [8] } }"}})
    latest = rec("kubernetes:core/v1:ConfigMap", {"data": {"fraud/config.pbtxt": "version_policy: { latest: { num_versions: 1 } }"}})
    assert run("model-version-pinned", [pinned]) == []
    assert run("model-version-pinned", [latest])
    assert run("model-version-pinned", [aml_deployment(model="azureml:churn-scorer")])
    assert run("model-version-pinned", [aml_deployment(model="azureml:churn-scorer:latest")])


def test_traffic_splits_must_add_up():
    found = run("canary-weight-bounds", [aml_endpoint({"blue": 80, "green": 10})], {"maxCanaryPercent": 25})
    assert len(found) == 1 and "traffic weights sum to 90, not 100" in found[0].message
    route = rec(
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        {
            "metadata": {"name": "fraud"},
            "spec": {"rules": [{"backendRefs": [{"name": "fraud-v8", "weight": 60}, {"name": "fraud-v9", "weight": 40}]}]},
        },
    )
    assert run("canary-weight-bounds", [route], {"maxCanaryPercent": 25})
    assert run("canary-weight-bounds", [route], {"maxCanaryPercent": 50}) == []


@pytest.mark.parametrize(("weights", "flagged"), [((0.9, 0.1), False), ((1.0, 0.0), False), ((0.5, 0.5), True), ((1.0, 1.0, 1.0), True)])
def test_sagemaker_variant_weights_are_shares_of_their_total(weights, flagged):
    variants = [{"variantName": f"v{i}", "instanceType": "ml.g5.xlarge", "initialVariantWeight": w} for i, w in enumerate(weights)]
    assert bool(run("canary-weight-bounds", [sagemaker_config(productionVariants=variants)], {"maxCanaryPercent": 25})) is flagged


# --- budgets -------------------------------------------------------------------------------------------------------------


def budget_results(records: list[Record], budget: float = 1000.0, hours: float = 100.0) -> dict[str, list[PolicyResult]]:
    config = {
        "all": {"enforcementLevel": "disabled"},
        "gpu-budget-warning": {"enforcementLevel": "advisory", "monthlyBudgetUsd": budget, "hoursPerMonth": hours},
        "gpu-budget-limit": {"enforcementLevel": "mandatory", "monthlyBudgetUsd": budget, "hoursPerMonth": hours},
    }
    results = evaluate(records, config)
    return {level: [r for r in results if r.level == level] for level in ("advisory", "mandatory")}


@pytest.mark.parametrize(
    ("max_nodes", "advisory", "mandatory"),
    [(7, 0, 0), (8, 0, 0), (9, 1, 0), (10, 1, 0), (11, 1, 1)],
    ids=["70%", "80% exactly", "90%", "100% exactly", "110%"],
)
def test_budget_thresholds_on_node_pools(catalog, max_nodes, advisory, mandatory):
    """$1/h x max nodes x 100 h against $1000: advisory above 80 %, mandatory above 100 %."""
    found = budget_results([AWS_PROVIDER, eks_pool(max_size=float(max_nodes))])
    assert (len(found["advisory"]), len(found["mandatory"])) == (advisory, mandatory)
    for result in found["advisory"] + found["mandatory"]:
        assert result.urn == eks_pool()["urn"] and "Fix: lower max_nodes" in result.message
        assert f"${max_nodes * 100:,}/month" in result.message


def test_budget_counts_endpoints_at_max_instances(catalog):
    """Pool 4 x $1 + SageMaker 2 x $1.5 (max from its autoscaling target: 4) + Azure ML 2 x $0.5, for 100 h."""
    target = rec(
        "aws:appautoscaling/target:Target",
        {"serviceNamespace": "sagemaker", "resourceId": "endpoint/churn-1234/variant/primary", "minCapacity": 2.0, "maxCapacity": 4.0},
    )
    records = [AWS_PROVIDER, eks_pool(max_size=4.0), sagemaker_config(), target, aml_deployment()]
    items = {i.what: (i.count, i.endpoint) for i in cost.stack_items(runner._stack_resources(records, lambda r: None))}
    assert items == {
        "EKS node group 'gpu-ng'": (4.0, False),
        "SageMaker variant 'primary' of 'churn-config'": (4.0, True),
        "Azure ML deployment 'churn-blue'": (2.0, True),
    }
    # 400 + 600 + 100 = 1100: over 1000 (mandatory) and over 80 % of 1300 (advisory only)
    assert [len(v) for v in budget_results(records, 1000.0).values()] == [1, 1]
    assert [len(v) for v in budget_results(records, 1300.0).values()] == [1, 0]
    assert [len(v) for v in budget_results(records, 1400.0).values()] == [0, 0]


def test_budget_uses_730_hours_and_other_clouds(catalog):
    """GKE 3 x $1 and AKS 3 x $4 per hour, 730 h = $10,950 per month."""
    records = [GCP_PROVIDER, gke_pool(total_max=3.0), aks_pool(max_count=3.0)]
    config = pack_config_for("prod", 10_000, "gcp")
    limit = [r for r in evaluate(records, config) if r.policy == "gpu-budget-limit"]
    assert len(limit) == 1 and "$10,950/month (110% of the $10,000 budget" in limit[0].message and "stack on gcp" in limit[0].message


def pool_item(record: Record) -> cost.Item:
    item = cost.gpu_pool(record["type"], record["inputs"], record["urn"], record["name"])
    assert item is not None
    return item


def test_spot_pools_are_priced_at_spot_or_on_demand_when_no_spot_price(catalog):
    assert cost.price(pool_item(eks_pool("SPOT", 10.0)), 100).monthly_usd == pytest.approx(400.0)
    assert cost.price(pool_item(eks_pool("SPOT", 1.0, instance="p5.4xlarge")), 100).monthly_usd == pytest.approx(700.0)


def test_non_gpu_pools_are_not_priced():
    cpu = changed(eks_pool(instance="m5.xlarge"), ("amiType", "AL2023_x86_64_STANDARD"), ("taints", []))
    assert cost.gpu_pool(cpu["type"], cpu["inputs"], cpu["urn"], cpu["name"]) is None


def test_unpriced_capacity_is_reported_and_left_out(catalog):
    records = [AWS_PROVIDER, eks_pool(max_size=20.0, instance="g99.huge")]
    assert budget_results(records) == {"advisory": [], "mandatory": []}
    found = run("priced-instance-types", records)
    assert len(found) == 1 and "no on_demand price for aws 'g99.huge'" in found[0].message
    assert f"add the instance type to {cost.CATALOG_FILE}" in found[0].message
    assert (ROOT / cost.CATALOG_FILE).is_file(), "the fix names the catalog's file"


def test_the_pack_prices_with_the_installed_package_catalog():
    from mlops_platform.catalog import offers

    assert cost.offers is offers
    node = offers.hourly_price("aws", "g5.xlarge", "on_demand")
    endpoint = offers.endpoint_offer("aws", "ml.g5.xlarge")
    assert node is not None and node > 0 and endpoint is not None and endpoint.hourly_usd > 0
    assert cost.node_hourly_price("aws", "g5.xlarge", "on_demand") == node
    assert cost.endpoint_hourly_price("aws", "ml.g5.xlarge") == endpoint.hourly_usd
    assert cost.node_hourly_price("aws", "no-such-type", "on_demand") is None


def test_the_budget_prices_the_stack_in_its_region():
    """The pack config carries the stack's region: the estimate uses that region's list price, as the cost report does
    (g5.xlarge on demand: 1.006 USD/h in us-east-1, 1.123 in eu-west-1, components/catalog/regional_prices.py)."""
    from mlops_platform.catalog import offers

    records = [AWS_PROVIDER, eks_pool(max_size=10)]
    ireland = offers.hourly_price("aws", "g5.xlarge", "on_demand", "eu-west-1")
    assert ireland == 1.123 and offers.hourly_price("aws", "g5.xlarge", "on_demand") == 1.006
    for region, hourly in ((None, 1.006), ("us-east-1", 1.006), ("eu-west-1", 1.123)):
        config = pack_config_for("prod", 1000, "aws", region)
        (found,) = [r for r in evaluate(records, config) if r.policy == "gpu-budget-limit"]
        assert f"${10 * hourly * 730:,.0f}/month" in found.message, found.message
        assert (f"on aws in {region}" in found.message) == (region is not None), found.message


# --- the runner -----------------------------------------------------------------------------------------------------------


def test_levels_come_from_the_pack_config():
    bad = [deployment(hostNetwork=True)]
    assert {r.level for r in evaluate(bad, only("k8s-no-host-access", level="advisory"))} == {"advisory"}
    assert {r.level for r in evaluate(bad, only("k8s-no-host-access", level="remediate"))} == {"mandatory"}
    assert evaluate(bad, only("k8s-no-host-access", level="disabled")) == []
    assert evaluate(bad, {"all": "disabled", "k8s-no-host-access": "mandatory"})[0].policy == "k8s-no-host-access"
    # no entry at all: the policy's own default level
    assert {r.policy for r in evaluate(bad, {})} >= {"k8s-no-host-access"}
    with pytest.raises(ValueError, match="unknown enforcementLevel"):
        evaluate(bad, {"k8s-no-host-access": {"enforcementLevel": "fatal"}})


def test_results_are_sorted_and_deterministic(catalog):
    records = [
        AWS_PROVIDER,
        BARE_AWS_PROVIDER,
        eks_pool("SPOT", 50.0, provider=BARE_AWS_PROVIDER),
        deployment(replicas=1, hostNetwork=True),
        service("LoadBalancer"),
    ]
    config = pack_config_for("prod", 1000, "aws")
    first, second = evaluate(records, config), evaluate(list(reversed(records)), config)
    assert first == second and first == sorted(first, key=lambda r: (r.level, r.policy, r.urn or "", r.message))
    assert {r.level for r in first} == {"advisory", "mandatory"}
    assert "gpu-budget-limit" in {r.policy for r in first}


def test_async_validators_are_awaited(monkeypatch):
    async def flag_everything(args, report):
        report("async problem. Fix: nothing", None)

    policy = ResourceValidationPolicy(
        name="async-check", description="async", validate=flag_everything, enforcement_level=EnforcementLevel.MANDATORY
    )
    monkeypatch.setattr(runner, "ALL_POLICIES", [policy])
    assert evaluate([namespace()], {}) == [PolicyResult("mandatory", "async-check", namespace()["urn"], "async problem. Fix: nothing")]


def test_components_and_parents_reach_stack_policies():
    component = rec("mlops:serving:TritonModel", {}, "fraud")
    child = deployment() | {"parent": component["urn"]}
    resources = runner._stack_resources([component, child], lambda r: None)
    assert resources[1].parent is resources[0]
    assert evaluate([component], only("required-tags")) == [], "resource policies skip component resources"


def test_unknown_values_during_preview_are_advisory():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    preview = changed(service("LoadBalancer"), ("spec.type", UNKNOWN_STRING_VALUE))
    found = evaluate([preview], only("k8s-no-public-load-balancer"))
    assert len(found) == 1 and found[0].level == "advisory" and "during preview" in found[0].message


# --- pack config files -------------------------------------------------------------------------------------------------

RANK = {"disabled": 0, "advisory": 1, "mandatory": 2}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_pack_config_files_name_every_policy_with_valid_settings(environment):
    config = runner.load_pack_config(environment)
    assert set(config) == set(POLICIES_BY_NAME), "one entry per policy, no unknown names"
    for name, entry in config.items():
        assert entry["enforcementLevel"] in RANK, name
        schema = POLICIES_BY_NAME[name].config_schema
        allowed = set(schema.properties) if schema else set()
        assert set(entry) - {"enforcementLevel"} <= allowed, f"{environment}.json {name}: properties outside its config_schema"


def test_prod_is_at_least_as_strict_as_every_other_environment():
    prod = runner.load_pack_config("prod")
    canary = runner.load_pack_config("canary")
    for environment in ENVIRONMENTS:
        config = runner.load_pack_config(environment)
        for name in POLICIES_BY_NAME:
            assert RANK[config[name]["enforcementLevel"]] <= RANK[prod[name]["enforcementLevel"]], (environment, name)
    assert canary == {
        **prod,
        "required-tags": canary["required-tags"],
        "gpu-budget-warning": canary["gpu-budget-warning"],
        "gpu-budget-limit": canary["gpu-budget-limit"],
    }
    assert (
        runner.load_pack_config("dev")["k8s-image-pinned"]["requireDigest"] is False and prod["k8s-image-pinned"]["requireDigest"] is True
    )


def test_pack_config_for_fills_the_stack_budget_and_cloud():
    config = pack_config_for("staging", 8000, "aws")
    for name in ("gpu-budget-warning", "gpu-budget-limit"):
        assert config[name]["monthlyBudgetUsd"] == 8000.0 and config[name]["cloud"] == "aws" and "region" not in config[name]
    assert pack_config_for("staging", 8000, "aws", "eu-west-1")["gpu-budget-limit"]["region"] == "eu-west-1"
    assert config["gpu-budget-warning"]["thresholdPercent"] == 80 and config["gpu-budget-limit"]["thresholdPercent"] == 100
    assert config["required-tags"]["environment"] == "staging"
    assert config["k8s-min-replicas"]["enforcementLevel"] == "advisory"
    with pytest.raises(ValueError, match="no policy config for environment 'qa'"):
        pack_config_for("qa", 1, "aws")


def test_runner_cli_prints_a_pack_config(capsys):
    assert runner.main(["prod", "60000", "gcp"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["gpu-budget-limit"] == {
        "enforcementLevel": "mandatory",
        "monthlyBudgetUsd": 60000.0,
        "thresholdPercent": 100,
        "cloud": "gcp",
    }


# --- shipped stacks ----------------------------------------------------------------------------------------------------


def stack_results(synthesis: Any) -> list[PolicyResult]:
    cfg = synthesis.config
    return evaluate(synthesis.records, pack_config_for(cfg.environment, cfg.budget.gpu_monthly_usd, cfg.cloud.provider))


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_have_no_mandatory_violations(shipped, stack):
    mandatory = [r for r in stack_results(shipped[stack]) if r.level == "mandatory"]
    assert mandatory == [], "\n".join(f"{r.policy} {r.urn}: {r.message}" for r in mandatory)


def test_policies_see_what_the_components_register(shipped):
    """A stack's own records pass; the same records with a component's labels stripped fail required-tags."""
    records = shipped["prod"].records
    assert [r for r in evaluate(records, only("required-tags", {"environment": "prod"}))] == []
    namespaces = [r for r in records if r["type"] == "kubernetes:core/v1:Namespace"]
    stripped = [changed(r, ("metadata.labels", {})) if r is namespaces[0] else r for r in records]
    found = evaluate(stripped, only("required-tags", {"environment": "prod"}))
    assert [r.urn for r in found] == [namespaces[0]["urn"]]
    pools = [r for r in records if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    assert pools, "prod declares EKS GPU node groups"
    spot = [changed(r, ("capacityType", "SPOT")) if r in pools else r for r in records]
    assert {r.urn for r in evaluate(spot, only("no-spot-gpu-pools"))} == {p["urn"] for p in pools}


# --- the pack itself ---------------------------------------------------------------------------------------------------


def test_policies_import_without_starting_the_pack_server():
    code = (
        "import sys, policies.mlops_policies, policies.mlops_policies.runner;"
        "assert 'policies.__main__' not in sys.modules;"
        "print(len(policies.mlops_policies.ALL_POLICIES))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert int(done.stdout) == len(ALL_POLICIES)


def test_every_policy_is_described_and_named_for_the_pack():
    assert PACK_NAME == "mlops-platform"
    for policy in ALL_POLICIES:
        assert policy.name.islower() and " " not in policy.name and policy.name != "all"
        assert policy.description.endswith(".") and policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
        for name, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert "default" in spec and "description" in spec, (policy.name, name)


def _pins(path: Path) -> dict[str, str]:
    pairs = (line.split("==", 1) for line in path.read_text().splitlines() if "==" in line and not line.startswith("#"))
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pairs}


def test_pack_files():
    """Pulumi runs the pack with its own virtualenv, built from its requirements: pulumi-policy at the program's
    pins, and this repository's package (the price catalog), installed editable from the pack's folder."""
    pack = ROOT / "policies"
    runtime = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]
    assert runtime == {"name": "python", "options": {"virtualenv": ".venv"}}
    lines = [line for line in (pack / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    pins = _pins(pack / "requirements.txt")
    assert pins["pulumi-policy"] == "1.21.0" and set(pins) == {"pulumi-policy", "pulumi", "protobuf", "grpcio"}
    constraints = _pins(ROOT / "constraints.txt")
    assert {name: constraints.get(name) for name in pins} == pins, "the pack's pins are those of constraints.txt"
    assert [line for line in lines if "==" not in line] == ["-e .."], "the package, from the repository (pip runs in policies/)"
    assert "PolicyPack(" in (pack / "__main__.py").read_text()


PACK_PYTHON = ROOT / "policies" / ".venv" / "bin" / "python"


def test_the_pack_starts_as_pulumi_runs_it():
    """The language host runs ``python -u policies`` with the pack's virtualenv: the pack's folder is the first
    entry of sys.path, and mlops_platform (the price catalog) is installed there. The analyzer's server printing
    its port proves every import resolved; the process is stopped then."""
    assert PACK_PYTHON.exists(), "the policy pack's virtualenv policies/.venv is missing; run make policy-env"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with subprocess.Popen(
        [str(PACK_PYTHON), "-u", str(ROOT / "policies")],
        cwd=ROOT / "policies",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            port = server.stdout.readline().strip() if server.stdout else ""
        finally:
            server.kill()
            _, errors = server.communicate(timeout=30)
    assert port.isdigit(), f"the pack did not start (make policy-env installs its requirements): {errors[-3000:]}"
    catalog = "import mlops_platform.catalog.offers as offers; print(offers.__file__)"
    done = subprocess.run([str(PACK_PYTHON), "-c", catalog], cwd=ROOT / "policies", env=env, capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()).resolve() == ROOT / "components" / "catalog" / "offers.py", "this tree's catalog (editable)"


def test_the_analyzer_serves_the_pack_as_the_engine_sees_it():
    """Through pulumi_policy's own gRPC servicer (without starting a server): metadata, config and one analysis."""
    from pulumi.runtime import proto
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", list(ALL_POLICIES), EnforcementLevel.ADVISORY)
    info = servicer.GetAnalyzerInfo(None, None)
    assert [p.name for p in info.policies] == [p.name for p in ALL_POLICIES]

    request = proto.ConfigureAnalyzerRequest()
    for name, entry in pack_config_for("prod", 60000, "aws").items():
        request.policyConfig[name].enforcementLevel = {
            "advisory": proto.ADVISORY,
            "mandatory": proto.MANDATORY,
            "disabled": proto.DISABLED,
        }[entry.pop("enforcementLevel")]
        request.policyConfig[name].properties.update(entry)
    servicer.Configure(request, None)

    bad = deployment(replicas=1, hostNetwork=True)
    analyze = proto.AnalyzeRequest(type=bad["type"], urn=bad["urn"], name=bad["name"])
    analyze.properties.update(bad["inputs"])
    response = servicer.Analyze(analyze, None)
    flagged = {d.policyName for d in response.diagnostics if d.enforcementLevel == proto.MANDATORY}
    assert flagged == {"k8s-no-host-access"}


def test_fix_texts_name_the_stack_setting_a_stack_user_changes():
    """A prod stack that turns protection and digests off: every violation says which stack setting fixes it, and
    none asks for program code."""
    from tools.synth import policy_results
    from tools.synthesis import synthesize

    from .conftest import stack_values, synth_values

    values = stack_values("prod")
    values["guardrails"] = {"protect_stateful": False}
    values["mlflow"]["database"]["backup_retention_days"] = 3
    results = policy_results(synth_values(values, stack="prod"))
    by_policy: dict[str, list[str]] = {}
    for r in results:
        by_policy.setdefault(r.policy, []).append(r.message)
    assert by_policy["stateful-resources-protected"] and by_policy["database-backups"]
    assert all("guardrails.protect_stateful: true" in m for m in by_policy["stateful-resources-protected"])
    assert all("mlflow.database.backup_retention_days" in m for m in by_policy["database-backups"])
    assert not [m for r in results for m in [r.message] if "ResourceOptions(" in m or "opts=" in m]
    assert synthesize("prod").config.guardrails.protect_stateful, "the shipped prod stack keeps protection on"


@pytest.mark.parametrize(
    ("analysis", "flagged"),
    [
        ({"stepWeights": [5, 10, 25]}, False),
        ({"stepWeights": [5, 10, 25, 50]}, True),
        ({"stepWeight": 10, "maxWeight": 25}, False),
        ({"stepWeight": 10, "maxWeight": 40}, True),
        ({"iterations": 10, "mirror": True}, False),
    ],
)
def test_a_flagger_release_may_not_send_the_candidate_more_than_allowed_before_promotion(analysis, flagged):
    canary = rec("kubernetes:flagger.app/v1beta1:Canary", {"metadata": {"name": "triton-fraud"}, "spec": {"analysis": analysis}})
    found = run("canary-weight-bounds", [canary], {"maxCanaryPercent": 25})
    assert bool(found) is flagged
    if flagged:
        assert "models[].release.steps" in found[0].message and "above the 25% allowed here" in found[0].message
