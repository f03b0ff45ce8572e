"""`Keda`: KEDA (pinned chart), which scales the models' Deployments on Triton's signals from Prometheus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from ..charts import pinned_chart
from ..config.serving import KedaConfig
from .network import API_SERVER_PORTS, controller_namespace, url_port

RELEASE = "keda"
OPERATOR = "keda-operator"
METRICS_SERVER = "keda-operator-metrics-apiserver"
WEBHOOKS = "keda-admission-webhooks"
"""The chart's pod `app` labels of its three Deployments."""
METRICS_SERVER_PORT = 6443
"""Where the API server calls the metrics server for `external.metrics.k8s.io`."""
WEBHOOKS_PORT = 9443
GRPC_PORT = 9666
"""The operator's metrics service, which the metrics server asks for each trigger's value."""
RUN_AS = 1000


def _pods(app: str) -> dict[str, Any]:
    return {"matchLabels": {"app": app}}


def chart_values(cfg: KedaConfig, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    """Values for the pinned KEDA chart (camelCase, as the chart reads them): restricted pods, sized and spread."""
    pod_context = {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}}
    container_context = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    components = ("operator", "metricServer", "webhooks")
    pdb = {"maxUnavailable": 1} if replicas > 1 else {}
    spread = {
        name: [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": _pods(app),
            }
        ]
        if replicas > 1
        else []
        for name, app in (("operator", OPERATOR), ("metricsServer", METRICS_SERVER), ("webhooks", WEBHOOKS))
    }
    return {
        "crds": {"install": True},
        "watchNamespace": "",
        "operator": {"replicaCount": replicas},
        "metricsServer": {"replicaCount": replicas},
        "webhooks": {"enabled": True, "replicaCount": replicas, "failurePolicy": "Ignore"},
        "image": {"pullPolicy": "IfNotPresent"},
        "additionalLabels": dict(labels),
        "podSecurityContext": dict.fromkeys(components, pod_context),
        "securityContext": dict.fromkeys(components, container_context),
        "resources": dict.fromkeys(components, cfg.resources.as_kubernetes()),
        "podDisruptionBudget": dict.fromkeys(components, pdb),
        "topologySpreadConstraints": spread,
    }


def network_policy_specs(prometheus_url: str | None, monitoring_namespace: pulumi.Input[str] | None) -> dict[str, dict[str, Any]]:
    """KEDA's namespace is default-deny with DNS; these admit exactly what KEDA's three parts need.

    In: the API server to the metrics server and the webhooks (its address differs per cluster, so only
    ports narrow it), the metrics server to the operator's gRPC service. Out: the API server from every
    part, Prometheus from the operator (narrowed to its pods where the platform runs it; none without a
    Prometheus), the operator's gRPC service from the metrics server.
    """
    prometheus: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": url_port(prometheus_url)}]} if prometheus_url else {}
    if prometheus_url and monitoring_namespace is not None:
        prometheus["to"] = [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ]
    api_server = {"ports": [{"protocol": "TCP", "port": p} for p in API_SERVER_PORTS]}
    grpc = [{"protocol": "TCP", "port": GRPC_PORT}]
    specs = {
        "keda-metrics-server-ingress": {
            "podSelector": _pods(METRICS_SERVER),
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": METRICS_SERVER_PORT}]}],
        },
        "keda-webhooks-ingress": {
            "podSelector": _pods(WEBHOOKS),
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": WEBHOOKS_PORT}]}],
        },
        "keda-operator-ingress": {
            "podSelector": _pods(OPERATOR),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": _pods(METRICS_SERVER)}], "ports": grpc}],
        },
        "keda-egress": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [api_server],
        },
        "keda-metrics-server-egress": {
            "podSelector": _pods(METRICS_SERVER),
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": _pods(OPERATOR)}], "ports": grpc}],
        },
    }
    if prometheus:
        specs["keda-operator-egress"] = {"podSelector": _pods(OPERATOR), "policyTypes": ["Egress"], "egress": [prometheus]}
    return specs


def prometheus_ingress_spec(keda_namespace: str, port: int) -> dict[str, Any]:
    """In the monitoring namespace (default-deny): Prometheus admits the KEDA operator's queries."""
    return {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": keda_namespace}},
                        "podSelector": _pods(OPERATOR),
                    }
                ],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
    }


@dataclass(frozen=True)
class KedaArgs:
    """Where KEDA runs, how many replicas, and the Prometheus the models' triggers query."""

    config: KedaConfig
    """The installation: chart and version, KEDA's own namespace, resources."""
    prometheus_url: str | None
    """`http(s)://host:port` of the Prometheus that scrapes Triton; None when there is none (CPU triggers only)."""
    replicas: int
    """Replicas of each of KEDA's parts (operator, metrics server, webhooks)."""
    kubernetes_version: str
    """The cluster's minor version (`1.31`): KEDA's namespace enforces Pod Security *restricted* at it."""
    monitoring_namespace: pulumi.Input[str] | None = None
    """The platform's monitoring namespace when ``prometheus_url`` is its Prometheus: its ingress is opened for KEDA."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of its namespace and NetworkPolicies, and (the chart's `additionalLabels`) of every object the chart
    makes. Default: none."""


class Keda(pulumi.ComponentResource):
    """KEDA (pinned chart, with its CRDs) in its own restricted, default-deny namespace.

    It serves `v1beta1.external.metrics.k8s.io` to the HPAs it creates for the models' ScaledObjects,
    with the NetworkPolicies its operator, metrics server and webhooks need, and Prometheus admitting
    the operator in the monitoring namespace.

    Outputs: ``namespace``.
    """

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:Keda", name, None, opts)
        cfg = args.config
        namespace, policies = controller_namespace(
            self,
            name,
            cfg.namespace,
            args.kubernetes_version,
            args.labels,
            network_policy_specs(args.prometheus_url, args.monitoring_namespace),
            args.monitoring_namespace,
            args.prometheus_url,
            "allow-keda-queries",
            prometheus_ingress_spec,
        )
        self.chart = pinned_chart(
            f"{name}-chart",
            cfg,
            cfg.namespace,
            RELEASE,
            chart_values(cfg, args.replicas, args.labels),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, *policies]),
        )
        self.namespace = namespace.namespace
        self.register_outputs({"namespace": self.namespace})
