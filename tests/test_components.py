"""Unit tests of the components, each under fresh mocks."""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import settings

from mlops_platform import (
    Flagger,
    FlaggerArgs,
    GpuNodePool,
    GpuNodePoolArgs,
    InferenceCapture,
    InferenceCaptureArgs,
    Keda,
    KedaArgs,
    ManagedEndpoint,
    ManagedEndpointArgs,
    MlflowServer,
    MlflowServerArgs,
    ModelRoute,
    ObjectStoreGrant,
    ServingGateway,
    ServingGatewayArgs,
    TritonDeployment,
    TritonDeploymentArgs,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)
from mlops_platform.clouds import adapter, exec_kubeconfig
from mlops_platform.clouds.target import CloudTarget
from mlops_platform.cluster import ClusterAccess, ClusterAccessArgs
from mlops_platform.config import validate_platform
from mlops_platform.config.cloud import CloudConfig, ClusterConfig
from mlops_platform.config.platform import PlatformConfig
from mlops_platform.config.serving import FlaggerConfig, GatewayConfig, ImageRef, KedaConfig, ModelConfig, ServingConfig
from mlops_platform.namespace import PlatformNamespace, PlatformNamespaceArgs
from mlops_platform.pool_wiring import wiring
from mlops_platform.serving.deployment import store_port
from mlops_platform.testing import PlatformMocks, RecordingMonitor
from tools.synthesis import PROJECT

from .args_fields import field_types
from .conftest import stack_values

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


# --- providers come from opts -----------------------------------------------------------------------------------------


class InvokeRecordingMonitor(RecordingMonitor):
    """Also records each look-up's token and provider: a look-up that falls back to the default provider reads
    another account or region than the resources it feeds."""

    def __init__(self, mocks: PlatformMocks) -> None:
        super().__init__(mocks)
        self.invokes: list[tuple[str, str | None]] = []

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        self.invokes.append((request.tok, request.provider.rsplit("::", 1)[0] if request.provider else None))
        return super().Invoke(request)


@pytest.fixture
def invoke_monitor() -> Iterator[InvokeRecordingMonitor]:
    settings.ROOT.set(None)
    monitor = InvokeRecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="unit", monitor=monitor, preview=False)
    pulumi.runtime.set_all_config({}, [])
    yield monitor


CLOUD_SDKS = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}
CLOUD_PACKAGES = {"aws": ["aws"], "gcp": ["gcp"], "azure": ["azure-native"]}
CLOUD_STACKS = {"aws": "prod", "gcp": "prod-gcp", "azure": "prod-azure", "kubernetes": "local"}
"""A shipped stack per cloud: its config feeds each component (every component runs there)."""


def build_component(
    kind: str, cfg: PlatformConfig, opts: pulumi.ResourceOptions, name_of: Callable[[str], pulumi.Input[str]] = str
) -> pulumi.ComponentResource:
    """One component from a stack's validated config, as the platform builds it, with nothing but ``opts`` naming
    its providers. ``name_of`` gives each cluster name and namespace the component takes (as it is, or as the Output
    of another resource)."""
    cluster = name_of(cfg.cluster.name or "")  # provider `kubernetes`: no cluster name (no cloud identity)
    model = cfg.models[0]
    pools = {p.name: p for p in cfg.gpu_pools}
    cloud = CloudTarget.of(cfg.cloud)
    if kind == "GpuNodePool":
        return GpuNodePool(
            "c", GpuNodePoolArgs(pool=cfg.gpu_pools[0], cloud=cloud, cluster_name=cluster, cluster_location=cfg.cluster.location), opts
        )
    if kind == "WorkloadIdentity":
        grants = [ObjectStoreGrant(model.repository_uri)]
        identity = WorkloadIdentityArgs(namespace=name_of("ml"), service_account="reader", cloud=cloud, cluster_name=cluster, grants=grants)
        return WorkloadIdentity("c", identity, opts)
    if kind == "TritonDeployment":
        pool = wiring(pools[model.gpu_pool], cfg.cloud.provider) if model.gpu_pool else None
        gateway = cfg.serving.gateway
        route = ModelRoute(gateway.hostname, name_of(gateway.controller_namespace)) if gateway.enabled and gateway.hostname else None
        args = TritonDeploymentArgs(
            model=model,
            namespace=name_of(cfg.namespaces.serving),
            cloud=cloud,
            cluster_name=cluster,
            triton_image=cfg.serving.triton_image,
            sync_image=cfg.serving.sync_image,
            gateway=route,
            pool=pool,
            monitoring_namespace=name_of(cfg.namespaces.monitoring),
            prometheus_url="http://prometheus.monitoring.svc:9090",
            release_prometheus_url="http://prometheus.monitoring.svc:9090",
            loadtester_namespace=name_of(cfg.serving.flagger.namespace),
        )
        return TritonDeployment("c", args, opts)
    if kind == "InferenceCapture":
        capture = InferenceCaptureArgs(
            drift=cfg.monitoring.drift,
            models=[(m.name, m.version, f"triton-{m.name}") for m in cfg.scored_models],
            namespace=name_of(cfg.namespaces.serving),
            gateway_namespace=name_of(cfg.serving.gateway.controller_namespace),
            cloud=cloud,
            cluster_name=cluster,
            store_port=store_port(cloud),
        )
        return InferenceCapture("c", capture, opts)
    if kind == "MlflowServer":
        secret = pulumi.Output.secret("client-secret") if cfg.mlflow.auth.secret_key else None
        mlflow = MlflowServerArgs(
            config=cfg.mlflow,
            cloud=cloud,
            cluster_name=name_of(cfg.cluster.name or ""),
            cluster_location=cfg.cluster.location,
            namespace=name_of(cfg.namespaces.tracking),
            oidc_client_secret=secret,
        )
        return MlflowServer("c", mlflow, opts)
    prometheus = "http://prometheus.monitoring.svc:9090"
    if kind == "Flagger":
        flagger = FlaggerArgs(
            config=cfg.serving.flagger,
            serving_namespace=name_of(cfg.namespaces.serving),
            loadtester_image=cfg.serving.loadtester_image,
            prometheus_url=prometheus,
            kubernetes_version=cfg.cluster.kubernetes_version,
            monitoring_namespace=name_of(cfg.namespaces.monitoring),
        )
        return Flagger("c", flagger, opts)
    if kind == "Keda":
        keda = KedaArgs(
            config=cfg.serving.keda,
            prometheus_url=prometheus,
            replicas=2,
            kubernetes_version=cfg.cluster.kubernetes_version,
            monitoring_namespace=name_of(cfg.namespaces.monitoring),
        )
        return Keda("c", keda, opts)
    if kind == "ServingGateway":
        gateway_config = GatewayConfig(hostname="api.example.com", auth="none")
        return ServingGateway("c", ServingGatewayArgs(config=gateway_config, namespace=name_of(cfg.namespaces.serving)), opts)
    assert kind == "ManagedEndpoint"
    return ManagedEndpoint("c", ManagedEndpointArgs(endpoint=cfg.managed_endpoints[0], cloud=cloud, environment=cfg.environment), opts)


CASES = [
    *((kind, cloud) for cloud in ("aws", "gcp", "azure") for kind in ("GpuNodePool", "WorkloadIdentity", "TritonDeployment")),
    *((kind, cloud) for cloud in ("aws", "gcp", "azure") for kind in ("InferenceCapture", "MlflowServer", "ManagedEndpoint")),
    ("WorkloadIdentity", "kubernetes"),
    ("TritonDeployment", "kubernetes"),
]


@pytest.mark.parametrize(("kind", "cloud"), CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_a_component_given_its_providers_in_opts_only_creates_every_child_with_them(invoke_monitor, run_pulumi, kind, cloud):
    """As Pulumi's own components: the providers come from ``opts`` and each child (a cloud resource, a Kubernetes
    object, a nested component's) inherits its package's, never the default provider; look-ups use it too."""
    cfg, _ = validate_platform(CLOUD_STACKS[cloud], stack_values(CLOUD_STACKS[cloud]), set(), allow_missing_secrets=True)

    def declare() -> None:
        k8s_provider = k8s.Provider("opts-k8s", kubeconfig="apiVersion: v1")
        cloud_provider = [importlib.import_module(CLOUD_SDKS[cloud]).Provider("opts-cloud")] if cloud in CLOUD_SDKS else []
        build_component(kind, cfg, pulumi.ResourceOptions(providers=[*cloud_provider, k8s_provider]))

    run_pulumi(declare)
    records = invoke_monitor.records
    providers = {r["type"].removeprefix("pulumi:providers:"): r["urn"] for r in records if r["type"].startswith("pulumi:providers:")}
    assert sorted(providers) == sorted({"kubernetes", *CLOUD_PACKAGES.get(cloud, [])})
    # the dynamic resources (Vertex AI, Azure ML traffic) run in Pulumi's Python provider host, and the database
    # password is random's: neither has a provider of the component's
    children = [r for r in records if r["custom"] and not r["type"].startswith(("pulumi:", "pulumi-python:dynamic", "random:"))]
    packages = {r["type"].split(":", 1)[0] for r in children}
    assert packages - {"kubernetes"} == set(CLOUD_PACKAGES.get(cloud, [])), f"{kind} on {cloud}: {packages}"
    assert ("kubernetes" in packages) == (kind not in ("GpuNodePool", "ManagedEndpoint")), packages
    for record in children:
        assert record["provider"] == providers[record["type"].split(":", 1)[0]], (record["urn"], record["provider"])
    for token, provider in invoke_monitor.invokes:
        assert provider == providers[token.split(":", 1)[0]], (token, provider)


NAMED_CASES = [
    *((kind, cloud) for cloud in ("aws", "gcp", "azure") for kind in ("GpuNodePool", "WorkloadIdentity", "TritonDeployment")),
    *((kind, cloud) for cloud in ("aws", "gcp", "azure") for kind in ("InferenceCapture", "MlflowServer")),
    *((kind, "kubernetes") for kind in ("TritonDeployment", "Flagger", "Keda", "ServingGateway")),
]


def _records(declare: Callable[[], None]) -> list[dict[str, Any]]:
    """The registrations of ``declare`` under fresh mocks."""
    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="unit", monitor=monitor, preview=False)
    pulumi.runtime.set_all_config({}, [])
    pulumi.runtime.test(declare)()
    return monitor.records


@pytest.mark.parametrize(("kind", "cloud"), NAMED_CASES, ids=[f"{k}-{c}" for k, c in NAMED_CASES])
def test_cluster_names_and_namespaces_may_be_outputs_of_other_resources(kind, cloud):
    """Every cluster name and namespace a component takes may be the Output of a resource of the same program (a
    cluster, a namespace): the component builds exactly what it builds from the plain names, never writes an
    Output's text ("Calling __str__ ..."), and each object that names one waits for the resource behind it."""
    cfg, _ = validate_platform(CLOUD_STACKS[cloud], stack_values(CLOUD_STACKS[cloud]), set(), allow_missing_secrets=True)

    def declare(name_of: Callable[[str], pulumi.Input[str]]) -> None:
        k8s_provider = k8s.Provider("opts-k8s", kubeconfig="apiVersion: v1")
        cloud_provider = [importlib.import_module(CLOUD_SDKS[cloud]).Provider("opts-cloud")] if cloud in CLOUD_SDKS else []
        build_component(kind, cfg, pulumi.ResourceOptions(providers=[*cloud_provider, k8s_provider]), name_of)

    sources: dict[str, k8s.core.v1.ConfigMap] = {}

    def from_resource(name: str) -> pulumi.Output[str]:
        """``name`` as the Output of a resource made for it (the mocks echo a resource's inputs as its outputs)."""
        if name not in sources:
            sources[name] = k8s.core.v1.ConfigMap(f"source-{name or 'none'}", metadata={"name": name})
        return sources[name].metadata.apply(lambda m: m.name or "")

    plain = _records(lambda: declare(str))
    given = _records(lambda: declare(from_resource))
    source_urns = {r["name"].removeprefix("source-"): r["urn"] for r in given if r["name"].startswith("source-")}
    built = [r for r in given if r["urn"] not in source_urns.values()]
    assert "Calling __str__" not in json.dumps(given)
    # compared by URN: an object waiting for an Output registers later; the stack itself registers once per process
    assert {r["urn"]: r["inputs"] for r in built if r["type"] != "pulumi:pulumi:Stack"} == {
        r["urn"]: r["inputs"] for r in plain if r["type"] != "pulumi:pulumi:Stack"
    }
    assert any(set(r["dependencies"]) & set(source_urns.values()) for r in built), "nothing waits for the cluster or a namespace"
    for record in built:
        namespace = (record["inputs"].get("metadata") or {}).get("namespace")
        if record["custom"] and namespace in source_urns:  # a namespace given to the component (not its own, e.g. KEDA's)
            assert source_urns[namespace] in record["dependencies"], f"{record['urn']} does not wait for namespace {namespace}"


def test_triton_deployment_takes_its_own_args_not_the_stack_config_tree():
    """TritonDeploymentArgs (and the dataclasses it holds) name what the component needs, never a section of the
    stack's config tree; its images and the gateway's namespace default to what the stack config defaults to."""
    tree = (PlatformConfig, ServingConfig, GatewayConfig, KedaConfig, FlaggerConfig)
    offending = []
    seen: set[type] = set()
    for cls, name, named in field_types([TritonDeploymentArgs]):
        seen.add(cls)
        if isinstance(named, typing.ForwardRef):  # pulumi.Input's own, e.g. 'Awaitable[T]'
            assert not any(t.__name__ in named.__forward_arg__ for t in tree), (cls.__name__, name)
        elif isinstance(named, type) and issubclass(named, tree):
            offending.append(f"{cls.__name__}.{name}: {named.__name__}")
    assert offending == []
    assert ModelRoute in seen
    defaults = {f.name: f.default for f in dataclasses.fields(TritonDeploymentArgs)}
    serving = ServingConfig()
    assert defaults["triton_image"] == serving.triton_image and defaults["sync_image"] == serving.sync_image
    assert defaults["gateway"] is None and not serving.gateway.enabled
    gateway = GatewayConfig(hostname="api.example.com", auth="none")
    assert ModelRoute("api.example.com").gateway_namespace == gateway.controller_namespace


def _triton(gateway: ModelRoute | None) -> None:
    model = ModelConfig(
        name="ranker",
        version=3,
        repository_uri="s3://models/triton",
        gpus_per_replica=0,
        release={"mode": "canary"} if gateway is not None else {"mode": "blue_green"},
        inputs=[{"name": "features", "data_type": "FP32", "dims": [32]}],
        outputs=[{"name": "score", "data_type": "FP32", "dims": [1]}],
    )
    args = TritonDeploymentArgs(
        model=model,
        namespace="ml-serving",
        cloud=CloudTarget.kubernetes("https://minio.storage.svc:9000", "store"),
        cluster_name="on-premises",
        triton_image=ImageRef(repository="registry.example.com/triton", tag="25.01-py3"),
        gateway=gateway,
        release_prometheus_url="http://prometheus:9090",
    )
    TritonDeployment("ranker", args)


@pytest.mark.parametrize("behind_gateway", [True, False], ids=["gateway", "no-gateway"])
def test_triton_deployment_images_and_gateway_route_come_from_its_args(pulumi_mocks, run_pulumi, behind_gateway):
    route = ModelRoute(hostname="api.example.com", gateway_namespace="edge-proxies") if behind_gateway else None
    run_pulumi(lambda: _triton(route))
    records = pulumi_mocks.records
    pod = by_type(pulumi_mocks, "kubernetes:apps/v1:Deployment")[0]["inputs"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com/triton:25.01-py3"
    assert pod["initContainers"][0]["image"] == ServingConfig().sync_image.reference
    ingress = next(r for r in by_type(pulumi_mocks, "kubernetes:networking.k8s.io/v1:NetworkPolicy") if r["name"] == "ranker-ingress")
    sources = [p["namespaceSelector"]["matchLabels"] for rule in ingress["inputs"]["spec"]["ingress"] for p in rule["from"]]
    assert ({"kubernetes.io/metadata.name": "edge-proxies"} in sources) == behind_gateway
    routes = [r for r in records if r["type"] == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"]
    canary = by_type(pulumi_mocks, "kubernetes:flagger.app/v1beta1:Canary")[0]["inputs"]["spec"]
    if behind_gateway:
        assert [r["inputs"]["spec"]["hostnames"] for r in routes] == [["api.example.com"]]
        assert canary["provider"] == "gatewayapi:v1" and canary["service"]["hosts"] == ["api.example.com"]
        assert canary["service"]["gatewayRefs"] == [{"name": "inference", "namespace": "ml-serving", "sectionName": "https"}]
    else:
        assert routes == [] and canary["provider"] == "kubernetes" and "gatewayRefs" not in canary["service"]
