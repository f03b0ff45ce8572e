"""Network facts and NetworkPolicies the serving components share."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

API_SERVER_PORTS = (443, 6443)
"""Ports the Kubernetes API server listens on across managed clusters (its address differs per cluster)."""


def url_port(url: str) -> int:
    """The TCP port of an `http(s)://host[:port]` URL."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def controller_policies(
    owner: pulumi.Resource,
    name: str,
    namespace: str,
    specs: dict[str, dict[str, Any]],
    labels: dict[str, str],
    after_namespace: pulumi.ResourceOptions,
    prometheus_ingress: tuple[str, str, dict[str, Any]] | None,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """A controller's NetworkPolicies in its own default-deny namespace (``specs``: policy name to spec) and, where it
    queries the platform's Prometheus, ``prometheus_ingress`` (monitoring namespace, policy name, spec): the policy that
    lets Prometheus, default-deny too, admit it. Resource names are ``<name>-<policy>`` and ``<name>-prometheus-ingress``.
    """
    policies = [
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=namespace, labels=labels),
            spec=spec,
            opts=after_namespace,
        )
        for policy, spec in specs.items()
    ]
    if prometheus_ingress is not None:
        monitoring, policy, spec = prometheus_ingress
        policies.append(
            k8s.networking.v1.NetworkPolicy(
                f"{name}-prometheus-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=monitoring, labels=labels),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=owner),
            )
        )
    return policies
