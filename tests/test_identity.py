"""Workload identity per cloud: the service account, the cloud identity, and grants scoped to the buckets."""

from __future__ import annotations

import importlib
import json

import pytest

from components.config.cloud import CloudConfig
from components.identity import ObjectStoreGrant, StoreLocation, WorkloadIdentity, WorkloadIdentityArgs

CLOUDS = {
    "aws": CloudConfig(provider="aws", region="us-east-1"),
    "gcp": CloudConfig(provider="gcp", project="acme-ml", region="us-central1"),
    "azure": CloudConfig(provider="azure", subscription_id="3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", location="eastus", resource_group="rg"),
}
SDK = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}


def declare(monitor, run, cloud: str, grants: list[ObjectStoreGrant]):
    import pulumi_kubernetes as k8s

    made = {}

    def fn():
        provider = importlib.import_module(SDK[cloud]).Provider("p")
        args = WorkloadIdentityArgs(
            namespace="ml-serving", service_account="triton-fraud", cloud=CLOUDS[cloud], cluster_name="ml", provider=provider, grants=grants
        )
        made["wi"] = WorkloadIdentity("wi", args, k8s.Provider("k"))

    run(fn)
    sa = next(r for r in monitor.records if r["type"] == "kubernetes:core/v1:ServiceAccount")["inputs"]
    assert sa["automountServiceAccountToken"] is False
    return made["wi"], sa


def test_uri_parsing():
    assert StoreLocation.parse("s3://models/triton/") == StoreLocation("s3", "models", None, "triton")
    assert StoreLocation.parse("as://acct/models/triton") == StoreLocation("as", "acct", "models", "triton")
    with pytest.raises(ValueError):
        StoreLocation.parse("https://example.com/x")


def test_irsa_role_trusts_only_this_service_account_and_reads_only_its_prefix(pulumi_mocks, run_pulumi):
    _, sa = declare(pulumi_mocks, run_pulumi, "aws", [ObjectStoreGrant("s3://acme-models/triton")])
    assert list(sa["metadata"]["annotations"]) == ["eks.amazonaws.com/role-arn"]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/")
    role = next(r for r in pulumi_mocks.records if r["type"] == "aws:iam/role:Role")["inputs"]
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = trust["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:ml-serving:triton-fraud"]
    assert trust["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.")
    policy = json.loads(next(r for r in pulumi_mocks.records if r["type"] == "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::acme-models"],
            "Condition": {"StringLike": {"s3:prefix": ["triton", "triton/*"]}},
        },
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::acme-models/triton/*"]},
    ]


def test_gke_workload_identity_binds_namespace_and_account(pulumi_mocks, run_pulumi):
    _, sa = declare(pulumi_mocks, run_pulumi, "gcp", [ObjectStoreGrant("gs://acme-models/triton", write=True)])
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "wi-triton-fraud@acme-ml.iam.gserviceaccount.com"
    bucket = next(r for r in pulumi_mocks.records if r["type"] == "gcp:storage/bucketIAMMember:BucketIAMMember")["inputs"]
    assert (bucket["bucket"], bucket["role"]) == ("acme-models", "roles/storage.objectUser")
    wi = next(r for r in pulumi_mocks.records if r["type"] == "gcp:serviceaccount/iAMMember:IAMMember")["inputs"]
    assert wi["member"] == "serviceAccount:acme-ml.svc.id.goog[ml-serving/triton-fraud]" and wi["role"] == "roles/iam.workloadIdentityUser"


def test_azure_workload_identity_federates_and_scopes_to_the_container(pulumi_mocks, run_pulumi):
    wi, sa = declare(pulumi_mocks, run_pulumi, "azure", [ObjectStoreGrant("as://acmemodels/triton/models")])
    assert wi.pod_labels == {"azure.workload.identity/use": "true"}
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"].startswith("00000000-")
    fed = next(r for r in pulumi_mocks.records if r["type"] == "azure-native:managedidentity:FederatedIdentityCredential")["inputs"]
    assert fed["subject"] == "system:serviceaccount:ml-serving:triton-fraud"
    assert fed["audiences"] == ["api://AzureADTokenExchange"] and fed["issuer"].startswith("https://")
    role = next(r for r in pulumi_mocks.records if r["type"] == "azure-native:authorization:RoleAssignment")["inputs"]
    assert role["scope"].endswith("/storageAccounts/acmemodels/blobServices/default/containers/triton")
    assert role["roleDefinitionId"].endswith("/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")
    assert role["principalType"] == "ServicePrincipal"
