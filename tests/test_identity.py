"""Workload identity per cloud: the service account, the cloud identity, and grants scoped to the buckets."""

from __future__ import annotations

import importlib
import json

import pytest

from mlops_platform.clouds.target import CloudTarget
from mlops_platform.identity import ObjectStoreGrant, StoreLocation, WorkloadIdentity, WorkloadIdentityArgs
from mlops_platform.identity.conditions import azure_prefix_condition, gcs_prefix_expression
from mlops_platform.identity.names import GCP_ACCOUNT_ID, gcp_account_id
from tools.synthesis import Synthesis

from .conftest import stack_values, synth_values

CLOUDS = {
    "aws": CloudTarget(provider="aws", region="us-east-1"),
    "gcp": CloudTarget(provider="gcp", project="acme-ml", region="us-central1"),
    "azure": CloudTarget(provider="azure", subscription_id="3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", location="eastus", resource_group="rg"),
}
SDK = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}


def declare(monitor, run, cloud: str, grants: list[ObjectStoreGrant], config: CloudTarget | None = None):
    import pulumi
    import pulumi_kubernetes as k8s

    made = {}

    def fn():
        provider = importlib.import_module(SDK[cloud]).Provider("p")
        args = WorkloadIdentityArgs(
            namespace="ml-serving",
            service_account="triton-fraud",
            cloud=config or CLOUDS[cloud],
            cluster_name="ml",
            grants=grants,
        )
        made["wi"] = WorkloadIdentity("wi", args, opts=pulumi.ResourceOptions(providers=[provider, k8s.Provider("k")]))

    run(fn)
    sa = next(r for r in monitor.records if r["type"] == "kubernetes:core/v1:ServiceAccount")["inputs"]
    assert sa["automountServiceAccountToken"] is False
    return made["wi"], sa


@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")])
def test_irsa_s3_arns_name_the_regions_partition(pulumi_mocks, run_pulumi, region, partition):
    declare(pulumi_mocks, run_pulumi, "aws", [ObjectStoreGrant("s3://acme-models/triton")], CloudTarget(provider="aws", region=region))
    policy = json.loads(next(r for r in pulumi_mocks.records if r["type"] == "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    resources = [arn for statement in policy["Statement"] for arn in statement["Resource"]]
    assert resources == [f"arn:{partition}:s3:::acme-models", f"arn:{partition}:s3:::acme-models/triton/*"]


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
    email = f"{gcp_account_id('wi', 'triton-fraud', 'ml')}@acme-ml.iam.gserviceaccount.com"
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == email
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


def _account_ids(result: Synthesis) -> list[str]:
    return [r["inputs"]["accountId"] for r in result.of_type("gcp:serviceaccount/account:Account")]


def test_gcp_account_ids_are_valid_and_distinct_for_names_that_share_their_start(pulumi_mocks):
    a = gcp_account_id("wi", "triton-recommendation-ranker-a", "ml")
    b = gcp_account_id("wi", "triton-recommendation-ranker-b", "ml")
    assert a != b and a[:-7] == b[:-7] == "wi-triton-recommendatio", (a, b)
    for account_id in (a, b, gcp_account_id("gpu", "x", "ml"), gcp_account_id("wi", "-" * 40, "ml")):
        assert GCP_ACCOUNT_ID.match(account_id) and len(account_id) <= 30, account_id
    assert gcp_account_id("wi", "triton-fraud", "ml") == gcp_account_id("wi", "triton-fraud", "ml"), "stable"
    assert gcp_account_id("wi", "triton-fraud", "ml") != gcp_account_id("wi", "triton-fraud", "other-cluster")


def test_two_stacks_in_one_gcp_project_name_no_account_alike():
    """prod-gcp and a copy of it under another stack name (same project): every account id differs, and within
    each stack every id is unique and valid."""
    values = stack_values("prod-gcp")
    first, second = synth_values(values, stack="prod-gcp"), synth_values(values, stack="prod-gcp-eu")
    ids, other = _account_ids(first), _account_ids(second)
    assert ids and len(set(ids)) == len(ids) and all(GCP_ACCOUNT_ID.match(i) for i in ids)
    assert not set(ids) & set(other)
    assert _account_ids(synth_values(values, stack="prod-gcp")) == ids, "the same stack keeps its names"


def test_two_stacks_granting_on_one_azure_container_use_distinct_role_assignment_names():
    values = stack_values("prod-azure")

    def names(stack: str) -> list[str]:
        records = synth_values(values, stack=stack).of_type("azure-native:authorization:RoleAssignment")
        return [r["inputs"]["roleAssignmentName"] for r in records]

    first, second = names("prod-azure"), names("prod-azure-blue")
    assert first and len(set(first)) == len(first)
    assert not set(first) & set(second)
    assert names("prod-azure") == first


# --- prefix conditions (GCP IAM Conditions, Azure ABAC) ----------------------------------------------------------------


def cel_allows(expression: str, resource_name: str, list_prefix: str | None = None) -> bool:
    """Evaluate a GCS IAM condition with a real CEL engine (cel-python): what IAM sees for one request."""
    import celpy

    env = celpy.Environment()

    def get_attribute(api: object, key: object, default: object) -> celpy.celtypes.StringType:
        assert str(key) == "storage.googleapis.com/objectListPrefix"
        return celpy.celtypes.StringType(list_prefix if list_prefix is not None else str(default))

    program = env.program(env.compile(expression), functions={"getAttribute": get_attribute})
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name}), "api": celpy.json_to_cel({})}))


def test_gcp_grants_are_conditioned_on_the_prefix(pulumi_mocks, run_pulumi):
    declare(pulumi_mocks, run_pulumi, "gcp", [ObjectStoreGrant("gs://acme-models/triton", write=True), ObjectStoreGrant("gs://whole")])
    members = {
        r["inputs"]["bucket"]: r["inputs"] for r in pulumi_mocks.records if r["type"] == "gcp:storage/bucketIAMMember:BucketIAMMember"
    }
    prefixed, whole = members["acme-models"], members["whole"]
    assert "condition" not in whole, "a grant on a whole bucket needs no condition"
    condition = prefixed["condition"]
    assert condition["title"] == "prefix triton"
    expression = condition["expression"]
    objects = "projects/_/buckets/acme-models/objects"
    assert cel_allows(expression, f"{objects}/triton/fraud/1/model.onnx")
    assert not cel_allows(expression, f"{objects}/tritonx/secret"), "a sibling that shares the prefix's start"
    assert not cel_allows(expression, f"{objects}/other/model.onnx")
    bucket = "projects/_/buckets/acme-models"  # listing is checked on the bucket, with the request's prefix
    assert cel_allows(expression, bucket, "triton/fraud/") and cel_allows(expression, bucket, "triton")
    assert not cel_allows(expression, bucket, "") and not cel_allows(expression, bucket, "other/")
    assert not cel_allows(expression, bucket), "other bucket-level permissions of the role"


def test_prefixes_that_could_break_out_of_a_condition_are_refused():
    for prefix in ('a") || true || ("', "a'b", "a b", "a\\b", "/a", "a//b"):
        with pytest.raises(ValueError, match="expected path segments"):
            gcs_prefix_expression("b", prefix)
        with pytest.raises(ValueError, match="expected path segments"):
            azure_prefix_condition("c", prefix, write=True)


def test_azure_grants_carry_an_abac_condition_on_the_path(pulumi_mocks, run_pulumi):
    declare(
        pulumi_mocks,
        run_pulumi,
        "azure",
        [ObjectStoreGrant("as://acmemodels/triton/models", write=True), ObjectStoreGrant("as://acmemodels/all")],
    )
    roles = {
        r["inputs"]["scope"].rsplit("/", 1)[1]: r["inputs"]
        for r in pulumi_mocks.records
        if r["type"] == "azure-native:authorization:RoleAssignment"
    }
    prefixed, whole = roles["triton"], roles["all"]
    assert "condition" not in whole and "conditionVersion" not in whole
    assert prefixed["conditionVersion"] == "2.0"
    blobs = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
    container = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'triton'"
    assert prefixed["condition"] == (
        f"((!(ActionMatches{{'{blobs}/read'}} AND NOT SubOperationMatches{{'Blob.List'}})"
        f" AND !(ActionMatches{{'{blobs}/write'}}) AND !(ActionMatches{{'{blobs}/add/action'}})"
        f" AND !(ActionMatches{{'{blobs}/delete'}}) AND !(ActionMatches{{'{blobs}/move/action'}}))"
        f" OR ({container} AND @Resource[{blobs}:path] StringStartsWith 'models/'))"
        f" AND ((!(ActionMatches{{'{blobs}/read'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR ({container} AND @Request[{blobs}:prefix] StringStartsWith 'models/'))"
    )
    reader = azure_prefix_condition("triton", "models", write=False)
    assert "write" not in reader and "delete" not in reader and reader.count("(") == reader.count(")")
