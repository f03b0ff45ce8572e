"""How the MLflow server is reached and what it reaches: its NetworkPolicies (on top of the namespace's default-deny)
and its Ingress. Functions of the server's object naming (``objects``) and settings, called once by ``MlflowServer``."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from ..config.mlflow import MlflowConfig
from ..identity import GKE_METADATA
from .command import PRIVATE_RANGES, PROXY_PORT, SERVER_PORT, SERVICE, SERVICE_PORT
from .objects import MlflowObjects, selector


def network_policies(objects: MlflowObjects, *, cloud: str, oidc: bool, fetches_ca: bool, opts: pulumi.ResourceOptions) -> None:
    """The flows MLflow needs on top of the namespace's default-deny and DNS egress.

    ``cloud`` opens the metadata server on gcp, ``oidc`` puts the proxy in front of the server, ``fetches_ca`` lets
    the migration download the database's CA bundle.
    """
    net = k8s.networking.v1
    everywhere = [net.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs())]
    proxies = [net.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("auth-proxy")))]

    def tcp(port: int) -> list[net.NetworkPolicyPortArgs]:
        return [net.NetworkPolicyPortArgs(protocol="TCP", port=port)]

    def cidrs(blocks: Sequence[str]) -> list[net.NetworkPolicyPeerArgs]:
        return [net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=block)) for block in blocks]

    database = net.NetworkPolicyEgressRuleArgs(to=cidrs(PRIVATE_RANGES), ports=tcp(5432))
    https = net.NetworkPolicyEgressRuleArgs(to=cidrs(["0.0.0.0/0"]), ports=tcp(443))
    cloud_identity = (
        [net.NetworkPolicyEgressRuleArgs(to=cidrs([cidr]), ports=tcp(port)) for cidr, port in GKE_METADATA] if cloud == "gcp" else []
    )

    def policy(
        policy_name: str, component: str, ingress: list[net.NetworkPolicyIngressRuleArgs], egress: list[net.NetworkPolicyEgressRuleArgs]
    ) -> None:
        net.NetworkPolicy(
            f"{objects.name}-netpol-{component}",
            metadata=objects.meta(policy_name, component),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component)),
                policy_types=[kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules],
                ingress=ingress or None,
                egress=egress or None,
            ),
            opts=opts,
        )

    # The server: clients (through the proxy when auth is on) in; the database, the object store and the
    # cloud's token endpoints (https; NetworkPolicy cannot name hosts) out.
    policy(
        "mlflow-server",
        "server",
        [net.NetworkPolicyIngressRuleArgs(from_=proxies if oidc else everywhere, ports=tcp(SERVER_PORT))],
        [database, https, *cloud_identity],
    )
    # The migration also fetches the database's CA bundle where the cloud publishes one (pod_trust).
    policy("mlflow-db-upgrade", "db-migration", [], [database, https] if fetches_ca else [database])
    if oidc:
        # Every pod of the cluster may reach the proxy (the ingress controller, in-cluster clients with bearer
        # tokens); the proxy reaches the server and the issuer.
        server_peer = [net.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("server")))]
        policy(
            "mlflow-auth",
            "auth-proxy",
            [net.NetworkPolicyIngressRuleArgs(from_=everywhere, ports=tcp(PROXY_PORT))],
            [net.NetworkPolicyEgressRuleArgs(to=server_peer, ports=tcp(SERVER_PORT)), https],
        )


def ingress(objects: MlflowObjects, cfg: MlflowConfig, opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
    """The public hostname, with TLS, to the ``mlflow`` Service (the proxy when auth is on)."""
    assert cfg.hostname is not None
    annotations: dict[str, str] = {}
    if cfg.ingress.cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = cfg.ingress.cluster_issuer
    if cfg.ingress.class_name == "nginx":
        annotations.update(
            {
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",  # artifacts are uploaded through the server
                "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
                "nginx.ingress.kubernetes.io/proxy-buffer-size": "16k",  # oauth2-proxy's session cookies
            }
        )
    net = k8s.networking.v1
    return net.Ingress(
        f"{objects.name}-ingress",
        metadata=objects.meta(SERVICE, "auth-proxy", annotations or None),
        spec=net.IngressSpecArgs(
            ingress_class_name=cfg.ingress.class_name,
            tls=[net.IngressTLSArgs(hosts=[cfg.hostname], secret_name=cfg.ingress.tls_secret)],
            rules=[
                net.IngressRuleArgs(
                    host=cfg.hostname,
                    http=net.HTTPIngressRuleValueArgs(
                        paths=[
                            net.HTTPIngressPathArgs(
                                path="/",
                                path_type="Prefix",
                                backend=net.IngressBackendArgs(
                                    service=net.IngressServiceBackendArgs(
                                        name=SERVICE, port=net.ServiceBackendPortArgs(number=SERVICE_PORT)
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        opts=opts,
    )
