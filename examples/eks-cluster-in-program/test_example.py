"""The example under the package's mocks: the new cluster's name reaches every resource as a value, never as the
text of an unresolved Output."""

import json
import runpy
from pathlib import Path

import pulumi

from mlops_platform.testing import PlatformMocks, RecordingMonitor

HERE = Path(__file__).resolve().parent


def synthesize() -> list[dict]:
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="eks-cluster-in-program", stack="test", monitor=monitor)
    pulumi.runtime.set_all_config(
        {"eks-cluster-in-program:accountId": "123456789012", "eks-cluster-in-program:subnetIds": '["subnet-a", "subnet-b"]'}, []
    )

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(HERE / "__main__.py"))

    program()
    return monitor.records


def test_the_cluster_outputs_feed_the_pool_and_the_identity():
    records = synthesize()
    assert "Calling __str__" not in json.dumps(records)
    (cluster,) = [r for r in records if r["type"] == "aws:eks/cluster:Cluster"]
    (group,) = [r for r in records if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    name = group["inputs"]["clusterName"]
    assert name.startswith("ml") and group["inputs"]["instanceTypes"] == ["g4dn.xlarge"]
    template = next(r for r in records if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
    assert {spec["tags"]["Name"] for spec in template["inputs"]["tagSpecifications"]} == {f"{name}-t4"}
    account = next(r for r in records if r["type"] == "kubernetes:core/v1:ServiceAccount")
    assert account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/")
    assert cluster["inputs"]["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]
