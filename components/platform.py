"""The composition component: one stack's whole platform, built from its validated config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from .cluster import ClusterAccess, ClusterAccessArgs
from .config.platform import PlatformConfig
from .gpu import GpuNodePool, GpuNodePoolArgs, GpuOperator, GpuOperatorArgs
from .namespace import PlatformNamespace, PlatformNamespaceArgs


@dataclass(frozen=True)
class MlopsPlatformArgs:
    """The validated configuration and the secrets it references."""

    config: PlatformConfig
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


class MlopsPlatform(pulumi.ComponentResource):
    """Cluster access, namespaces, GPU pools and GPU enablement, wired for the components built on them.

    Outputs:
      * ``cluster``: the ClusterAccess (cloud and Kubernetes providers);
      * ``namespaces``: role (`serving`, `tracking`, `monitoring`) to namespace name;
      * ``labels``: the labels every Kubernetes object carries;
      * ``gpu_pools``: pool name to GpuNodePool (its ``wiring`` and ``cost`` feed serving and reports).
    """

    def __init__(self, name: str, args: MlopsPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:platform:MlopsPlatform", name, None, opts)
        cfg = args.config
        self.labels = cfg.common_labels
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
        gpu_quota = sum(model.max_gpus for model in cfg.models)
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
                cfg.monitoring.enabled,
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
                self.namespaces[role] = PlatformNamespace(f"{name}-{role}", ns_args, opts=in_cluster).namespace
        self.gpu_pools: dict[str, GpuNodePool] = {}
        for pool in cfg.gpu_pools:
            assert cfg.cluster.name is not None  # validated: pools need the cluster's name
            self.gpu_pools[pool.name] = GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    cloud=cfg.cloud,
                    cluster_name=cfg.cluster.name,
                    cluster_location=cfg.cluster.location,
                    provider=self.cluster.cloud_provider,
                    tags=cfg.cloud_tags,
                ),
                opts=pulumi.ResourceOptions(parent=self),
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
        self.register_outputs({"namespaces": self.namespaces, "cluster_identifier": self.cluster.cluster_identifier})
