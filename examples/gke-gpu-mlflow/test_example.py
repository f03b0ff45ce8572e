"""The example under the package's mocks: the GKE pool and MLflow's database, bucket and server."""

import runpy
from pathlib import Path

import pulumi

from mlops_platform.testing import PlatformMocks, RecordingMonitor

HERE = Path(__file__).resolve().parent


def synthesize() -> list[dict]:
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="gke-gpu-mlflow", stack="test", monitor=monitor)
    pulumi.runtime.set_all_config(
        {"gke-gpu-mlflow:project": "acme-ml", "gke-gpu-mlflow:clusterName": "ml", "gke-gpu-mlflow:kubeconfig": "apiVersion: v1"},
        ["gke-gpu-mlflow:kubeconfig"],
    )

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(HERE / "__main__.py"))

    program()
    return monitor.records


def test_the_pool_is_spot_l4_on_the_cluster():
    records = synthesize()
    (pool,) = [r for r in records if r["type"] == "gcp:container/nodePool:NodePool"]
    node = pool["inputs"]["nodeConfig"]
    assert pool["inputs"]["cluster"] == "ml" and node["machineType"] == "g2-standard-8" and node["spot"] is True


def test_mlflow_stores_runs_in_cloud_sql_and_artifacts_in_gcs():
    records = synthesize()
    types = {r["type"] for r in records}
    assert {"gcp:sql/databaseInstance:DatabaseInstance", "gcp:storage/bucket:Bucket", "kubernetes:apps/v1:Deployment"} <= types
    (member,) = [r["inputs"] for r in records if r["type"] == "gcp:storage/bucketIAMMember:BucketIAMMember"]
    assert member["role"] == "roles/storage.objectUser" and "objects/artifacts/" in member["condition"]["expression"]
