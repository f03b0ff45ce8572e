"""`MetricsAdapter`: prometheus-adapter publishing the Triton signals the model HPAs scale on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from ..charts import pinned_chart
from ..config.serving import MetricsAdapterConfig, ModelConfig
from ..namespace import PlatformNamespace, PlatformNamespaceArgs
from .metrics import adapter_rules

RELEASE = "prometheus-adapter"
PORT = 6443
"""The adapter's secure port: the API server calls it there for `custom.metrics.k8s.io`."""
API_SERVER_PORTS = (443, 6443)
RUN_AS = 10001
POD_LABELS = {"app.kubernetes.io/name": RELEASE, "app.kubernetes.io/instance": RELEASE}
"""The chart's selector labels (name and instance, with the release named after the chart)."""


def split_url(url: str) -> tuple[str, int]:
    """`http(s)://host[:port]` as the chart takes it: the URL without port, and the port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}", port


def chart_values(
    cfg: MetricsAdapterConfig,
    rules: list[dict[str, Any]],
    prometheus_url: str,
    replicas: int,
    labels: dict[str, str],
) -> dict[str, Any]:
    """Values for the pinned prometheus-adapter chart (camelCase, as the chart reads them).

    Only ``rules.custom`` is set: the chart's default rules would publish every series of every
    namespace, and no resource or external metrics API is registered (metrics-server keeps the former).
    """
    url, port = split_url(prometheus_url)
    image = cfg.image
    tag = image.tag + (f"@{image.digest}" if image.digest else "")  # the chart renders `repository:tag`
    probe = {"httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"}, "initialDelaySeconds": 30, "timeoutSeconds": 5}
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE,
        "image": {"repository": image.repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "prometheus": {"url": url, "port": port, "path": ""},
        "listenPort": PORT,
        "metricsRelistInterval": f"{cfg.relist_interval_seconds}s",
        "logLevel": 2,
        "replicas": replicas,
        "resources": cfg.resources.as_kubernetes(),
        "rules": {"default": False, "custom": rules, "external": []},
        "customLabels": dict(labels),
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "livenessProbe": probe,
        "readinessProbe": probe,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0 if replicas > 1 else 1, "maxSurge": 1}},
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "rbac": {"create": True},
        "psp": {"create": False},
        "serviceAccount": {"create": True},
    }
    if replicas > 1:
        values["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": POD_LABELS},
            }
        ]
    return values


def network_policy_specs(prometheus_url: str, monitoring_namespace: str | None) -> dict[str, dict[str, Any]]:
    """The adapter's namespace is default-deny with DNS: add the API server in, and Prometheus and the API server out.

    The API server's address differs per cluster (and on managed clusters is outside the pod
    network), so only ports narrow those peers; Prometheus is narrowed to its pods where the
    platform runs it.
    """
    _, port = split_url(prometheus_url)
    prometheus: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": port}]}
    if monitoring_namespace is not None:
        prometheus["to"] = [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ]
    pods = {"matchLabels": POD_LABELS}
    return {
        "prometheus-adapter-ingress": {
            "podSelector": pods,
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
        },
        "prometheus-adapter-egress": {
            "podSelector": pods,
            "policyTypes": ["Egress"],
            "egress": [prometheus, {"ports": [{"protocol": "TCP", "port": p} for p in API_SERVER_PORTS]}],
        },
    }


def prometheus_ingress_spec(adapter_namespace: str, port: int) -> dict[str, Any]:
    """In the monitoring namespace (default-deny): Prometheus admits the adapter's queries."""
    return {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": adapter_namespace}},
                        "podSelector": {"matchLabels": POD_LABELS},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
    }


@dataclass(frozen=True)
class MetricsAdapterArgs:
    """What the adapter publishes, from which Prometheus, and how it runs."""

    config: MetricsAdapterConfig
    models: list[ModelConfig]
    """The stack's models; rules are generated for those that autoscale."""
    serving_namespace: str
    prometheus_url: str
    """`http(s)://host:port` of the Prometheus that scrapes Triton."""
    replicas: int
    kubernetes_version: str
    monitoring_namespace: str | None = None
    """The platform's monitoring namespace when ``prometheus_url`` is its Prometheus: its ingress is opened for the adapter."""
    labels: dict[str, str] = field(default_factory=dict)


class MetricsAdapter(pulumi.ComponentResource):
    """prometheus-adapter (pinned chart) in its own restricted, default-deny namespace.

    It registers `v1beta1.custom.metrics.k8s.io` with rules generated for this release's models
    only, and the NetworkPolicies it needs: the API server in on its port, Prometheus and the API
    server out, and Prometheus admitting it in the monitoring namespace.

    Outputs: ``namespace``, ``metric_names`` (the custom metrics published).
    """

    def __init__(self, name: str, args: MetricsAdapterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:MetricsAdapter", name, None, opts)
        cfg = args.config
        rules = adapter_rules(args.serving_namespace, args.models)
        if not rules:
            raise ValueError("MetricsAdapterArgs.models: no model autoscales, so there is nothing for the adapter to publish")
        namespace = PlatformNamespace(
            f"{name}-ns",
            PlatformNamespaceArgs(namespace=cfg.namespace, kubernetes_version=args.kubernetes_version, labels=args.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        policies = [
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=cfg.namespace, labels=args.labels),
                spec=spec,
                opts=after_ns,
            )
            for policy, spec in network_policy_specs(args.prometheus_url, args.monitoring_namespace).items()
        ]
        if args.monitoring_namespace is not None:
            policies.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-prometheus-ingress",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name="allow-prometheus-adapter-queries", namespace=args.monitoring_namespace, labels=args.labels
                    ),
                    spec=prometheus_ingress_spec(cfg.namespace, split_url(args.prometheus_url)[1]),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.chart = pinned_chart(
            f"{name}-chart",
            cfg,
            cfg.namespace,
            RELEASE,
            chart_values(cfg, rules, args.prometheus_url, args.replicas, args.labels),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, *policies]),
        )
        self.namespace = namespace.namespace
        self.metric_names = [rule["name"]["as"] for rule in rules]
        self.register_outputs({"namespace": self.namespace, "metric_names": self.metric_names})
