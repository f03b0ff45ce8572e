"""The example under the package's mocks: what it creates for the namespace and the model, with no cloud resource."""

import runpy
from pathlib import Path

import pulumi

from mlops_platform.testing import PlatformMocks, RecordingMonitor

HERE = Path(__file__).resolve().parent


def synthesize() -> list[dict]:
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="kubernetes-serving", stack="test", monitor=monitor)
    pulumi.runtime.set_all_config({"kubernetes-serving:kubeconfig": "apiVersion: v1"}, ["kubernetes-serving:kubeconfig"])

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(HERE / "__main__.py"))

    program()
    return monitor.records


def test_only_kubernetes_objects_are_created():
    types = {r["type"] for r in synthesize()}
    assert all(t.startswith(("kubernetes:", "mlops:", "pulumi:providers:kubernetes", "pulumi:pulumi:Stack")) for t in types), types


def test_the_model_reads_the_store_with_the_existing_secret_and_flagger_releases_it():
    records = synthesize()
    (deployment,) = [r["inputs"] for r in records if r["type"] == "kubernetes:apps/v1:Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    env = [e for c in pod["containers"] + pod.get("initContainers", []) for e in c.get("env") or []]
    secret_refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
    assert secret_refs == {"model-store-credentials"}
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"].get("limits", {})
    (canary,) = [r["inputs"] for r in records if r["type"] == "kubernetes:flagger.app/v1beta1:Canary"]
    assert canary["spec"]["provider"] == "kubernetes" and canary["spec"]["analysis"]["iterations"] == 5


def test_the_namespace_is_closed():
    records = synthesize()
    policies = [r["inputs"]["metadata"]["name"] for r in records if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    assert "default-deny-all" in policies
