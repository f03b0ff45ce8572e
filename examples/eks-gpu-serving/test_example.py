"""The example under the package's mocks: what it creates for the pool, the namespace and the model."""

import runpy
from pathlib import Path

import pulumi

from mlops_platform.testing import PlatformMocks, RecordingMonitor

HERE = Path(__file__).resolve().parent


def synthesize() -> list[dict]:
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="eks-gpu-serving", stack="test", monitor=monitor)
    pulumi.runtime.set_all_config(
        {
            "eks-gpu-serving:accountId": "123456789012",
            "eks-gpu-serving:clusterName": "ml-prod",
            "eks-gpu-serving:kubeconfig": "apiVersion: v1",
        },
        ["eks-gpu-serving:kubeconfig"],
    )

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(HERE / "__main__.py"))

    program()
    return monitor.records


def test_the_pool_runs_l4_nodes_with_the_gpu_taint():
    records = synthesize()
    (group,) = [r for r in records if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    assert group["inputs"]["instanceTypes"] == ["g6.xlarge"] and group["inputs"]["clusterName"] == "ml-prod"
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in group["inputs"]["taints"]


def test_the_model_runs_on_the_pool_and_flagger_releases_it():
    records = synthesize()
    deployments = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in records if r["type"] == "kubernetes:apps/v1:Deployment"}
    assert sorted(deployments) == ["triton-fraud-detector"]  # Flagger makes the primary from it
    (canary,) = [r["inputs"] for r in records if r["type"] == "kubernetes:flagger.app/v1beta1:Canary"]
    assert canary["spec"]["provider"] == "kubernetes" and canary["spec"]["analysis"]["iterations"] == 5
    assert [h["type"] for h in canary["spec"]["analysis"]["webhooks"]] == ["pre-rollout", "rollout"]
    (namespace,) = [r["urn"] for r in records if r["type"] == "kubernetes:core/v1:Namespace"]
    (deployment_record,) = [r for r in records if r["type"] == "kubernetes:apps/v1:Deployment"]
    assert deployment_record["inputs"]["metadata"]["namespace"] == "ml-serving" and namespace in deployment_record["dependencies"]
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"mlops.platform/gpu-pool": "l4"}
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_namespace_is_closed_and_capped():
    records = synthesize()
    quota = next(r for r in records if r["type"] == "kubernetes:core/v1:ResourceQuota")
    assert quota["inputs"]["spec"]["hard"] == {"requests.nvidia.com/gpu": "4"}
    policies = [r["inputs"]["metadata"]["name"] for r in records if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    assert "default-deny-all" in policies
