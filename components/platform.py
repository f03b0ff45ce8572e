"""The composition component: one stack's whole platform, built from its validated config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from .clouds.target import CloudTarget
from .cluster import ClusterAccess, ClusterAccessArgs
from .config.platform import PlatformConfig
from .endpoints import ManagedEndpoint, ManagedEndpointArgs
from .gpu import GpuNodePool, GpuNodePoolArgs, GpuOperator, GpuOperatorArgs
from .mlflow import MlflowServer, MlflowServerArgs
from .monitoring import MonitoringStack, MonitoringStackArgs
from .namespace import PlatformNamespace, PlatformNamespaceArgs
from .serving import ServingGateway, ServingGatewayArgs, TritonDeployment, TritonDeploymentArgs
from .serving.capture import CaptureTarget, InferenceCapture, InferenceCaptureArgs, capture_target
from .serving.deployment import ModelRoute, store_port
from .serving.flagger import Flagger, FlaggerArgs
from .serving.keda import Keda, KedaArgs


def serving_gpu_quota(cfg: PlatformConfig) -> int:
    """GPUs the serving namespace may request: what every model may hold at once (``ModelConfig.gpus_needed``:
    the primary and the candidate of a release at full scale, one surge pod each), so neither a release nor a
    rolling update is refused by the quota; the pool capacity check counts the same."""
    return sum(model.gpus_needed() for model in cfg.models)


@dataclass(frozen=True)
class MlopsPlatformArgs:
    """The validated configuration and the secrets it references."""

    config: PlatformConfig
    """The stack's validated configuration (``load_platform_config`` or ``validate_platform``)."""
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Pulumi secret Outputs by config key: every secret the configuration names (kubeconfig, OIDC client, receivers)."""


class MlopsPlatform(pulumi.ComponentResource):
    """Cluster access, namespaces, GPU pools and GPU enablement, wired for the components built on them.

    Outputs:
      * ``cluster``: the ClusterAccess (cloud and Kubernetes providers);
      * ``namespaces``: role (`serving`, `tracking`, `monitoring`) to namespace name;
      * ``labels``: the labels every Kubernetes object carries;
      * ``gpu_pools``: pool name to GpuNodePool (its ``wiring`` and ``cost`` feed serving and reports);
      * ``models``: model name to TritonDeployment;
      * ``mlflow``: the MlflowServer, when enabled (tracking URI, public URL, artifact destination);
      * ``monitoring``: the MonitoringStack, when enabled (selector labels, Prometheus/Grafana URLs);
      * ``endpoints``: endpoint name to ManagedEndpoint;
      * ``keda``: the Keda installation, when models are served and ``serving.keda.install`` (else None);
      * ``flagger``: the Flagger installation, when models are served and ``serving.flagger.install`` (else None).
    """

    def __init__(self, name: str, args: MlopsPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:platform:MlopsPlatform", name, None, opts)
        cfg = args.config
        self.labels = cfg.common_labels
        self.cloud = CloudTarget.of(cfg.cloud)
        """The stack's cloud as the components take it."""
        self.cluster = ClusterAccess(
            f"{name}-cluster",
            ClusterAccessArgs(
                cloud=cfg.cloud,
                cluster=cfg.cluster,
                tags=cfg.cloud_tags,
                kubeconfig_secret=args.secrets.get(cfg.cluster.kubeconfig_key) if cfg.cluster.source == "kubeconfig_secret" else None,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_cluster = pulumi.ResourceOptions(parent=self, providers=[self.cluster.k8s_provider])
        gpu_quota = serving_gpu_quota(cfg)
        roles: list[tuple[str, str, bool, PlatformNamespaceArgs]] = [
            (
                "serving",
                cfg.namespaces.serving,
                True,
                PlatformNamespaceArgs(
                    namespace=cfg.namespaces.serving,
                    kubernetes_version=cfg.cluster.kubernetes_version,
                    labels=self.labels,
                    gpu_quota=gpu_quota or None,
                ),
            ),
            (
                "tracking",
                cfg.namespaces.tracking,
                cfg.mlflow.enabled,
                PlatformNamespaceArgs(
                    namespace=cfg.namespaces.tracking, kubernetes_version=cfg.cluster.kubernetes_version, labels=self.labels
                ),
            ),
            (
                "monitoring",
                cfg.namespaces.monitoring,
                # An existing installation (install: false) owns its namespace.
                cfg.monitoring.enabled and cfg.monitoring.install,
                # Node exporter and the DCGM exporter read host metrics (hostNetwork, hostPID,
                # hostPath), which only the privileged level admits; audit and warn stay restricted.
                PlatformNamespaceArgs(
                    namespace=cfg.namespaces.monitoring,
                    kubernetes_version=cfg.cluster.kubernetes_version,
                    labels=self.labels,
                    pod_security="privileged",
                    container_defaults=False,  # the chart sizes its pods; a default limit could OOM-kill Prometheus
                ),
            ),
        ]
        self.namespaces: dict[str, pulumi.Output[str]] = {}
        for role, _, enabled, ns_args in roles:
            if enabled:
                namespace = PlatformNamespace(f"{name}-{role}", ns_args, opts=in_cluster)
                self.namespaces[role] = namespace.namespace
                if role == "serving":
                    self.serving_namespace = namespace
                if role == "monitoring":
                    self.monitoring_namespace = namespace
        self.gpu_pools: dict[str, GpuNodePool] = {}
        for pool in cfg.gpu_pools:
            # validated: pools need the cluster's name, except existing nodes on provider `kubernetes`
            assert cfg.cluster.name is not None or cfg.cloud.provider == "kubernetes"
            self.gpu_pools[pool.name] = GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    cloud=self.cloud,
                    cluster_name=cfg.cluster.name or "",
                    cluster_location=cfg.cluster.location,
                    tags=cfg.cloud_tags,
                ),
                opts=pulumi.ResourceOptions(parent=self, providers=self._opts_providers(cfg, kubernetes=False)),
            )
        if cfg.gpu_operator_enabled:
            self.gpu_operator = GpuOperator(
                f"{name}-gpu-operator",
                GpuOperatorArgs(
                    config=cfg.gpu_operator,
                    pools=list(cfg.gpu_pools),
                    cloud=cfg.cloud.provider,
                    kubernetes_version=cfg.cluster.kubernetes_version,
                    labels=self.labels,
                ),
                opts=pulumi.ResourceOptions(parent=self, providers=[self.cluster.k8s_provider], depends_on=list(self.gpu_pools.values())),
            )
        if cfg.mlflow.enabled:
            secret_key = cfg.mlflow.auth.secret_key
            self.mlflow = MlflowServer(
                f"{name}-mlflow",
                MlflowServerArgs(
                    config=cfg.mlflow,
                    cloud=self.cloud,
                    cluster_name=cfg.cluster.name,
                    cluster_location=cfg.cluster.location,
                    namespace=self.namespaces["tracking"],
                    oidc_client_secret=args.secrets.get(secret_key) if secret_key else None,
                    protect=cfg.guardrails.protect_stateful,
                    labels=self.labels,
                    tags=cfg.cloud_tags,
                ),
                opts=pulumi.ResourceOptions(parent=self, providers=self._opts_providers(cfg)),
            )
        self.rule_labels: dict[str, str] = {}
        if cfg.monitoring.enabled:
            owned = cfg.monitoring.install
            self.monitoring = MonitoringStack(
                f"{name}-monitoring",
                MonitoringStackArgs.for_platform(
                    cfg, args.secrets, self.labels, namespace_resource=self.namespaces["monitoring"] if owned else None
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, providers=[self.cluster.k8s_provider], depends_on=[self.monitoring_namespace] if owned else []
                ),
            )
            self.rule_labels = self.monitoring.selector_labels
        self.endpoints = {
            endpoint.name: ManagedEndpoint(
                f"{name}-endpoint-{endpoint.name}",
                ManagedEndpointArgs(
                    endpoint=endpoint,
                    cloud=self.cloud,
                    environment=cfg.environment,
                    tags=cfg.cloud_tags,
                    protect_stateful=cfg.guardrails.protect_stateful,
                ),
                opts=pulumi.ResourceOptions(parent=self, providers=self._opts_providers(cfg, kubernetes=False)),
            )
            for endpoint in cfg.managed_endpoints
        }
        self.keda = self._keda(name, cfg)
        self.flagger = self._flagger(name, cfg)
        self.models = self._serving(name, cfg)
        self.register_outputs({"namespaces": self.namespaces, "cluster_identifier": self.cluster.cluster_identifier})

    def _opts_providers(self, cfg: PlatformConfig, *, kubernetes: bool = True) -> list[pulumi.ProviderResource]:
        """What a component takes in ``opts.providers``: the cloud's provider (none on provider `kubernetes`, which
        has no cloud account) and, with ``kubernetes``, the cluster's; its children inherit them by package."""
        providers: list[pulumi.ProviderResource] = []
        if cfg.cloud.provider != "kubernetes":
            assert self.cluster.cloud_provider is not None  # ClusterAccess makes one for every cloud
            providers.append(self.cluster.cloud_provider)
        if kubernetes:
            providers.append(self.cluster.k8s_provider)
        return providers

    def _serving(self, name: str, cfg: PlatformConfig) -> dict[str, TritonDeployment]:
        """Triton per model on its pool, released by Flagger, with the gateway in front."""
        if not cfg.models:
            return {}
        serving_ns = cfg.namespaces.serving
        monitoring_ns = cfg.namespaces.monitoring if cfg.monitoring.enabled else None
        k8s_opts = pulumi.ResourceOptions(parent=self, providers=[self.cluster.k8s_provider], depends_on=[self.serving_namespace])
        if cfg.serving.gateway.enabled:
            ServingGateway(
                f"{name}-gateway", ServingGatewayArgs(config=cfg.serving.gateway, namespace=serving_ns, labels=self.labels), opts=k8s_opts
            )
        models: dict[str, TritonDeployment] = {}
        # validated: workload identity needs the cluster's name, except on provider `kubernetes` (no cloud identity)
        assert cfg.cluster.name is not None or cfg.cloud.provider == "kubernetes"
        # each model and the capture hold a workload identity (cloud) and Kubernetes objects: both providers
        serving_opts = pulumi.ResourceOptions(parent=self, providers=self._opts_providers(cfg), depends_on=[self.serving_namespace])
        capture = self._capture(name, cfg, serving_opts)
        captured = {m.name for m in cfg.scored_models}
        route = self._route(cfg)
        for model in cfg.models:
            pool = self.gpu_pools[model.gpu_pool].wiring if model.gpu_pool else None
            models[model.name] = TritonDeployment(
                f"{name}-model-{model.name}",
                TritonDeploymentArgs(
                    model=model,
                    namespace=serving_ns,
                    cloud=self.cloud,
                    cluster_name=cfg.cluster.name or "",
                    triton_image=cfg.serving.triton_image,
                    sync_image=cfg.serving.sync_image,
                    gateway=route,
                    pool=pool,
                    monitoring_namespace=monitoring_ns,
                    spread_required=cfg.guardrails.min_replicas >= 2,
                    prometheus_url=self._scaling_prometheus(cfg),
                    polling_interval_seconds=cfg.serving.keda.polling_interval_seconds,
                    # created after KEDA's chart (its CRDs), deleted before it (KEDA's finalizer needs the operator)
                    autoscaler_depends_on=[self.keda] if self.keda is not None else [],
                    release_prometheus_url=self._release_prometheus(cfg),
                    # created after Flagger's chart (its CRDs)
                    release_depends_on=[self.flagger] if self.flagger is not None else [],
                    loadtester_namespace=cfg.serving.flagger.namespace,
                    confirm_promotion=model.release.confirms(cfg.environment),
                    capture=capture if model.name in captured else None,
                    labels=self.labels,
                    tags=cfg.cloud_tags,
                ),
                opts=serving_opts,
            )
        return models

    @staticmethod
    def _route(cfg: PlatformConfig) -> ModelRoute | None:
        """The models' gateway route, where the stack enables the gateway (validation requires its host name then)."""
        gateway = cfg.serving.gateway
        if not gateway.enabled:
            return None
        assert gateway.hostname is not None
        return ModelRoute(hostname=gateway.hostname, gateway_namespace=gateway.controller_namespace)

    def _capture(self, name: str, cfg: PlatformConfig, opts: pulumi.ResourceOptions) -> CaptureTarget | None:
        """The inference capture of the drift monitor, when it runs (validation requires the gateway then)."""
        drift = cfg.monitoring.drift
        if not (cfg.monitoring.enabled and drift.enabled and cfg.serving.gateway.enabled):
            return None
        InferenceCapture(
            f"{name}-capture",
            InferenceCaptureArgs(
                drift=drift,
                models=[(m.name, m.version, f"triton-{m.name}") for m in cfg.scored_models],
                namespace=cfg.namespaces.serving,
                gateway_namespace=cfg.serving.gateway.controller_namespace,
                cloud=self.cloud,
                cluster_name=cfg.cluster.name or "",
                store_port=store_port(self.cloud),
                replicas=max(cfg.guardrails.min_replicas, 1),
                labels=self.labels,
                tags=cfg.cloud_tags,
            ),
            opts=opts,
        )
        return capture_target(drift)

    def _scaling_prometheus(self, cfg: PlatformConfig) -> str | None:
        """The Prometheus KEDA's triggers query: the configured one, else the monitoring stack's, else none."""
        if cfg.serving.keda.prometheus_url is not None:
            return cfg.serving.keda.prometheus_url
        return self.monitoring.prometheus_url if cfg.monitoring.enabled else None

    def _release_prometheus(self, cfg: PlatformConfig) -> str | None:
        """The Prometheus Flagger's checks query: the configured one, else the monitoring stack's, else none."""
        if cfg.serving.flagger.prometheus_url is not None:
            return cfg.serving.flagger.prometheus_url
        return self.monitoring.prometheus_url if cfg.monitoring.enabled else None

    def _flagger(self, name: str, cfg: PlatformConfig) -> Flagger | None:
        """Flagger and its load tester for the models' releases, unless the cluster already runs one (``install: false``)."""
        flagger = cfg.serving.flagger
        if not flagger.install or not cfg.models:
            return None
        url = self._release_prometheus(cfg)
        own_prometheus = url is not None and flagger.prometheus_url is None and cfg.monitoring.install
        return Flagger(
            f"{name}-flagger",
            FlaggerArgs(
                config=flagger,
                serving_namespace=cfg.namespaces.serving,
                loadtester_image=cfg.serving.loadtester_image,
                prometheus_url=url,
                kubernetes_version=cfg.cluster.kubernetes_version,
                monitoring_namespace=cfg.namespaces.monitoring if own_prometheus else None,
                labels=self.labels,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[self.cluster.k8s_provider]),
        )

    def _keda(self, name: str, cfg: PlatformConfig) -> Keda | None:
        """KEDA for the autoscaling models' ScaledObjects, unless the cluster already runs it (``install: false``).

        Without any Prometheus there is no Triton signal to query: the models then scale on CPU alone,
        still through KEDA.
        """
        keda = cfg.serving.keda
        url = self._scaling_prometheus(cfg)
        if not keda.install or not cfg.models:
            return None
        own_prometheus = url is not None and keda.prometheus_url is None and cfg.monitoring.install
        return Keda(
            f"{name}-keda",
            KedaArgs(
                config=keda,
                prometheus_url=url,
                replicas=keda.replicas or cfg.guardrails.min_replicas,
                kubernetes_version=cfg.cluster.kubernetes_version,
                monitoring_namespace=cfg.namespaces.monitoring if own_prometheus else None,
                labels=self.labels,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[self.cluster.k8s_provider]),
        )
