"""GPU node pools: exact native arguments per cloud and sharing profile, wiring, operator, cost."""

from __future__ import annotations

import json
import runpy
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from mlops_platform.catalog.offers import InstanceOffer, node_price, offers
from mlops_platform.catalog.offers import offer_for as _offer_for
from mlops_platform.catalog.regional_prices import PRICES, UNPRICED
from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config import validate_platform
from mlops_platform.config.gpu import GpuOperatorConfig, GpuPoolConfig
from mlops_platform.gpu import GpuNodePool, GpuNodePoolArgs, GpuOperator, GpuOperatorArgs
from mlops_platform.gpu.cost import EXISTING_NODES, HOURS_PER_MONTH, pool_cost
from mlops_platform.identity.names import gcp_account_id
from tools.synth import cost_summary
from tools.synthesis import ROOT

from .conftest import STACKS, stack_values

CLOUDS = {
    "aws": CloudTarget(provider="aws", region="us-east-1"),
    "gcp": CloudTarget(provider="gcp", project="acme-ml", region="us-central1"),
    "azure": CloudTarget(provider="azure", subscription_id="3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", location="eastus", resource_group="rg"),
}
NATIVE = {
    "aws": "aws:eks/nodeGroup:NodeGroup",
    "gcp": "gcp:container/nodePool:NodePool",
    "azure": "azure-native:containerservice:AgentPool",
}
PROVIDERS = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}


def offer_for(cloud: str, gpu_type: str, gpus: int) -> InstanceOffer:
    offer = _offer_for(cloud, gpu_type, gpus)
    assert offer is not None
    return offer


def declare_pool(monitor, run, cloud: str, **pool: Any) -> tuple[GpuNodePool, dict[str, Any]]:
    import importlib

    created: dict[str, GpuNodePool] = {}

    def declare():
        sdk = importlib.import_module(PROVIDERS[cloud])
        provider = sdk.Provider("p")
        args = GpuNodePoolArgs(pool=GpuPoolConfig(**pool), cloud=CLOUDS[cloud], cluster_name="ml", tags={"team": "ml"})
        created["pool"] = GpuNodePool("gpu", args, opts=pulumi.ResourceOptions(providers=[provider]))

    run(declare)
    native = [r for r in monitor.records if r["type"] == NATIVE[cloud]]
    assert len(native) == 1
    return created["pool"], native[0]


def test_eks_on_demand_pool(pulumi_mocks, run_pulumi):
    pool, ng = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "aws",
        name="serve",
        gpu_type="nvidia-a10g",
        gpus_per_node=1,
        min_nodes=2,
        max_nodes=6,
        zones=["us-east-1a"],
    )
    inputs = ng["inputs"]
    assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["capacityType"] == "ON_DEMAND"
    assert inputs["instanceTypes"] == [offer_for("aws", "nvidia-a10g", 1).instance_type]
    assert inputs["scalingConfig"] == {"minSize": 2, "maxSize": 6, "desiredSize": 2}
    assert inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert inputs["labels"] == {
        "mlops.platform/gpu-pool": "serve",
        "mlops.platform/gpu-type": "nvidia-a10g",
        "nvidia.com/gpu.present": "true",
    }
    assert inputs["updateConfig"] == {"maxUnavailable": 1}
    assert inputs["launchTemplate"]["version"] == "1"
    assert len(inputs["subnetIds"]) == 2
    assert ng["ignore_changes"] == ["scalingConfig.desiredSize"]
    lt = next(r for r in pulumi_mocks.records if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
    assert lt["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}}
    ]
    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    policies = sorted(
        r["inputs"]["policyArn"] for r in pulumi_mocks.records if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    )
    assert policies == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    ]
    assert pool.wiring.tolerations == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    assert pool.wiring.node_selector == {"mlops.platform/gpu-pool": "serve"}
    assert pool.schedulable_gpus == 6


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_cluster_made_in_the_same_program_feeds_the_pool(pulumi_mocks, run_pulumi, cloud):
    """The review's case: the Output of a cluster created in the same program as cluster_name wrote the text
    "Calling __str__ on an Output[T] is not supported" into the EKS node tags; now it stays an Output throughout."""
    import importlib

    def declare():
        sdk = importlib.import_module(PROVIDERS[cloud])
        provider = sdk.Provider("p")
        if cloud == "aws":
            cluster = sdk.eks.Cluster(
                "cluster", name="ml-made", role_arn="arn:aws:iam::123456789012:role/eks", vpc_config={"subnet_ids": []}
            )
        else:
            cluster = sdk.container.Cluster("cluster", name="ml-made", location="us-central1", initial_node_count=1)
        args = GpuNodePoolArgs(
            pool=GpuPoolConfig(name="l4", gpu_type="nvidia-l4", max_nodes=2),
            cloud=CLOUDS[cloud],
            cluster_name=cluster.name,
        )
        GpuNodePool("gpu", args, opts=pulumi.ResourceOptions(provider=provider))

    run_pulumi(declare)
    text = json.dumps(pulumi_mocks.records)
    assert "Calling __str__" not in text
    if cloud == "aws":
        lt = next(r for r in pulumi_mocks.records if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
        assert {spec["tags"]["Name"] for spec in lt["tagSpecifications"]} == {"ml-made-l4"}
        (ng,) = [r for r in pulumi_mocks.records if r["type"] == NATIVE["aws"]]
        assert ng["inputs"]["clusterName"] == "ml-made"
    else:
        account = next(r for r in pulumi_mocks.records if r["type"] == "gcp:serviceaccount/account:Account")["inputs"]
        assert account["accountId"] == gcp_account_id("gpu", "l4", "ml-made")


def test_eks_spot_time_sliced_bottlerocket_pool(pulumi_mocks, run_pulumi):
    pool, ng = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "aws",
        name="dev",
        gpu_type="nvidia-l4",
        max_nodes=2,
        capacity="spot",
        node_image="bottlerocket",
        sharing={"mode": "time_slicing", "replicas": 4},
    )
    inputs = ng["inputs"]
    assert inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA" and inputs["capacityType"] == "SPOT"
    assert inputs["instanceTypes"] == [o.instance_type for o in offers("aws", "nvidia-l4") if o.gpus == 1]
    assert inputs["scalingConfig"] == {"minSize": 0, "maxSize": 2, "desiredSize": 0}
    assert inputs["labels"]["nvidia.com/device-plugin.config"] == "dev"
    lt = next(r for r in pulumi_mocks.records if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
    assert lt["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert pool.schedulable_gpus == 8


def test_eks_mig_pool_is_labelled_for_the_mig_manager(pulumi_mocks, run_pulumi):
    pool, ng = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "aws",
        name="big",
        gpu_type="nvidia-a100-80gb",
        gpus_per_node=8,
        max_nodes=1,
        sharing={"mode": "mig", "profile": "3g.40gb"},
    )
    assert ng["inputs"]["labels"]["nvidia.com/mig.config"] == "all-3g.40gb"
    assert pool.wiring.schedulable_gpus_per_node == 16


@pytest.mark.parametrize(
    ("sharing", "expected"),
    [
        ({"mode": "none"}, {}),
        (
            {"mode": "time_slicing", "replicas": 3},
            {"gpuSharingConfig": {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 3}},
        ),
        ({"mode": "mps", "replicas": 2}, {"gpuSharingConfig": {"gpuSharingStrategy": "MPS", "maxSharedClientsPerGpu": 2}}),
    ],
)
def test_gke_pool_sharing(pulumi_mocks, run_pulumi, sharing, expected):
    pool, np = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "gcp",
        name="l4",
        gpu_type="nvidia-l4",
        min_nodes=1,
        max_nodes=4,
        zones=["us-central1-a", "us-central1-b"],
        sharing=sharing,
    )
    inputs = np["inputs"]
    offer = offer_for("gcp", "nvidia-l4", 1)
    assert inputs["nodeConfig"]["machineType"] == offer.instance_type
    assert inputs["nodeConfig"]["guestAccelerators"] == [
        {"type": offer.accelerator, "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}, **expected}
    ]
    assert inputs["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 4, "locationPolicy": "BALANCED"}
    assert inputs["initialNodeCount"] == 1 and inputs["nodeLocations"] == ["us-central1-a", "us-central1-b"]
    assert inputs["nodeConfig"]["spot"] is False
    assert "taints" not in inputs["nodeConfig"] or inputs["nodeConfig"]["taints"] == []  # GKE adds the GPU taint itself
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert inputs["nodeConfig"]["serviceAccount"] == f"{gcp_account_id('gpu', 'l4', 'ml')}@acme-ml.iam.gserviceaccount.com"
    assert "nvidia.com/device-plugin.config" not in inputs["nodeConfig"]["labels"]
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in pool.wiring.tolerations


def test_gke_spot_mig_pool(pulumi_mocks, run_pulumi):
    _, np = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "gcp",
        name="h100",
        gpu_type="nvidia-h100-80gb",
        gpus_per_node=8,
        max_nodes=2,
        capacity="spot",
        sharing={"mode": "mig", "profile": "1g.10gb"},
    )
    inputs = np["inputs"]
    assert inputs["nodeConfig"]["guestAccelerators"][0]["gpuPartitionSize"] == "1g.10gb"
    assert inputs["nodeConfig"]["spot"] is True and inputs["autoscaling"]["locationPolicy"] == "ANY"


def test_aks_spot_mig_pool(pulumi_mocks, run_pulumi):
    pool, ap = declare_pool(
        pulumi_mocks,
        run_pulumi,
        "azure",
        name="a100",
        gpu_type="nvidia-a100-80gb",
        max_nodes=3,
        capacity="spot",
        zones=["1", "2"],
        sharing={"mode": "mig", "profile": "2g.20gb"},
    )
    inputs = ap["inputs"]
    assert inputs["vmSize"] == offer_for("azure", "nvidia-a100-80gb", 1).instance_type
    assert inputs["resourceName"] == "ml" and inputs["agentPoolName"] == "a100" and inputs["resourceGroupName"] == "rg"
    assert inputs["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert inputs["gpuProfile"] == {"driver": "Install"}
    assert inputs["gpuInstanceProfile"] == "MIG2g"
    assert (inputs["scaleSetPriority"], inputs["scaleSetEvictionPolicy"], inputs["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert (inputs["enableAutoScaling"], inputs["minCount"], inputs["maxCount"], inputs["count"]) == (True, 0, 3, 0)
    assert inputs["mode"] == "User" and inputs["availabilityZones"] == ["1", "2"]
    assert ap["ignore_changes"] == ["count"]
    assert {
        "key": "kubernetes.azure.com/scalesetpriority",
        "operator": "Equal",
        "value": "spot",
        "effect": "NoSchedule",
    } in pool.wiring.tolerations
    assert pool.wiring.schedulable_gpus_per_node == 3


def test_aks_on_demand_pool_has_no_spot_settings(pulumi_mocks, run_pulumi):
    _, ap = declare_pool(pulumi_mocks, run_pulumi, "azure", name="t4", gpu_type="nvidia-t4", max_nodes=2)
    inputs = ap["inputs"]
    assert inputs["scaleSetPriority"] == "Regular"
    assert "scaleSetEvictionPolicy" not in inputs and "spotMaxPrice" not in inputs and "gpuInstanceProfile" not in inputs


def test_bad_combination_is_rejected_before_any_resource(pulumi_mocks):
    values = stack_values("dev")
    values["gpu_pools"][0]["sharing"] = {"mode": "mig", "profile": "1g.10gb"}
    config = {f"mlops-platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    pulumi.runtime.set_all_config(config, [])
    with pytest.raises(pulumi.RunError, match=r"gpu_pools\[0\]\.sharing\.mode"):
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    assert pulumi_mocks.records == []


@pytest.mark.parametrize(
    ("cloud", "pool", "path"),
    [
        ("azure", {"name": "l4", "gpu_type": "nvidia-l4", "max_nodes": 1}, "gpu_type"),
        ("gcp", {"name": "a10g", "gpu_type": "nvidia-a10g", "max_nodes": 1}, "gpu_type"),
        ("aws", {"name": "h100", "gpu_type": "nvidia-h100-80gb", "gpus_per_node": 3, "max_nodes": 1}, "gpus_per_node"),
        ("gcp", {"name": "l4", "gpu_type": "nvidia-l4", "max_nodes": 1, "node_image": "bottlerocket"}, "node_image"),
    ],
)
def test_gpu_not_offered_on_the_cloud(cloud, pool, path):
    from mlops_platform.config import ConfigError, validate_platform

    base = {"prod-gcp": "gcp", "prod-azure": "azure", "dev": "aws"}
    stack = next(name for name, c in base.items() if c == cloud)
    values = stack_values(stack)
    values["gpu_pools"] = [pool]
    values["models"] = []
    with pytest.raises(ConfigError) as caught:
        validate_platform(stack, values, set(), allow_missing_secrets=True)
    assert f"gpu_pools[0].{path}" in [i.path for i in caught.value.issues]


def test_operator_renders_sharing_config_and_tolerations(pulumi_mocks, run_pulumi):
    pools = [
        GpuPoolConfig(name="ts", gpu_type="nvidia-l4", max_nodes=2, capacity="spot", sharing={"mode": "time_slicing", "replicas": 4}),
        GpuPoolConfig(name="mps", gpu_type="nvidia-l4", max_nodes=2, sharing={"mode": "mps", "replicas": 2}),
        GpuPoolConfig(name="mig", gpu_type="nvidia-a100-80gb", gpus_per_node=8, max_nodes=1, sharing={"mode": "mig", "profile": "1g.10gb"}),
    ]
    args = GpuOperatorArgs(config=GpuOperatorConfig(), pools=pools, cloud="aws", kubernetes_version="1.31", labels={"team": "ml"})
    run_pulumi(lambda: GpuOperator("gpu-operator", args))
    cm = next(r for r in pulumi_mocks.records if r["type"] == "kubernetes:core/v1:ConfigMap")["inputs"]
    manifest = {"apiVersion": cm["apiVersion"], "kind": cm["kind"], "metadata": cm["metadata"], "data": cm["data"]}
    kubernetes_validate.validate(manifest, "1.31", strict=True)
    assert sorted(cm["data"]) == ["default", "mps", "ts"]
    assert yaml.safe_load(cm["data"]["ts"])["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert yaml.safe_load(cm["data"]["mps"])["sharing"]["mps"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 2}]
    chart = next(r for r in pulumi_mocks.records if r["type"] == "kubernetes:helm.sh/v4:Chart")["inputs"]
    assert (chart["chart"], chart["version"], chart["repositoryOpts"]["repo"]) == (
        "gpu-operator",
        "v25.3.4",
        "https://helm.ngc.nvidia.com/nvidia",
    )
    values = chart["values"]
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert values["devicePlugin"]["config"] == {"name": "device-plugin-config", "default": "default"}
    assert values["migManager"] == {"enabled": True}
    assert values["daemonsets"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    ns = next(r for r in pulumi_mocks.records if r["type"] == "kubernetes:core/v1:Namespace")["inputs"]["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("stack", STACKS)
def test_cost_json_matches_the_offer_table(shipped, stack):
    result = shipped[stack]
    cost = cost_summary(result)
    cloud = result.config.cloud.provider
    total_max = 0.0
    for pool, entry in zip(result.config.gpu_pools, cost["gpu_pools"], strict=True):
        if cloud == "kubernetes":  # nodes the cluster already has: nothing billed by the stack
            assert entry["instance_type"] == EXISTING_NODES and entry["monthly_at_max_usd"] == 0
            continue
        offer = offer_for(cloud, pool.gpu_type, pool.gpus_per_node)
        assert entry["instance_type"] == offer.instance_type
        price = node_price(cloud, offer.instance_type, result.config.cloud.region or result.config.cloud.location)
        assert price is not None and entry["price_region"] == price.region
        hourly = price.spot_hourly_usd if pool.capacity == "spot" and price.spot_hourly_usd is not None else price.on_demand_hourly_usd
        assert entry["hourly_per_node_usd"] == hourly
        assert entry["monthly_at_max_usd"] == round(hourly * pool.max_nodes * HOURS_PER_MONTH, 2)
        assert entry["monthly_at_min_usd"] == round(hourly * pool.min_nodes * HOURS_PER_MONTH, 2)
        total_max += entry["monthly_at_max_usd"]
    total_max += sum(e["monthly_at_max_usd"] for e in cost["managed_endpoints"])
    assert cost["total_monthly_at_max_usd"] == round(total_max, 2)


def test_the_cost_says_which_region_priced_it_and_where_the_stack_runs(shipped):
    same, other = cost_summary(shipped["prod"]), cost_summary(shipped["prod-azure"])
    assert (same["price_region"], same["stack_region"], same["price_fallback"]) == ("us-east-1", "us-east-1", [])
    assert same["prices"] == "us-east-1 list prices as of 2026-11 (components/catalog/offers.py)"
    # prod-azure runs in eastus2, which the regional table prices (the A100 pool, and the Azure ML endpoint's VM)
    assert (other["price_region"], other["stack_region"], other["price_fallback"]) == ("eastus2", "eastus2", [])
    assert other["prices"] == (
        "eastus2 list prices from skypilot-org/skypilot-catalog @098741e7, read 2026-12-07 (components/catalog/regional_prices.py)"
    )
    assert {e["price_region"] for e in other["gpu_pools"] + other["managed_endpoints"]} == {"eastus2"}


def synth_config(stack: str, **cloud: Any) -> SimpleNamespace:
    """What cost_summary reads of a synthesis: the validated config of a shipped stack with its cloud changed."""
    values = stack_values(stack)
    values["cloud"] = {**values["cloud"], **cloud}
    for pool in values["gpu_pools"]:
        pool["zones"] = []
    platform, _ = validate_platform(stack, values, set(), allow_missing_secrets=True)
    return SimpleNamespace(config=platform)


def test_an_aws_pool_in_eu_west_1_costs_the_eu_west_1_price():
    """The regional table's eu-west-1 figures, not us-east-1's: g5.xlarge is $1.123/h on demand there
    (catalogs/v8/aws/vms.csv @00148f2a) against $1.006 in us-east-1, and its spot figure is the median of the
    eu-west-1 Availability Zones' quotes (0.5765, 0.5746, 0.5727)."""
    pool = GpuPoolConfig(name="a10g", gpu_type="nvidia-a10g", gpus_per_node=1, min_nodes=1, max_nodes=4)
    on_demand, spot = PRICES["aws"]["g5.xlarge"]["eu-west-1"]
    assert (on_demand, spot) == (1.123, 0.5746)
    cost = pool_cost(pool, "aws", "eu-west-1")
    assert (cost.instance_type, cost.hourly_per_node, cost.price_region, cost.price_fallback) == (
        "g5.xlarge",
        on_demand,
        "eu-west-1",
        False,
    )
    assert cost.monthly_at_max == round(1.123 * 4 * HOURS_PER_MONTH, 2)
    spot_cost = pool_cost(pool.model_copy(update={"capacity": "spot"}), "aws", "eu-west-1")
    assert (spot_cost.hourly_per_node, spot_cost.price_basis) == (spot, "spot")
    assert pool_cost(pool, "aws").hourly_per_node == pool_cost(pool, "aws", "us-east-1").hourly_per_node == 1.006


def test_a_region_the_regional_table_lacks_falls_back_to_the_reference_and_says_so():
    pool = GpuPoolConfig(name="a10g", gpu_type="nvidia-a10g", gpus_per_node=1, min_nodes=1, max_nodes=4)
    assert "eu-central-2" not in PRICES["aws"]["g5.xlarge"]
    cost = pool_cost(pool, "aws", "eu-central-2")
    assert (cost.hourly_per_node, cost.price_region, cost.price_fallback) == (1.006, "us-east-1", True)
    # GCP A100 machine types have zones but no regional prices (UNPRICED says why): priced at us-central1 everywhere
    a100 = GpuPoolConfig(name="a100", gpu_type="nvidia-a100-40gb", gpus_per_node=1, min_nodes=0, max_nodes=2)
    assert "a2-highgpu-1g" in UNPRICED["gcp"]
    cost = pool_cost(a100, "gcp", "europe-west4")
    assert (cost.hourly_per_node, cost.price_region, cost.price_fallback) == (3.673385, "us-central1", True)


def test_the_cost_report_names_the_rows_priced_at_the_reference_region():
    """prod moved to eu-central-1: its pools are priced there; its SageMaker endpoint has no regional price."""
    cost = cost_summary(synth_config("prod", region="eu-central-1"))  # type: ignore[arg-type]
    assert cost["stack_region"] == cost["price_region"] == "eu-central-1"
    assert {p["price_region"] for p in cost["gpu_pools"]} == {"eu-central-1"}
    assert [p["hourly_per_node_usd"] for p in cost["gpu_pools"]] == [
        PRICES["aws"][p["instance_type"]]["eu-central-1"][0] for p in cost["gpu_pools"]
    ]
    endpoints = [f"endpoint {e['endpoint']} ({e['instance_type']})" for e in cost["managed_endpoints"]]
    assert endpoints and cost["price_fallback"] == endpoints
    assert cost["prices"] == (
        "eu-central-1 list prices from skypilot-org/skypilot-catalog @00148f2a, read 2026-12-07 (components/catalog/regional_prices.py); "
        f"us-east-1 list prices as of 2026-11 (components/catalog/offers.py) for {', '.join(endpoints)}, which the regional "
        "table does not price in eu-central-1"
    )


def test_the_same_config_gives_the_same_cost(shipped):
    for stack in ("prod", "prod-gcp", "prod-azure"):
        first = json.dumps(cost_summary(shipped[stack]), sort_keys=True)
        assert first == json.dumps(cost_summary(synth_config(stack)), sort_keys=True)  # type: ignore[arg-type]


def test_dev_idle_gpu_cost_is_zero(shipped):
    assert cost_summary(shipped["dev"])["total_monthly_at_min_usd"] == 0


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure"])
def test_prod_serving_pools_are_on_demand_multi_zone_and_warm(shipped, stack):
    cfg = shipped[stack].config
    serving = {m.gpu_pool for m in cfg.models}
    for pool in cfg.gpu_pools:
        if pool.name in serving:
            assert pool.capacity == "on_demand" and len(pool.zones) >= 2
    assert any(p.min_nodes >= 2 for p in cfg.gpu_pools if p.name in serving)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pool_is_built_with_the_native_resource_of_its_cloud(shipped, stack):
    result = shipped[stack]
    if result.config.cloud.provider == "kubernetes":  # existing nodes: a component for the wiring, no cloud resource
        pools = [r for r in result.records if r["type"] == "mlops:compute:GpuNodePool"]
        assert len(pools) == len(result.config.gpu_pools)
        assert not [r for r in result.records if r["parent"] in {p["urn"] for p in pools}], "nothing is created for an existing pool"
        return
    native = result.of_type(NATIVE[result.config.cloud.provider])
    assert len(native) == len(result.config.gpu_pools)
    operator = [r for r in result.of_type("kubernetes:helm.sh/v4:Chart") if r["inputs"]["chart"] == "gpu-operator"]
    assert len(operator) == (1 if result.config.gpu_operator_enabled else 0)
