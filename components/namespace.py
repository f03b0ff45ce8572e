"""A platform-owned namespace: Pod Security admission, default-deny networking, quotas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]

DNS_EGRESS_PORTS = [k8s.networking.v1.NetworkPolicyPortArgs(protocol=p, port=53) for p in ("UDP", "TCP")]


@dataclass(frozen=True)
class PlatformNamespaceArgs:
    """A namespace's identity and guardrails."""

    namespace: str
    """The Kubernetes namespace name."""
    kubernetes_version: str
    """The cluster's minor version (`1.31`): pins the Pod Security Standards version enforced."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels on the namespace and every object in it."""
    pod_security: PodSecurityLevel = "restricted"
    """Pod Security Standards level enforced; audit and warn always use `restricted`."""
    gpu_quota: int | None = None
    """Cap on `nvidia.com/gpu` requests in the namespace; None for no cap."""
    default_deny: bool = True
    """Deny all traffic but DNS unless a NetworkPolicy allows it; off only for system namespaces."""
    container_defaults: bool = True
    """Default requests/limits for containers that set none; off where a chart sizes its own pods."""


class PlatformNamespace(pulumi.ComponentResource):
    """A namespace that starts closed: default-deny traffic, DNS egress only, PSS enforced.

    Components that deploy into it add NetworkPolicies for exactly the flows they need.
    """

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:platform:PlatformNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        version = f"v{args.kubernetes_version}"
        pss = {
            "pod-security.kubernetes.io/enforce": args.pod_security,
            "pod-security.kubernetes.io/enforce-version": version,
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": version,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": version,
        }
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={**args.labels, **pss}),
            opts=child,
        )
        self.namespace = ns.metadata.name
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=args.labels)

        if args.default_deny:
            self._deny_by_default(name, meta, in_ns)
        if args.container_defaults:
            self._container_defaults(name, meta, in_ns)
        if args.gpu_quota is not None:
            k8s.core.v1.ResourceQuota(
                f"{name}-gpu-quota",
                metadata=meta("gpu-quota"),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard={"requests.nvidia.com/gpu": str(args.gpu_quota)}),
                opts=in_ns,
            )
        self.register_outputs({"namespace": self.namespace})

    def _container_defaults(self, name: str, meta: Callable[[str], k8s.meta.v1.ObjectMetaArgs], opts: pulumi.ResourceOptions) -> None:
        """Requests and limits for containers that declare none, so none runs unbounded."""
        k8s.core.v1.LimitRange(
            f"{name}-defaults",
            metadata=meta("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={"cpu": "100m", "memory": "128Mi"},
                        default={"cpu": "1", "memory": "512Mi"},
                    )
                ]
            ),
            opts=opts,
        )

    def _deny_by_default(self, name: str, meta: Callable[[str], k8s.meta.v1.ObjectMetaArgs], opts: pulumi.ResourceOptions) -> None:
        """Default-deny in both directions, then DNS egress to kube-dns only."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny-all"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns-egress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=DNS_EGRESS_PORTS,
                    )
                ],
            ),
            opts=opts,
        )
