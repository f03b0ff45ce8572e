"""Unit tests of the components, each under fresh mocks."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlops_platform.clouds import adapter, exec_kubeconfig
from mlops_platform.cluster import ClusterAccess, ClusterAccessArgs
from mlops_platform.config.cloud import CloudConfig, ClusterConfig
from mlops_platform.namespace import PlatformNamespace, PlatformNamespaceArgs

AWS = CloudConfig(provider="aws", region="eu-west-1", account_id="123456789012")


def by_type(monitor, type_token):
    return [r for r in monitor.records if r["type"] == type_token]


def test_namespace_children_are_prefixed_parented_and_closed(pulumi_mocks, run_pulumi):
    def declare():
        PlatformNamespace("team-a", PlatformNamespaceArgs(namespace="team-a", kubernetes_version="1.30", labels={"x": "y"}, gpu_quota=6))

    run_pulumi(declare)
    component = by_type(pulumi_mocks, "mlops:platform:PlatformNamespace")[0]
    children = [r for r in pulumi_mocks.records if r["parent"] == component["urn"]]
    assert sorted(r["name"] for r in children) == [
        "team-a-allow-dns",
        "team-a-default-deny",
        "team-a-defaults",
        "team-a-gpu-quota",
        "team-a-ns",
    ]
    ns = by_type(pulumi_mocks, "kubernetes:core/v1:Namespace")[0]["inputs"]["metadata"]
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.30"
    quota = by_type(pulumi_mocks, "kubernetes:core/v1:ResourceQuota")[0]["inputs"]
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "6"}
    dns = next(r for r in children if r["name"] == "team-a-allow-dns")["inputs"]["spec"]["egress"][0]
    assert sorted(p["protocol"] for p in dns["ports"]) == ["TCP", "UDP"]


def test_namespace_without_gpu_quota_has_no_quota(pulumi_mocks, run_pulumi):
    run_pulumi(lambda: PlatformNamespace("b", PlatformNamespaceArgs(namespace="b", kubernetes_version="1.31")))
    assert by_type(pulumi_mocks, "kubernetes:core/v1:ResourceQuota") == []


def test_existing_eks_cluster_uses_the_region_pinned_provider_and_a_token_plugin(pulumi_mocks, run_pulumi):
    def declare():
        ClusterAccess("c", ClusterAccessArgs(cloud=AWS, cluster=ClusterConfig(source="existing", name="ml"), tags={"team": "a"}))

    run_pulumi(declare)
    aws = by_type(pulumi_mocks, "pulumi:providers:aws")[0]
    assert aws["name"] == "c-aws"
    assert aws["inputs"]["region"] == "eu-west-1"
    assert json.loads(aws["inputs"]["allowedAccountIds"]) == ["123456789012"]
    k8s = by_type(pulumi_mocks, "pulumi:providers:kubernetes")[0]
    assert k8s["inputs"]["kubeconfig"] == "[secret]" and k8s["inputs"]["clusterIdentifier"] == "aws/ml"


def test_exec_kubeconfig_fetches_tokens_and_stores_no_credential(pulumi_mocks, run_pulumi):
    seen = {}

    def declare():
        out = exec_kubeconfig("ml", "https://x.example", "Q0E=", "aws", ["eks", "get-token", "--cluster-name", "ml"])
        return out.apply(lambda text: seen.update(json.loads(text)))

    run_pulumi(declare)
    user = seen["users"][0]["user"]
    assert user == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", "ml"],
            "interactiveMode": "Never",
        }
    }
    assert seen["clusters"][0]["cluster"] == {"server": "https://x.example", "certificate-authority-data": "Q0E="}


def test_stack_reference_source_reads_the_other_stack(pulumi_mocks, run_pulumi):
    cluster = ClusterConfig(source="stack_reference", stack="acme/infra/dev")

    run_pulumi(lambda: ClusterAccess("c", ClusterAccessArgs(cloud=AWS, cluster=cluster)))
    reads = [r for r in pulumi_mocks.records if r["operation"] == "read"]
    assert [(r["type"], r["name"], r["inputs"]["name"]) for r in reads] == [
        ("pulumi:pulumi:StackReference", "c-cluster-stack", "acme/infra/dev")
    ]
    k8s = by_type(pulumi_mocks, "pulumi:providers:kubernetes")[0]
    assert k8s["inputs"]["clusterIdentifier"] == "stack/acme/infra/dev/kubeconfig"


def test_kubeconfig_secret_source_requires_the_secret(pulumi_mocks):
    cluster = ClusterConfig(source="kubeconfig_secret")
    with pytest.raises(ValueError, match="kubeconfig_secret is required"):
        ClusterAccess("c", ClusterAccessArgs(cloud=AWS, cluster=cluster))


def test_kubeconfig_secret_stays_secret(pulumi_mocks, run_pulumi):
    cluster = ClusterConfig(source="kubeconfig_secret")
    secret = pulumi.Output.secret("apiVersion: v1\nkind: Config\n")
    run_pulumi(lambda: ClusterAccess("c", ClusterAccessArgs(cloud=AWS, cluster=cluster, kubeconfig_secret=secret)))
    k8s = by_type(pulumi_mocks, "pulumi:providers:kubernetes")[0]
    assert k8s["inputs"]["kubeconfig"] == "[secret]"


@pytest.mark.parametrize(
    ("cloud", "provider_type"),
    [
        (CloudConfig(provider="gcp", project="acme-ml", region="europe-west4"), "pulumi:providers:gcp"),
        (
            CloudConfig(
                provider="azure", subscription_id="3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", location="westeurope", resource_group="rg"
            ),
            "pulumi:providers:azure-native",
        ),
    ],
)
def test_each_cloud_adapter_builds_its_provider(pulumi_mocks, run_pulumi, cloud, provider_type):
    run_pulumi(lambda: ClusterAccess("c", ClusterAccessArgs(cloud=cloud, cluster=ClusterConfig(source="existing", name="ml"))))
    assert [r["name"] for r in by_type(pulumi_mocks, provider_type)] == [f"c-{cloud.provider}"]


def test_adapters_are_modules_of_the_clouds_package():
    assert {getattr(adapter(name), "__name__", None) for name in ("aws", "gcp", "azure")} == {
        "mlops_platform.clouds.aws",
        "mlops_platform.clouds.gcp",
        "mlops_platform.clouds.azure",
    }
