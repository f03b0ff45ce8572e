"""`Flagger`: Flagger (pinned chart) and its load tester, which release every new model version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from ..charts import pinned_chart
from ..config.serving import FlaggerConfig, ImageRef
from .network import API_SERVER_PORTS, controller_namespace, url_port
from .pod import HTTP
from .release import LOADTESTER

FLAGGER_PODS = {"app.kubernetes.io/name": "flagger"}
LOADTESTER_PODS = {"app": "loadtester"}
"""The pod labels each chart gives its Deployment (the load tester's chart is named `loadtester`)."""
LOADTESTER_CONTAINER_PORT = 8080
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}


def _container_context(user: int) -> dict[str, Any]:
    # the charts template only the container's security context: Pod Security restricted accepts it there
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def flagger_values(
    cfg: FlaggerConfig, watch_namespace: pulumi.Input[str], prometheus_url: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    """Flagger with the Gateway API provider, watching the serving namespace only, on the stack's Prometheus.

    `selectorLabels: app`: the models' Deployments select their pods by `app`, which Flagger rewrites to
    `<name>-primary` on the primary. `includeLabelPrefix` carries the platform's labels onto what Flagger creates.
    """
    return {
        "meshProvider": "gatewayapi:v1",
        "metricsServer": (prometheus_url or "http://prometheus.invalid:9090").rstrip("/"),
        "namespace": watch_namespace,
        "selectorLabels": "app",
        "includeLabelPrefix": "app.kubernetes.io,mlops.platform",
        "image": {"tag": cfg.version.removeprefix("v")},
        "crd": {"create": False},  # the chart's crds/ directory installs them
        "leaderElection": {"enabled": False, "replicaCount": 1},
        "securityContext": {"enabled": True, "context": _container_context(10001)},
        "resources": cfg.resources.as_kubernetes(),
        "podLabels": dict(labels),
        # the chart's defaults ask Linkerd and App Mesh for sidecars: neither is used here
        "podAnnotations": {},
    }


def _exactly(name: pulumi.Input[str]) -> pulumi.Input[str]:
    """A regular expression matching ``name`` only (plain text for a plain name, so the chart's values stay readable)."""
    return f"^{name}$" if isinstance(name, str) else pulumi.Output.concat("^", name, "$")


def loadtester_values(image: ImageRef, serving_namespace: pulumi.Input[str], labels: dict[str, str]) -> dict[str, Any]:
    """The load tester runs commands only for Canaries of the serving namespace."""
    return {
        "image": {"repository": image.repository, "tag": image.tag + (f"@{image.digest}" if image.digest else "")},
        "cmd": {"timeout": "1h", "namespaceRegexp": _exactly(serving_namespace)},
        "securityContext": {"enabled": True, "context": _container_context(100)},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "podLabels": dict(labels),
        "podAnnotations": {},
    }


def _namespace_peer(namespace: pulumi.Input[str], pods: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}, "podSelector": {"matchLabels": pods}}


def network_policy_specs(
    prometheus_url: str | None, monitoring_namespace: pulumi.Input[str] | None, serving_namespace: pulumi.Input[str]
) -> dict[str, dict[str, Any]]:
    """Flagger's namespace is default-deny with DNS; these admit exactly what Flagger and its load tester need.

    Flagger: out to the API server (its address differs per cluster, so only ports narrow it), to
    Prometheus (narrowed to its pods where the platform runs it) and to the load tester's webhooks. The load
    tester: in from Flagger, out to the models' HTTP port in the serving namespace (the acceptance tests).
    """
    api_server = {"ports": [{"protocol": "TCP", "port": p} for p in API_SERVER_PORTS]}
    loadtester = [{"protocol": "TCP", "port": LOADTESTER_CONTAINER_PORT}]
    flagger_egress: list[dict[str, Any]] = [api_server, {"to": [{"podSelector": {"matchLabels": LOADTESTER_PODS}}], "ports": loadtester}]
    if prometheus_url:
        rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": url_port(prometheus_url)}]}
        if monitoring_namespace is not None:
            rule["to"] = [_namespace_peer(monitoring_namespace, PROMETHEUS_PODS)]
        flagger_egress.append(rule)
    return {
        "flagger-egress": {"podSelector": {"matchLabels": FLAGGER_PODS}, "policyTypes": ["Egress"], "egress": flagger_egress},
        "loadtester-ingress": {
            "podSelector": {"matchLabels": LOADTESTER_PODS},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": FLAGGER_PODS}}], "ports": loadtester}],
        },
        "loadtester-egress": {
            "podSelector": {"matchLabels": LOADTESTER_PODS},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": serving_namespace}}}],
                    "ports": [{"protocol": "TCP", "port": HTTP}],
                }
            ],
        },
    }


def prometheus_ingress_spec(flagger_namespace: str, port: int) -> dict[str, Any]:
    """In the monitoring namespace (default-deny): Prometheus admits Flagger's queries."""
    return {
        "podSelector": {"matchLabels": PROMETHEUS_PODS},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [_namespace_peer(flagger_namespace, FLAGGER_PODS)], "ports": [{"protocol": "TCP", "port": port}]}],
    }


@dataclass(frozen=True)
class FlaggerArgs:
    """Where Flagger runs, what it watches, and the Prometheus its checks query."""

    config: FlaggerConfig
    """The installation: chart and version, Flagger's own namespace, resources."""
    serving_namespace: pulumi.Input[str]
    """The only namespace Flagger and its load tester act in."""
    loadtester_image: ImageRef
    """The load tester's image (acceptance tests, load during blue/green checks, the promotion gate)."""
    prometheus_url: str | None
    """`http(s)://host:port` of the Prometheus the checks query; None points Flagger at `prometheus.invalid` (no check passes)."""
    kubernetes_version: str
    """The cluster's minor version (`1.31`): Flagger's namespace enforces Pod Security *restricted* at it."""
    monitoring_namespace: pulumi.Input[str] | None = None
    """The platform's monitoring namespace when ``prometheus_url`` is its Prometheus: its ingress is opened for Flagger."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of its namespace, its NetworkPolicies and the pods of Flagger and the load tester. Default: none."""


class Flagger(pulumi.ComponentResource):
    """Flagger (pinned chart, with its CRDs) and its load tester in their own restricted, default-deny namespace.

    Outputs: ``namespace``; ``loadtester`` (its Service, which the models' acceptance tests and promotion gates call).
    """

    def __init__(self, name: str, args: FlaggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:Flagger", name, None, opts)
        cfg = args.config
        namespace, policies = controller_namespace(
            self,
            name,
            cfg.namespace,
            args.kubernetes_version,
            args.labels,
            network_policy_specs(args.prometheus_url, args.monitoring_namespace, args.serving_namespace),
            args.monitoring_namespace,
            args.prometheus_url,
            f"allow-flagger-queries-{cfg.namespace}",
            prometheus_ingress_spec,
        )
        chart_opts = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *policies])
        self.chart = pinned_chart(
            f"{name}-chart",
            cfg,
            cfg.namespace,
            # the release names the chart's cluster-wide RBAC: one per namespace, so stacks sharing a cluster never collide
            cfg.namespace,
            flagger_values(cfg, args.serving_namespace, args.prometheus_url, args.labels),
            chart_opts,
        )
        self.loadtester_chart = pinned_chart(
            f"{name}-loadtester",
            _LoadtesterSource(cfg),
            cfg.namespace,
            LOADTESTER,
            loadtester_values(args.loadtester_image, args.serving_namespace, args.labels),
            chart_opts,
        )
        self.namespace = namespace.namespace
        self.loadtester = LOADTESTER
        self.register_outputs({"namespace": self.namespace, "loadtester": LOADTESTER})


@dataclass(frozen=True)
class _LoadtesterSource:
    """The load tester's chart: `loadtester` next to Flagger's (same repository, or `loadtester` beside a local path)."""

    config: FlaggerConfig

    @property
    def chart(self) -> str:
        chart = self.config.chart
        if self.config.repository is not None:
            return "loadtester"
        return chart.rsplit("/", 1)[0] + "/loadtester" if "/" in chart else "loadtester"

    @property
    def repository(self) -> str | None:
        return self.config.repository

    @property
    def version(self) -> str:
        return self.config.loadtester_version
