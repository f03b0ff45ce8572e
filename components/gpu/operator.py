"""In-cluster GPU enablement: the NVIDIA GPU Operator, with each pool's sharing rendered into its config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from ..charts import pinned_chart
from ..config.gpu import GpuOperatorConfig, GpuPoolConfig
from ..namespace import PlatformNamespace, PlatformNamespaceArgs
from ..pool_wiring import mig_via_operator, sharing_via_operator, wiring

DEVICE_PLUGIN_CONFIG = "device-plugin-config"
"""ConfigMap holding one device-plugin config per sharing pool, selected by node label."""


def device_plugin_configs(pools: list[GpuPoolConfig], cloud: str) -> dict[str, str]:
    """The device plugin's config files: `default`, plus one per pool that shares GPUs."""
    configs: dict[str, Any] = {"default": {"version": "v1", "flags": {"migStrategy": "single"}}}
    for pool in pools:
        if sharing_via_operator(pool, cloud):
            key = "timeSlicing" if pool.sharing.mode == "time_slicing" else "mps"
            sharing: dict[str, Any] = {"resources": [{"name": "nvidia.com/gpu", "replicas": pool.sharing.replicas}]}
            if key == "timeSlicing":
                sharing = {"renameByDefault": False, "failRequestsGreaterThanOne": True, **sharing}
            configs[pool.name] = {"version": "v1", "flags": {"migStrategy": "none"}, "sharing": {key: sharing}}
    return {name: yaml.safe_dump(doc, sort_keys=True) for name, doc in sorted(configs.items())}


def chart_values(pools: list[GpuPoolConfig], cloud: str) -> dict[str, Any]:
    """Helm values (camelCase, as the chart reads them): driver and toolkit come with the node image."""
    tolerations: list[dict[str, str]] = []
    for pool in pools:
        for toleration in wiring(pool, cloud).tolerations:
            if toleration not in tolerations:
                tolerations.append(toleration)
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "operator": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}},
        "devicePlugin": {"enabled": True, "config": {"name": DEVICE_PLUGIN_CONFIG, "default": "default"}},
        "mig": {"strategy": "single"},
        "migManager": {"enabled": any(mig_via_operator(p, cloud) for p in pools)},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}},
        "nfd": {"enabled": True},
        "daemonsets": {"tolerations": tolerations},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
    }


@dataclass(frozen=True)
class GpuOperatorArgs:
    """What the operator must serve: the pools, and where its chart comes from."""

    config: GpuOperatorConfig
    """The installation: mode, chart and version, namespace."""
    pools: list[GpuPoolConfig]
    """The GPU pools it serves: their sharing (time slicing, MPS, MIG) becomes the device plugin's configurations."""
    cloud: str
    """`aws`, `gcp`, `azure` or `kubernetes`: the pools' wiring (node labels, taints) and which sharing the operator configures."""
    kubernetes_version: str
    """The cluster's minor version (`1.31`): its namespace is labelled for Pod Security at it."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of its namespace and the device plugin's ConfigMap (the chart labels its own objects). Default: none."""


class GpuOperator(pulumi.ComponentResource):
    """The operator in its own namespace, the device-plugin sharing config, and the pinned chart.

    The namespace is `privileged` (the operator's daemonsets load kernel-facing components) and
    not default-deny: its pods must reach the API server, whose address differs per cluster.
    """

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:compute:GpuOperator", name, None, opts)
        cfg = args.config
        namespace = PlatformNamespace(
            f"{name}-ns",
            PlatformNamespaceArgs(
                namespace=cfg.namespace,
                kubernetes_version=args.kubernetes_version,
                labels=args.labels,
                pod_security="privileged",
                default_deny=False,
                container_defaults=False,  # the chart sizes its pods; a default limit could OOM-kill them
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-device-plugin-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DEVICE_PLUGIN_CONFIG, namespace=cfg.namespace, labels=args.labels),
            data=device_plugin_configs(args.pools, args.cloud),
            opts=after_ns,
        )
        self.chart = pinned_chart(
            f"{name}-chart",
            cfg,
            cfg.namespace,
            "gpu-operator",
            chart_values(args.pools, args.cloud),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, config_map]),
        )
        self.namespace = namespace.namespace
        self.register_outputs({"namespace": self.namespace})
