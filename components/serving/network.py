"""Network facts and NetworkPolicies the serving components share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from ..namespace import PlatformNamespace, PlatformNamespaceArgs

API_SERVER_PORTS = (443, 6443)
"""Ports the Kubernetes API server listens on across managed clusters (its address differs per cluster)."""


def url_port(url: str) -> int:
    """The TCP port of an `http(s)://host[:port]` URL."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def controller_namespace(
    owner: pulumi.Resource,
    name: str,
    namespace: str,
    kubernetes_version: str,
    labels: dict[str, str],
    specs: dict[str, dict[str, Any]],
    monitoring_namespace: pulumi.Input[str] | None,
    prometheus_url: str | None,
    ingress_name: str,
    ingress_spec: Callable[[str, int], dict[str, Any]],
) -> tuple[PlatformNamespace, list[k8s.networking.v1.NetworkPolicy]]:
    """A controller's own restricted, default-deny namespace and its NetworkPolicies (``specs``: policy name to spec).

    Where the controller queries the platform's Prometheus (``monitoring_namespace`` and ``prometheus_url`` both set),
    the policy ``ingress_name`` in the monitoring namespace, default-deny too, admits it:
    ``ingress_spec(controller namespace, Prometheus port)``. Resource names are ``<name>-ns``, ``<name>-<policy>`` and
    ``<name>-prometheus-ingress``.
    """
    created = PlatformNamespace(
        f"{name}-ns",
        PlatformNamespaceArgs(namespace=namespace, kubernetes_version=kubernetes_version, labels=labels),
        opts=pulumi.ResourceOptions(parent=owner),
    )
    after_namespace = pulumi.ResourceOptions(parent=owner, depends_on=[created])
    policies = [
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=namespace, labels=labels),
            spec=spec,
            opts=after_namespace,
        )
        for policy, spec in specs.items()
    ]
    if monitoring_namespace is not None and prometheus_url is not None:
        policies.append(
            k8s.networking.v1.NetworkPolicy(
                f"{name}-prometheus-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ingress_name, namespace=monitoring_namespace, labels=labels),
                spec=ingress_spec(namespace, url_port(prometheus_url)),
                opts=pulumi.ResourceOptions(parent=owner),
            )
        )
    return created, policies
