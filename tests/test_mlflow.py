"""MLflow tracking server: exact native arguments of the database, bucket, identity and Kubernetes objects per cloud.

The component is built under Pulumi's mocks (tools/mocks.py); ``tests/test_mlflow_server.py`` runs the real
``mlflow server`` with the arguments rendered here.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import ValidationError

from mlops_platform.catalog.aws_partitions import rds_ca_bundle_url
from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config import ConfigError
from mlops_platform.config.loader import validate_platform
from mlops_platform.config.mlflow import (
    AZURE_STORAGE_SIZES_GB,
    DEFAULT_PROXY_IMAGE,
    MlflowAuth,
    MlflowConfig,
    MlflowResources,
    mlflow_issues,
)
from mlops_platform.identity.conditions import gcs_prefix_expression
from mlops_platform.identity.names import gcp_account_id
from mlops_platform.mlflow import DATABASE_SIZES, MlflowServer, MlflowServerArgs, database_size
from mlops_platform.mlflow import server as server_module
from mlops_platform.mlflow.command import allowed_hosts
from mlops_platform.mlflow.gcp import network_self_link
from mlops_platform.mlflow.stores import DatabaseTls, default_bucket_name
from mlops_platform.testing import REDACTED, RecordingMonitor, mock_password

from .conftest import STACKS, stack_values, synth_values

SUBSCRIPTION = "3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c"
CLOUDS = {
    "aws": CloudTarget(provider="aws", region="us-east-1", account_id="123456789012"),
    "gcp": CloudTarget(provider="gcp", project="acme-ml", region="us-central1"),
    "azure": CloudTarget(provider="azure", subscription_id=SUBSCRIPTION, location="eastus2", resource_group="rg-ml"),
}
SDK = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}
AZURE_NETWORK = {
    "delegated_subnet_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/ml"
    "/subnets/postgres",
    "private_dns_zone_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/privateDnsZones/"
    "mlflow.private.postgres.database.azure.com",
}
"""What a stack on azure adds under mlflow.database.network (the integration notes give the same shape)."""
OIDC = {"mode": "oidc", "issuer_url": "https://login.acme.example/realms/ml", "client_id": "mlflow"}
CLIENT_SECRET = "oidc-client-secret-value-7f3a"
NAMESPACE = "mlflow"
LABELS = {"mlops.platform/team": "ml-platform"}
TAGS = {"team": "ml-platform", "environment": "prod"}
SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def config(cloud: str = "aws", **overrides: Any) -> MlflowConfig:
    values: dict[str, Any] = {"replicas": 2, "database": {"size": "medium", "storage_gb": 64, "high_availability": True}}
    values.update(overrides)
    if cloud == "azure":
        values["database"] = {**values["database"], "network": {**AZURE_NETWORK, **values["database"].get("network", {})}}
    return MlflowConfig(**values)


def build(monitor, run, cloud: str, cfg: MlflowConfig, *, protect: bool = False, name: str = "mlflow") -> MlflowServer:
    made: dict[str, MlflowServer] = {}

    def declare() -> None:
        made["server"] = MlflowServer(
            name,
            MlflowServerArgs(
                config=cfg,
                cloud=CLOUDS[cloud],
                cluster_name="ml-prod",
                namespace=NAMESPACE,
                oidc_client_secret=pulumi.Output.secret(CLIENT_SECRET) if cfg.auth.mode == "oidc" else None,
                protect=protect,
                labels=LABELS,
                tags=TAGS,
            ),
            opts=pulumi.ResourceOptions(providers=[importlib.import_module(SDK[cloud]).Provider("cloud"), k8s.Provider("k8s")]),
        )

    run(declare)
    return made["server"]


def one(monitor, type_token: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in monitor.records if r["type"] == type_token and (name is None or r["name"] == name)]
    assert len(found) == 1, (type_token, name, [r["name"] for r in found])
    return found[0]


def k8s_objects(monitor) -> list[dict[str, Any]]:
    return [r for r in monitor.records if r["custom"] and r["type"].startswith("kubernetes:")]


def manifest(record: dict[str, Any]) -> dict[str, Any]:
    inputs = dict(record["inputs"])
    return {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind"), **inputs}


def by_name(monitor, kind: str, object_name: str) -> dict[str, Any]:
    found = [manifest(r) for r in k8s_objects(monitor) if r["inputs"]["kind"] == kind and r["inputs"]["metadata"]["name"] == object_name]
    assert len(found) == 1, (kind, object_name)
    return found[0]


# --- AWS -------------------------------------------------------------------------------------------------------------


def test_rds_postgres_private_encrypted_backed_up_and_protected_in_prod(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "aws", config(), protect=True)
    rds = one(pulumi_mocks, "aws:rds/instance:Instance")
    assert rds["protect"] is True
    inputs = dict(rds["inputs"])
    assert inputs.pop("dbSubnetGroupName").startswith("mlflow-db-subnets-")
    assert inputs == {
        "engine": "postgres",
        "engineVersion": "16",
        "instanceClass": "db.m7g.large",
        "allocatedStorage": 64,
        "maxAllocatedStorage": 128,
        "storageType": "gp3",
        "storageEncrypted": True,
        "dbName": "mlflow",
        "username": "mlflow",
        "password": REDACTED,
        "port": 5432,
        "multiAz": True,
        "vpcSecurityGroupIds": ["mlflow-db-sg-id"],
        "publiclyAccessible": False,
        "backupRetentionPeriod": 7,
        "backupWindow": "03:00-04:00",
        "maintenanceWindow": "sun:04:30-sun:05:30",
        "autoMinorVersionUpgrade": True,
        "copyTagsToSnapshot": True,
        "caCertIdentifier": "rds-ca-rsa2048-g1",
        "deletionProtection": True,
        "deleteAutomatedBackups": False,
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": "mlflow-db-final",
        "tags": {**TAGS, "app": "mlflow"},
    }
    subnets = one(pulumi_mocks, "aws:rds/subnetGroup:SubnetGroup")["inputs"]
    assert len(subnets["subnetIds"]) == 3 and all(s.startswith("subnet-") for s in subnets["subnetIds"])
    group = one(pulumi_mocks, "aws:ec2/securityGroup:SecurityGroup")["inputs"]
    assert group["vpcId"].startswith("vpc-") and "ingress" not in group and "egress" not in group
    rule = one(pulumi_mocks, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")["inputs"]
    assert rule == {
        "securityGroupId": "mlflow-db-sg-id",
        "referencedSecurityGroupId": rule["referencedSecurityGroupId"],
        "ipProtocol": "tcp",
        "fromPort": 5432,
        "toPort": 5432,
        "description": "PostgreSQL from the cluster",
    }
    assert rule["referencedSecurityGroupId"].startswith("sg-")  # the EKS cluster security group
    assert server.database_host is not None


def test_rds_in_dev_can_be_torn_down(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(replicas=1, database={"backup_retention_days": 1}))
    rds = one(pulumi_mocks, "aws:rds/instance:Instance")
    assert rds["protect"] is False
    inputs = rds["inputs"]
    assert (inputs["deletionProtection"], inputs["skipFinalSnapshot"], inputs["deleteAutomatedBackups"]) == (False, True, True)
    assert "finalSnapshotIdentifier" not in inputs
    assert (inputs["instanceClass"], inputs["multiAz"], inputs["allocatedStorage"], inputs["backupRetentionPeriod"]) == (
        "db.t4g.small",
        False,
        20,
        1,
    )
    assert not any(r["protect"] for r in pulumi_mocks.records)


def test_configured_subnets_and_client_groups_replace_the_cluster_defaults(pulumi_mocks, run_pulumi):
    network = {"subnet_ids": ["subnet-a", "subnet-b"], "client_security_group_ids": ["sg-nodes", "sg-jobs"]}
    build(pulumi_mocks, run_pulumi, "aws", config(database={"network": network}))
    assert one(pulumi_mocks, "aws:rds/subnetGroup:SubnetGroup")["inputs"]["subnetIds"] == ["subnet-a", "subnet-b"]
    rules = [r["inputs"] for r in pulumi_mocks.records if r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"]
    assert sorted(r["referencedSecurityGroupId"] for r in rules) == ["sg-jobs", "sg-nodes"]


def test_s3_bucket_private_encrypted_versioned_with_noncurrent_expiry(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "aws", config(artifact_noncurrent_days=365), protect=True)
    bucket = one(pulumi_mocks, "aws:s3/bucket:Bucket")
    name = server.bucket
    assert name == default_bucket_name(CLOUDS["aws"], "mlops-platform", "unit") and name.startswith("mlflow-artifacts-unit-")
    assert bucket["protect"] is True
    assert bucket["inputs"] == {"bucket": name, "forceDestroy": False, "tags": {**TAGS, "app": "mlflow"}}
    inputs = {
        r["type"].split(":")[-1]: r["inputs"]
        for r in pulumi_mocks.records
        if r["type"].startswith("aws:s3/") and r["type"] != "aws:s3/bucket:Bucket"
    }
    assert inputs["BucketPublicAccessBlock"] == {
        "bucket": name,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert inputs["BucketOwnershipControls"] == {"bucket": name, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    assert inputs["BucketServerSideEncryptionConfiguration"] == {
        "bucket": name,
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}],
    }
    assert inputs["BucketVersioning"] == {"bucket": name, "versioningConfiguration": {"status": "Enabled"}}
    assert inputs["BucketLifecycleConfiguration"] == {
        "bucket": name,
        "rules": [
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrentVersionExpiration": {"noncurrentDays": 365},
                "expiration": {"expiredObjectDeleteMarker": True},
                "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
            }
        ],
    }
    policy = json.loads(inputs["BucketPolicy"]["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    assert server.artifact_destination == f"s3://{name}/artifacts"


def test_irsa_writes_only_the_artifact_prefix_of_its_bucket(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "aws", config())
    policy = json.loads(one(pulumi_mocks, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    bucket = f"arn:aws:s3:::{server.bucket}"
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": ["artifacts", "artifacts/*"]}},
        },
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": [f"{bucket}/artifacts/*"]},
    ]
    trust = json.loads(one(pulumi_mocks, "aws:iam/role:Role")["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:mlflow:mlflow" in trust["Condition"]["StringEquals"].values()
    account = by_name(pulumi_mocks, "ServiceAccount", "mlflow")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/")
    pod = by_name(pulumi_mocks, "Deployment", "mlflow-server")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mlflow"


# --- GCP -------------------------------------------------------------------------------------------------------------


def test_cloud_sql_private_ip_tls_backups_and_protection(pulumi_mocks, run_pulumi):
    build(
        pulumi_mocks,
        run_pulumi,
        "gcp",
        config(database={"size": "large", "storage_gb": 500, "high_availability": True, "backup_retention_days": 30}),
        protect=True,
    )
    instance = one(pulumi_mocks, "gcp:sql/databaseInstance:DatabaseInstance")
    assert instance["protect"] is True
    assert instance["inputs"] == {
        "project": "acme-ml",
        "region": "us-central1",
        "databaseVersion": "POSTGRES_16",
        "deletionProtection": True,
        "settings": {
            "tier": "db-custom-4-15360",
            "edition": "ENTERPRISE",
            "availabilityType": "REGIONAL",
            "diskType": "PD_SSD",
            "diskSize": 500,
            "diskAutoresize": True,
            "diskAutoresizeLimit": 1000,
            "deletionProtectionEnabled": True,
            "retainBackupsOnDelete": True,
            "backupConfiguration": {
                "enabled": True,
                "pointInTimeRecoveryEnabled": True,
                "startTime": "03:00",
                "transactionLogRetentionDays": 7,
                "backupRetentionSettings": {"retainedBackups": 30, "retentionUnit": "COUNT"},
            },
            "ipConfiguration": {
                "ipv4Enabled": False,
                "privateNetwork": "projects/acme-ml/global/networks/ml-vpc",
                "sslMode": "ENCRYPTED_ONLY",
                "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA",
            },
            "maintenanceWindow": {"day": 7, "hour": 4},
            "userLabels": {**TAGS, "app": "mlflow"},
        },
    }
    database = one(pulumi_mocks, "gcp:sql/database:Database")
    assert database["protect"] is True and database["inputs"]["name"] == "mlflow"
    user = one(pulumi_mocks, "gcp:sql/user:User")["inputs"]
    assert user == {
        "project": "acme-ml",
        "name": "mlflow",
        "instance": database["inputs"]["instance"],
        "password": REDACTED,
        "deletionPolicy": "ABANDON",
    }


def test_cloud_sql_in_dev_is_zonal_and_deletable(pulumi_mocks, run_pulumi):
    build(
        pulumi_mocks, run_pulumi, "gcp", config(replicas=1, database={"backup_retention_days": 3, "network": {"vpc_network": "shared-vpc"}})
    )
    instance = one(pulumi_mocks, "gcp:sql/databaseInstance:DatabaseInstance")
    settings = instance["inputs"]["settings"]
    assert instance["protect"] is False and instance["inputs"]["deletionProtection"] is False
    assert (settings["tier"], settings["availabilityType"], settings["deletionProtectionEnabled"]) == ("db-custom-1-3840", "ZONAL", False)
    assert settings["backupConfiguration"]["transactionLogRetentionDays"] == 3
    assert settings["ipConfiguration"]["privateNetwork"] == "projects/acme-ml/global/networks/shared-vpc"


def test_network_self_links():
    assert network_self_link("default", "p") == "projects/p/global/networks/default"
    assert network_self_link("projects/h/global/networks/shared", "p") == "projects/h/global/networks/shared"
    assert network_self_link("https://www.googleapis.com/compute/v1/projects/h/global/networks/n", "p") == "projects/h/global/networks/n"


def test_gcs_bucket_and_workload_identity(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "gcp", config(), protect=True)
    bucket = one(pulumi_mocks, "gcp:storage/bucket:Bucket")
    assert bucket["protect"] is True
    assert bucket["inputs"] == {
        "name": server.bucket,
        "project": "acme-ml",
        "location": "US-CENTRAL1",
        "storageClass": "STANDARD",
        "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced",
        "versioning": {"enabled": True},
        "lifecycleRules": [
            {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 90, "withState": "ARCHIVED"}},
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
        ],
        "forceDestroy": False,
        "labels": {**TAGS, "app": "mlflow"},
    }
    member = one(pulumi_mocks, "gcp:storage/bucketIAMMember:BucketIAMMember")["inputs"]
    assert member == {
        "bucket": server.bucket,
        "role": "roles/storage.objectUser",
        "member": f"serviceAccount:{gcp_account_id('wi', 'mlflow', 'ml-prod')}@acme-ml.iam.gserviceaccount.com",
        # the server writes only the artifacts/ prefix (components/identity/conditions.py)
        "condition": {
            "title": "prefix artifacts",
            "description": "Objects under this prefix and listings of it only",
            "expression": gcs_prefix_expression(server.bucket, "artifacts"),
        },
    }
    wi = one(pulumi_mocks, "gcp:serviceaccount/iAMMember:IAMMember")["inputs"]
    assert wi["member"] == "serviceAccount:acme-ml.svc.id.goog[mlflow/mlflow]"
    egress = by_name(pulumi_mocks, "NetworkPolicy", "mlflow-server")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]} in egress
    assert server.artifact_destination == f"gs://{server.bucket}/artifacts"


# --- Azure -----------------------------------------------------------------------------------------------------------


def test_azure_flexible_server_private_zone_redundant_and_locked_in_prod(pulumi_mocks, run_pulumi):
    build(
        pulumi_mocks,
        run_pulumi,
        "azure",
        config("azure", database={"size": "medium", "storage_gb": 256, "high_availability": True, "backup_retention_days": 35}),
        protect=True,
    )
    server = one(pulumi_mocks, "azure-native:dbforpostgresql:Server")
    assert server["protect"] is True
    assert server["inputs"] == {
        "resourceGroupName": "rg-ml",
        "location": "eastus2",
        "version": "16",
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        "storage": {"storageSizeGB": 256, "autoGrow": "Enabled"},
        "backup": {"backupRetentionDays": 35, "geoRedundantBackup": "Disabled"},
        "highAvailability": {"mode": "ZoneRedundant", "standbyAvailabilityZone": ""},
        "availabilityZone": "",
        "network": {
            "delegatedSubnetResourceId": AZURE_NETWORK["delegated_subnet_id"],
            "privateDnsZoneArmResourceId": AZURE_NETWORK["private_dns_zone_id"],
            "publicNetworkAccess": "Disabled",
        },
        "authConfig": {"passwordAuth": "Enabled", "activeDirectoryAuth": "Disabled", "tenantId": ""},
        "administratorLogin": "mlflow",
        "administratorLoginPassword": REDACTED,
        "tags": {**TAGS, "app": "mlflow"},
    }
    database = one(pulumi_mocks, "azure-native:dbforpostgresql:Database")
    assert database["protect"] is True
    assert database["inputs"] == {
        "resourceGroupName": "rg-ml",
        "serverName": database["inputs"]["serverName"],
        "databaseName": "mlflow",
        "charset": "UTF8",
        "collation": "en_US.utf8",
    }
    locks = {r["name"]: r["inputs"] for r in pulumi_mocks.records if r["type"] == "azure-native:authorization:ManagementLockByScope"}
    assert sorted(locks) == ["mlflow-artifacts-lock", "mlflow-db-lock"]
    assert {lock["level"] for lock in locks.values()} == {"CanNotDelete"}


def test_azure_storage_account_container_and_scoped_identity(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "azure", config("azure", artifact_noncurrent_days=30), protect=True)
    account = server.bucket
    assert account == default_bucket_name(CLOUDS["azure"], "mlops-platform", "unit") and len(account) <= 24 and account.isalnum()
    storage = one(pulumi_mocks, "azure-native:storage:StorageAccount")
    assert storage["protect"] is True
    assert storage["inputs"] == {
        "accountName": account,
        "resourceGroupName": "rg-ml",
        "location": "eastus2",
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "accessTier": "Hot",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": False,
        "defaultToOAuthAuthentication": True,
        "enableHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "encryption": {
            "keySource": "Microsoft.Storage",
            "requireInfrastructureEncryption": True,
            "services": {"blob": {"enabled": True, "keyType": "Account"}},
        },
        "tags": {**TAGS, "app": "mlflow"},
    }
    assert one(pulumi_mocks, "azure-native:storage:BlobServiceProperties")["inputs"] == {
        "accountName": account,
        "resourceGroupName": "rg-ml",
        "blobServicesName": "default",
        "isVersioningEnabled": True,
        "deleteRetentionPolicy": {"enabled": True, "days": 7},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 7},
    }
    container = one(pulumi_mocks, "azure-native:storage:BlobContainer")
    assert container["protect"] is True
    assert container["inputs"] == {
        "accountName": account,
        "resourceGroupName": "rg-ml",
        "containerName": "mlflow-artifacts",
        "publicAccess": "None",
    }
    rule = one(pulumi_mocks, "azure-native:storage:ManagementPolicy")["inputs"]["policy"]["rules"][0]
    assert rule["definition"] == {
        "filters": {"blobTypes": ["blockBlob"], "prefixMatch": ["mlflow-artifacts/"]},
        "actions": {"version": {"delete": {"daysAfterCreationGreaterThan": 30}}},
    }
    role = one(pulumi_mocks, "azure-native:authorization:RoleAssignment")["inputs"]
    assert role["scope"] == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ml/providers/Microsoft.Storage/storageAccounts/{account}"
        "/blobServices/default/containers/mlflow-artifacts"
    )
    assert role["roleDefinitionId"].endswith("/ba92f5b4-2d11-453d-a403-e96b0029c9fe")  # Storage Blob Data Contributor
    pod = by_name(pulumi_mocks, "Deployment", "mlflow-server")["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert server.artifact_destination == f"wasbs://mlflow-artifacts@{account}.blob.core.windows.net/artifacts"


def test_azure_without_private_networking_is_refused(pulumi_mocks, run_pulumi):
    cfg = MlflowConfig(database={"size": "medium", "storage_gb": 64})
    with pytest.raises(ValueError, match=r"mlflow.database.network.delegated_subnet_id"):
        build(pulumi_mocks, run_pulumi, "azure", cfg)


# --- Kubernetes objects ----------------------------------------------------------------------------------------------


def test_server_deployment_runs_the_pinned_image_with_exact_arguments(pulumi_mocks, run_pulumi):
    server = build(pulumi_mocks, run_pulumi, "aws", config(workers=4, hostname="mlflow.ml.acme.example", auth=OIDC), protect=True)
    deployment = by_name(pulumi_mocks, "Deployment", "mlflow-server")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"}}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    (container,) = pod.pop("containers")
    assert [c["name"] for c in pod.pop("initContainers")] == ["fetch-db-ca"]  # see the database TLS test
    names = allowed_hosts(NAMESPACE, "mlflow.ml.acme.example", ["mlflow-server", "mlflow"])
    hosts = ",".join([*names, "$(POD_IP):5000", "[$(POD_IP)]:5000"])  # Prometheus scrapes the pod by its IP
    probe = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 5}
    assert container == {
        "name": "mlflow",
        "image": "ghcr.io/mlflow/mlflow:v3.17.2-full",
        "command": ["mlflow"],
        "args": [
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            "5000",
            "--workers",
            "4",
            "--serve-artifacts",
            "--artifacts-destination",
            f"s3://{server.bucket}/artifacts",
            "--allowed-hosts",
            hosts,
            "--expose-prometheus",
            "/var/lib/mlflow/metrics",
            "--cors-allowed-origins",
            "https://mlflow.ml.acme.example",
        ],
        "env": [
            {"name": "MLFLOW_BACKEND_STORE_URI", "valueFrom": {"secretKeyRef": {"name": "mlflow-db", "key": "backend-store-uri"}}},
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
            {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": "false"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            {"name": "AWS_REGION", "value": "us-east-1"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"name": "http", "containerPort": 5000, "protocol": "TCP"}],
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
        # readiness reads the database (the Default experiment); liveness and startup only ask whether the process answers
        "readinessProbe": {
            **probe,
            "httpGet": {"path": "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "securityContext": SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "metrics", "mountPath": "/var/lib/mlflow/metrics"}, CA_MOUNT],
    }
    spread = {
        "maxSkew": 1,
        "whenUnsatisfiable": "ScheduleAnyway",
        "matchLabelKeys": ["pod-template-hash"],
        "labelSelector": spec["selector"],
    }
    assert pod == {
        "serviceAccountName": "mlflow",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {"topologyKey": "topology.kubernetes.io/zone", **spread},
            {"topologyKey": "kubernetes.io/hostname", **spread},
        ],
        "terminationGracePeriodSeconds": 60,
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
            {"name": "metrics", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "db-ca", "emptyDir": {"sizeLimit": "4Mi"}},
        ],
    }
    assert "mlflow.ml.acme.example" in hosts.split(",") and "mlflow.mlflow.svc.cluster.local:*" in hosts.split(",")
    assert not any(h.startswith(("10.", "*")) for h in hosts.split(","))


def test_schema_migration_job_runs_before_the_server_with_the_uri_from_the_secret(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config())
    job = by_name(pulumi_mocks, "Job", "mlflow-db-upgrade-v3-17-2")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (container["command"], container["args"]) == (["mlflow"], ["db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"])
    assert container["env"][0] == {
        "name": "MLFLOW_BACKEND_STORE_URI",
        "valueFrom": {"secretKeyRef": {"name": "mlflow-db", "key": "backend-store-uri"}},
    }
    assert container["securityContext"] == SECURITY
    assert (pod["restartPolicy"], pod["automountServiceAccountToken"], "serviceAccountName" in pod) == ("Never", False, False)
    assert job["spec"]["backoffLimit"] == 4 and job["spec"]["activeDeadlineSeconds"] == 1800


def test_backend_store_uri_reaches_the_pod_only_through_a_secret(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(hostname="mlflow.ml.acme.example", auth=OIDC), protect=True)
    secrets = {m["metadata"]["name"]: m for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "Secret"}
    assert sorted(secrets) == ["mlflow-auth", "mlflow-db"]
    assert secrets["mlflow-db"]["stringData"] == {"backend-store-uri": REDACTED}
    assert secrets["mlflow-auth"]["stringData"] == {"client-secret": REDACTED, "cookie-secret": REDACTED}
    assert all(s["type"] == "Opaque" and "data" not in s for s in secrets.values())
    text = json.dumps(pulumi_mocks.records)
    passwords = [mock_password(r["name"]) for r in pulumi_mocks.records if r["type"] == "random:index/randomPassword:RandomPassword"]
    assert len(passwords) == 2  # database and cookie secret
    for value in [*passwords, CLIENT_SECRET, "postgresql+psycopg2://", "postgresql://"]:
        assert value not in text
    for record in pulumi_mocks.records:
        for field in ("password", "administratorLoginPassword", "stringData", "data"):
            value = record["inputs"].get(field)
            assert value in (None, REDACTED) or set(value.values()) == {REDACTED}, (record["name"], field)


def test_oidc_proxy_fronts_the_server(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(hostname="mlflow.ml.acme.example", auth={**OIDC, "email_domains": ["acme.example"]}))
    proxy = by_name(pulumi_mocks, "Deployment", "mlflow-auth")
    pod = proxy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == DEFAULT_PROXY_IMAGE
    assert container["args"] == [
        "--provider=oidc",
        "--oidc-issuer-url=https://login.acme.example/realms/ml",
        "--client-id=mlflow",
        "--http-address=0.0.0.0:4180",
        "--upstream=http://mlflow-server.mlflow.svc.cluster.local:5000/",
        "--email-domain=acme.example",
        "--reverse-proxy=true",
        "--pass-host-header=true",
        "--skip-jwt-bearer-tokens=true",
        "--code-challenge-method=S256",
        "--cookie-secure=true",
        "--cookie-samesite=lax",
        "--skip-provider-button=true",
        "--silence-ping-logging=true",
        "--upstream-timeout=600s",
        "--redirect-url=https://mlflow.ml.acme.example/oauth2/callback",
    ]
    assert [e["name"] for e in container["env"]] == ["OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"]
    assert all("valueFrom" in e and "value" not in e for e in container["env"])
    assert container["securityContext"] == {**SECURITY, "runAsUser": 65532, "runAsGroup": 65532}
    assert (pod["automountServiceAccountToken"], "serviceAccountName" in pod) == (False, False)
    services = {m["metadata"]["name"]: m["spec"] for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "Service"}
    assert services == {
        "mlflow": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "auth-proxy"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
        "mlflow-server": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"},
            "ports": [{"name": "http", "port": 5000, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    ingress = by_name(pulumi_mocks, "Ingress", "mlflow")
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["mlflow.ml.acme.example"], "secretName": "mlflow-tls"}],
        "rules": [
            {
                "host": "mlflow.ml.acme.example",
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "mlflow", "port": {"number": 80}}}}]
                },
            }
        ],
    }
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"


def test_network_policies_allow_exactly_the_flows_mlflow_needs(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(hostname="mlflow.ml.acme.example", auth=OIDC))
    policies = {m["metadata"]["name"]: m["spec"] for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "NetworkPolicy"}
    server, proxy = (
        {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"},
        {
            "app.kubernetes.io/name": "mlflow",
            "app.kubernetes.io/component": "auth-proxy",
        },
    )
    private = [{"ipBlock": {"cidr": c}} for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    database = {"to": private, "ports": [{"protocol": "TCP", "port": 5432}]}
    https = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert policies == {
        "mlflow-server": {
            "podSelector": {"matchLabels": server},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": proxy}}], "ports": [{"protocol": "TCP", "port": 5000}]}],
            "egress": [database, https],
        },
        "mlflow-db-upgrade": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "db-migration"}},
            "policyTypes": ["Egress"],
            "egress": [database, https],  # and the RDS CA bundle (aws; see the database TLS test)
        },
        "mlflow-auth": {
            "podSelector": {"matchLabels": proxy},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 4180}]}],
            "egress": [{"to": [{"podSelector": {"matchLabels": server}}], "ports": [{"protocol": "TCP", "port": 5000}]}, https],
        },
    }


def test_without_auth_the_server_is_in_cluster_only(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(replicas=1))
    kinds = sorted((m["kind"], m["metadata"]["name"]) for m in map(manifest, k8s_objects(pulumi_mocks)))
    assert kinds == [
        ("Deployment", "mlflow-server"),
        ("Job", "mlflow-db-upgrade-v3-17-2"),
        ("NetworkPolicy", "mlflow-db-upgrade"),
        ("NetworkPolicy", "mlflow-server"),
        ("Secret", "mlflow-db"),
        ("Service", "mlflow"),
        ("ServiceAccount", "mlflow"),
    ]
    ingress = by_name(pulumi_mocks, "NetworkPolicy", "mlflow-server")["spec"]["ingress"]
    assert ingress == [{"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 5000}]}]
    args = by_name(pulumi_mocks, "Deployment", "mlflow-server")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--cors-allowed-origins" not in args


def test_disruption_budgets_only_with_redundancy(pulumi_mocks, run_pulumi):
    build(pulumi_mocks, run_pulumi, "aws", config(replicas=3, hostname="mlflow.ml.acme.example", auth=OIDC))
    budgets = {m["metadata"]["name"]: m["spec"] for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "PodDisruptionBudget"}
    assert budgets == {
        name: {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": component}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
        for name, component in (("mlflow-server", "server"), ("mlflow-auth", "auth-proxy"))
    }


def test_oidc_needs_the_client_secret(pulumi_mocks, run_pulumi):
    def declare() -> None:
        MlflowServer(
            "mlflow",
            MlflowServerArgs(
                config=config(auth=OIDC),
                cloud=CLOUDS["aws"],
                cluster_name="ml",
                namespace=NAMESPACE,
            ),
            opts=pulumi.ResourceOptions(providers=[importlib.import_module("pulumi_aws").Provider("p"), k8s.Provider("k")]),
        )

    with pytest.raises(ValueError, match="mlflowOidcClientSecret"):
        run_pulumi(declare)


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_children_are_prefixed_parented_unique_and_validate_strictly(pulumi_mocks, run_pulumi, cloud):
    build(pulumi_mocks, run_pulumi, cloud, config(cloud, hostname="mlflow.ml.acme.example", auth=OIDC), protect=True)
    records = [r for r in pulumi_mocks.records if not r["type"].startswith(("pulumi:", "mlops:tracking"))]
    urns = [r["urn"] for r in pulumi_mocks.records]
    assert len(urns) == len(set(urns))
    assert all(r["name"].startswith("mlflow-") for r in records)
    assert all(r["parent"] and "mlops:tracking:MlflowServer" in r["parent"] for r in records)
    cloud_records = [r for r in records if r["custom"] and r["type"].split(":")[0] in ("aws", "gcp", "azure-native")]
    assert cloud_records and all(r["provider"] and r["provider"].endswith("::cloud") for r in cloud_records)
    objects = k8s_objects(pulumi_mocks)
    assert all(r["provider"].endswith("::k8s") for r in objects)
    for record in objects:
        kubernetes_validate.validate(manifest(record), "1.31", strict=True)
        assert manifest(record)["metadata"]["labels"]["mlops.platform/team"] == "ml-platform"


# --- the shipped stacks ----------------------------------------------------------------------------------------------


def stack_config(stack: str):
    values = stack_values(stack)
    values.pop("managed_endpoints", None)  # another component's section; this test is about mlflow
    if values["cloud"]["provider"] == "azure":
        values["mlflow"].setdefault("database", {}).setdefault("network", AZURE_NETWORK)
    platform, _ = validate_platform(stack, values, set(), allow_missing_secrets=True)
    return platform


MLFLOW_STACKS = [stack for stack in STACKS if stack_values(stack).get("mlflow", {}).get("enabled", True)]
"""The shipped stacks that run a tracking server (the local stack has no cloud for its database and bucket)."""


def test_only_the_stacks_without_a_cloud_run_no_tracking_server():
    assert sorted(set(STACKS) - set(MLFLOW_STACKS)) == ["kwok", "local"]
    assert stack_config("local").mlflow.enabled is False and stack_config("kwok").mlflow.enabled is False


@pytest.mark.parametrize("stack", MLFLOW_STACKS)
def test_every_shipped_stack_builds_a_valid_protected_server(pulumi_mocks, run_pulumi, stack):
    platform = stack_config(stack)
    cfg = platform.mlflow
    assert mlflow_issues(cfg, platform.cloud.provider, cluster_name=platform.cluster.name) == []
    made: dict[str, MlflowServer] = {}

    def declare() -> None:
        made["server"] = MlflowServer(
            "mlops-mlflow",
            MlflowServerArgs(
                config=cfg,
                cloud=CloudTarget.of(platform.cloud),
                cluster_name=platform.cluster.name or "",
                cluster_location=platform.cluster.location,
                namespace=platform.namespaces.tracking,
                oidc_client_secret=pulumi.Output.secret(CLIENT_SECRET) if cfg.auth.secret_key else None,
                protect=platform.guardrails.protect_stateful,
                labels=platform.common_labels,
                tags=platform.cloud_tags,
            ),
            opts=pulumi.ResourceOptions(
                providers=[importlib.import_module(SDK[platform.cloud.provider]).Provider("cloud"), k8s.Provider("k8s")]
            ),
        )

    run_pulumi(declare)
    protected = {r["type"] for r in pulumi_mocks.records if r["protect"]}
    databases = {
        "aws": "aws:rds/instance:Instance",
        "gcp": "gcp:sql/databaseInstance:DatabaseInstance",
        "azure": "azure-native:dbforpostgresql:Server",
    }
    buckets = {"aws": "aws:s3/bucket:Bucket", "gcp": "gcp:storage/bucket:Bucket", "azure": "azure-native:storage:StorageAccount"}
    provider = platform.cloud.provider
    if platform.guardrails.protect_stateful:
        assert {databases[provider], buckets[provider]} <= protected
    else:
        assert protected == set()
    deployment = by_name(pulumi_mocks, "Deployment", "mlflow-server")
    assert deployment["spec"]["replicas"] == cfg.replicas >= platform.guardrails.min_replicas
    assert deployment["metadata"]["namespace"] == platform.namespaces.tracking
    kinds = {m["kind"] for m in map(manifest, k8s_objects(pulumi_mocks))}
    assert ("Ingress" in kinds) == (cfg.hostname is not None)
    assert ("PodDisruptionBudget" in kinds) == (cfg.replicas >= 2)
    for record in k8s_objects(pulumi_mocks):
        kubernetes_validate.validate(manifest(record), platform.cluster.kubernetes_version, strict=True)
    text = json.dumps(pulumi_mocks.records)
    for record in pulumi_mocks.records:
        if record["type"] == "random:index/randomPassword:RandomPassword":
            assert mock_password(record["name"]) not in text
    assert CLIENT_SECRET not in text
    assert made["server"].public_url == (f"https://{cfg.hostname}" if cfg.hostname else None)


def test_stack_shapes():
    dev, prod = stack_config("dev"), stack_config("prod")
    assert (dev.mlflow.replicas, dev.mlflow.auth.mode, dev.guardrails.protect_stateful) == (1, "none", False)
    assert prod.mlflow.replicas >= 2 and prod.mlflow.database.high_availability and prod.guardrails.protect_stateful
    canary = stack_config("canary")
    assert canary.namespaces.tracking != prod.namespaces.tracking and canary.mlflow.hostname != prod.mlflow.hostname  # its own server


# --- configuration ---------------------------------------------------------------------------------------------------


def issues(cfg: MlflowConfig, provider: str, **kwargs: Any) -> dict[str, str]:
    return {path: expected for path, _, expected in mlflow_issues(cfg, provider, cluster_name=kwargs.pop("cluster_name", "ml"), **kwargs)}


def test_cloud_rules_of_the_mlflow_section():
    azure = MlflowConfig(database={"size": "small", "high_availability": True, "storage_gb": 20, "backup_retention_days": 1})
    found = issues(azure, "azure")
    assert set(found) == {
        "mlflow.database.network.delegated_subnet_id",
        "mlflow.database.network.private_dns_zone_id",
        "mlflow.database.storage_gb",
        "mlflow.database.backup_retention_days",
        "mlflow.database.size",
    }
    assert "Burstable" in found["mlflow.database.size"]
    misplaced = MlflowConfig(database={"network": {"vpc_network": "vpc", "subnet_ids": ["a", "b"]}})
    assert set(issues(misplaced, "aws")) == {"mlflow.database.network.vpc_network"}
    assert issues(MlflowConfig(hostname="mlflow.example.com"), "aws") == {
        "mlflow.hostname": "not set while auth.mode is 'none': the ingress would publish the tracking server without authentication"
    }
    assert set(issues(MlflowConfig(), "aws", cluster_name=None)) == {"cluster.name"}
    assert set(issues(MlflowConfig(artifact_bucket="Bad_Name"), "gcp")) == {"mlflow.artifact_bucket"}
    assert set(issues(MlflowConfig(artifact_bucket="mlflow-artifacts-x"), "azure", cluster_name="ml")) >= {"mlflow.artifact_bucket"}
    assert issues(MlflowConfig(enabled=False, hostname="mlflow.example.com"), "azure", cluster_name=None) == {}


def test_digest_guardrail_covers_both_images():
    cfg = MlflowConfig(auth=OIDC)
    assert set(issues(cfg, "aws", require_image_digest=True)) == {"mlflow.image", "mlflow.auth.proxy_image"}
    digest = "@sha256:" + "ab" * 32
    pinned = MlflowConfig(
        image=f"ghcr.io/mlflow/mlflow:v3.17.2-full{digest}", auth={**OIDC, "proxy_image": f"{DEFAULT_PROXY_IMAGE}{digest}"}
    )
    assert issues(pinned, "aws", require_image_digest=True) == {}


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"auth": {"mode": "none", "email_domains": ["x.example"]}}, "email_domains"),
        ({"auth": {**OIDC, "proxy_image": "quay.io/oauth2-proxy/oauth2-proxy"}}, "proxy_image"),
        ({"image": "ghcr.io/mlflow/mlflow"}, "image"),
        ({"version": "3.1.0"}, "version"),
        ({"resources": {"cpu": "4", "cpu_limit": "2"}}, "cpu"),
        ({"resources": {"memory": "2GB"}}, "memory"),
        ({"database": {"engine_version": "14"}}, "engine_version"),
        ({"database": {"network": {"delegated_subnet_id": "subnet-1"}}}, "delegated_subnet_id"),
        ({"databse": {}}, "databse"),
        ({"ingress": {"tls_secret": "Not_A_Name"}}, "tls_secret"),
    ],
)
def test_model_rejects(values, path):
    with pytest.raises(ValidationError) as error:
        MlflowConfig(**values)
    assert path in str(error.value)


def test_model_defaults():
    cfg = MlflowConfig()
    assert cfg.server_image == "ghcr.io/mlflow/mlflow:v3.17.2-full"
    assert MlflowAuth(**OIDC).image == DEFAULT_PROXY_IMAGE
    assert MlflowResources().model_dump() == {"cpu": "500m", "cpu_limit": "2", "memory": "2Gi", "scratch": "10Gi"}
    assert MlflowConfig(version="3.8.0", image="registry.example/mlflow:3.8.0").server_image == "registry.example/mlflow:3.8.0"


def test_bucket_names_are_valid_stable_and_distinct():
    names = {cloud: default_bucket_name(cfg, "mlops-platform", "prod") for cloud, cfg in CLOUDS.items()}
    for cloud, name in names.items():
        assert "mlflow.artifact_bucket" not in issues(MlflowConfig(artifact_bucket=name), cloud), name
    assert default_bucket_name(CLOUDS["aws"], "mlops-platform", "prod") == names["aws"]
    assert default_bucket_name(CLOUDS["aws"], "mlops-platform", "staging") != names["aws"]
    long = default_bucket_name(CLOUDS["aws"], "mlops-platform", "a-very-long_Stack.Name-" * 4)
    assert len(long) <= 63 and not issues(MlflowConfig(artifact_bucket=long), "aws")


# --- sizes -----------------------------------------------------------------------------------------------------------


def test_size_table_covers_every_cloud_and_size_with_a_source():
    assert {(row.cloud, row.size) for row in DATABASE_SIZES} == {
        (c, s) for c in ("aws", "gcp", "azure") for s in ("small", "medium", "large")
    }
    for row in DATABASE_SIZES:
        assert row.source and "2026" in row.source and row.vcpus >= 1 and row.memory_gib >= 2
    for cloud in ("aws", "gcp", "azure"):
        memory = [database_size(cloud, s).memory_gib for s in ("small", "medium", "large")]
        assert memory == sorted(memory)
    # What the config check refuses is exactly what the table says has no standby.
    assert [(r.cloud, r.size) for r in DATABASE_SIZES if not r.high_availability] == [("azure", "small")]
    assert 256 in AZURE_STORAGE_SIZES_GB
    with pytest.raises(KeyError):
        database_size("aws", "huge")


# --- ordering --------------------------------------------------------------------------------------------------------


def test_creation_order_grants_after_bucket_server_after_migration(pulumi_mocks, run_pulumi, monkeypatch):
    dependencies: dict[str, list[str]] = {}
    register = RecordingMonitor.RegisterResource

    def spy(self, request):
        dependencies[request.name] = [urn.rsplit("::", 1)[1] for urn in request.dependencies]
        return register(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    build(pulumi_mocks, run_pulumi, "gcp", config())
    assert "mlflow-artifacts" in dependencies["mlflow-identity-bucket-0"]  # the IAM member waits for its bucket
    assert {"mlflow-db", "mlflow-db-mlflow", "mlflow-db-user"} <= set(dependencies["mlflow-db-secret"])
    assert "mlflow-db-secret" in dependencies["mlflow-db-upgrade"]
    assert {"mlflow-db-upgrade", "mlflow-db-secret", "mlflow-identity-sa"} <= set(dependencies["mlflow-server"])


def test_a_cluster_name_is_required(pulumi_mocks, run_pulumi):
    def declare() -> None:
        MlflowServer(
            "mlflow",
            MlflowServerArgs(
                config=config(),
                cloud=CLOUDS["aws"],
                cluster_name=None,
                namespace=NAMESPACE,
            ),
            opts=pulumi.ResourceOptions(providers=[importlib.import_module("pulumi_aws").Provider("p"), k8s.Provider("k")]),
        )

    with pytest.raises(ValueError, match=r"cluster\.name"):
        run_pulumi(declare)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_outside_dev_sign_in_is_limited_to_named_domains_or_groups(stack):
    values = stack_values(stack)
    del values["mlflow"]["auth"]["email_domains"]
    with pytest.raises(ConfigError) as caught:
        validate_platform(stack, values, set(), allow_missing_secrets=True)
    (issue,) = [i for i in caught.value.issues if i.path == "mlflow.auth.email_domains"]
    assert "admits every account the identity provider knows" in issue.message
    values["mlflow"]["auth"]["allowed_groups"] = ["ml-platform"]
    validate_platform(stack, values, set(), allow_missing_secrets=True)  # groups are enough


def test_the_proxy_admits_only_the_configured_domains_and_groups():
    values = stack_values("prod")
    values["mlflow"]["auth"]["allowed_groups"] = ["ml-platform", "ml-readers"]
    result = synth_values(values, stack="prod")
    (proxy,) = [
        m
        for m in result.manifests()
        if m["kind"] == "Deployment" and "oauth2-proxy" in str(m["spec"]["template"]["spec"]["containers"][0]["image"])
    ]
    args = proxy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--email-domain=acme.example" in args and "--email-domain=*" not in args
    assert [a for a in args if a.startswith("--allowed-group=")] == ["--allowed-group=ml-platform", "--allowed-group=ml-readers"]


CA_MOUNT = {"name": "db-ca", "mountPath": "/etc/mlflow/db-ca", "readOnly": True}


@pytest.mark.parametrize(
    ("cloud", "options"),
    [
        ("aws", "sslmode=verify-full&sslrootcert=/etc/mlflow/db-ca/ca.pem"),
        ("gcp", "sslmode=verify-ca&sslrootcert=/etc/mlflow/db-ca/ca.pem"),
        ("azure", "sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt"),
    ],
)
def test_the_database_certificate_is_verified_with_the_clouds_ca(pulumi_mocks, run_pulumi, monkeypatch, cloud, options):
    """Never sslmode=require (any certificate passes): each cloud's CA reaches both pods that connect."""
    uris: list[str] = []
    original = server_module.backend_store_uri

    def recording(*args: Any) -> str:
        uris.append(original(*args))
        return uris[-1]

    monkeypatch.setattr(server_module, "backend_store_uri", recording)
    build(pulumi_mocks, run_pulumi, cloud, config(cloud))
    (uri,) = uris
    assert uri.endswith(f"/mlflow?{options}") and "sslmode=require" not in uri
    pods = [by_name(pulumi_mocks, kind, name)["spec"]["template"]["spec"] for kind, name in PODS_THAT_CONNECT]
    maps = [m for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "mlflow-db-ca"]
    policies = {m["metadata"]["name"]: m["spec"] for m in map(manifest, k8s_objects(pulumi_mocks)) if m["kind"] == "NetworkPolicy"}
    migration_ports = [rule["ports"][0]["port"] for rule in policies["mlflow-db-upgrade"]["egress"]]
    if cloud == "aws":
        assert one(pulumi_mocks, "aws:rds/instance:Instance")["inputs"]["caCertIdentifier"] == "rds-ca-rsa2048-g1"
        url = "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"
        for pod in pods:
            (fetch,) = pod["initContainers"]
            assert fetch["command"][:2] == ["python", "-c"] and fetch["command"][3:] == [url, "/etc/mlflow/db-ca/ca.pem"]
            assert fetch["image"] == pod["containers"][0]["image"] and fetch["securityContext"] == SECURITY
            assert {"name": "db-ca", "emptyDir": {"sizeLimit": "4Mi"}} in pod["volumes"]
            assert CA_MOUNT in pod["containers"][0]["volumeMounts"]
        assert maps == [] and migration_ports == [5432, 443]  # the migration fetches the bundle too
    elif cloud == "gcp":
        ip = one(pulumi_mocks, "gcp:sql/databaseInstance:DatabaseInstance")["inputs"]["settings"]["ipConfiguration"]
        assert (ip["sslMode"], ip["serverCaMode"]) == ("ENCRYPTED_ONLY", "GOOGLE_MANAGED_INTERNAL_CA")
        (ca_map,) = maps
        assert ca_map["data"]["ca.pem"].count("-----BEGIN CERTIFICATE-----") == 2  # current and upcoming CA
        for pod in pods:
            assert "initContainers" not in pod
            assert {"name": "db-ca", "configMap": {"name": "mlflow-db-ca"}} in pod["volumes"]
            assert CA_MOUNT in pod["containers"][0]["volumeMounts"]
        assert migration_ports == [5432]
    else:
        for pod in pods:
            assert "initContainers" not in pod and all(v["name"] != "db-ca" for v in pod["volumes"])
        assert maps == [] and migration_ports == [5432]


PODS_THAT_CONNECT = [("Deployment", "mlflow-server"), ("Job", "mlflow-db-upgrade-v3-17-2")]


def test_rds_ca_bundles_follow_the_partition():
    assert rds_ca_bundle_url("eu-west-1") == "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem"
    assert rds_ca_bundle_url("us-gov-west-1").startswith("https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-west-1/")
    assert rds_ca_bundle_url("cn-north-1") == "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/cn-north-1/cn-north-1-bundle.pem"


def test_database_tls_names_exactly_one_ca_source():
    with pytest.raises(ValueError, match="exactly one"):
        DatabaseTls(mode="verify-full")
    with pytest.raises(ValueError, match="exactly one"):
        DatabaseTls(mode="verify-full", ca_file="/a", ca_url="https://b")
