"""The inference API gateway: a Gateway API `Gateway` on Envoy Gateway with JWT auth, rate limits, TLS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.serving import GatewayConfig

GATEWAY_NAME = "inference"
CLIENT_HEADER = "x-client-id"
"""Set from the token's `rate_limit_claim` by the gateway (never by the client: it is removed on arrival);
rate limits count per value."""
ANY_IPV4, ANY_IPV6 = "0.0.0.0/0", "::/0"


def gateway_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """An HTTPS listener terminating TLS with the configured certificate; routes from this namespace only."""
    return {
        "gatewayClassName": cfg.gateway_class,
        "listeners": [
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": cfg.hostname,
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": cfg.tls_secret}]},
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }
        ],
    }


def _target() -> list[dict[str, str]]:
    return [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}]


def security_policy_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """JWT validation against the issuer's JWKS; the rate-limit claim becomes the client id header."""
    provider: dict[str, Any] = {
        "name": "oidc",
        "issuer": cfg.jwt_issuer,
        "remoteJWKS": {"uri": cfg.jwt_jwks_uri},
        "claimToHeaders": [{"claim": cfg.rate_limit_claim, "header": CLIENT_HEADER}],
    }
    if cfg.jwt_audiences:
        provider["audiences"] = list(cfg.jwt_audiences)
    return {"targetRefs": _target(), "jwt": {"providers": [provider]}}


def rate_limit_rules(cfg: GatewayConfig) -> list[dict[str, Any]]:
    """Every request counts against a per-client limit.

    With `jwt`: per value of the token's claim (the client id header the gateway sets once the token is
    valid), and per client IP over all tokens at `rate_limit_ip_rps`, which also bounds a token that lacks the
    claim (its requests carry no client id, and Envoy generates no descriptor for an absent header). Without
    auth: per client IP at `rate_limit_rps`. IPv4 and IPv6 each get a rule. The IP is the one Envoy sees, so
    behind a cloud load balancer the client address must be preserved (externalTrafficPolicy Local, or PROXY).
    """

    def per_ip(rps: int) -> list[dict[str, Any]]:
        return [
            {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": cidr}}], "limit": {"requests": rps, "unit": "Second"}}
            for cidr in (ANY_IPV4, ANY_IPV6)
        ]

    if cfg.auth != "jwt":
        return per_ip(cfg.rate_limit_rps)
    per_client = {
        "clientSelectors": [{"headers": [{"name": CLIENT_HEADER, "type": "Distinct"}]}],
        "limit": {"requests": cfg.rate_limit_rps, "unit": "Second"},
    }
    return [per_client, *per_ip(cfg.rate_limit_ip_rps or 10 * cfg.rate_limit_rps)]


def backend_traffic_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """Per-client request rate limit and the upstream request timeout."""
    return {
        "targetRefs": _target(),
        "rateLimit": {"type": "Global", "global": {"rules": rate_limit_rules(cfg)}},
        "timeout": {"http": {"requestTimeout": f"{cfg.request_timeout_seconds}s"}},
    }


def client_traffic_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """The largest request body the gateway buffers (and so accepts); a client id header sent by the client is
    dropped before any filter runs, so only the gateway's own (from the token) keys the rate limit."""
    return {
        "targetRefs": _target(),
        "connection": {"bufferLimit": f"{cfg.max_request_mb}Mi"},
        "headers": {"earlyRequestHeaders": {"remove": [CLIENT_HEADER]}},
    }


@dataclass(frozen=True)
class ServingGatewayArgs:
    """The gateway's settings and where it lives."""

    config: GatewayConfig
    """The gateway: host name, TLS certificate, authentication, rate limits, timeouts and body size."""
    namespace: pulumi.Input[str]
    """The serving namespace: the Gateway `inference` and its policies live beside the models' routes."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of every object. Default: none."""


class ServingGateway(pulumi.ComponentResource):
    """Gateway, SecurityPolicy (JWT), BackendTrafficPolicy (rate limit, timeout), ClientTrafficPolicy (body size).

    Requires Envoy Gateway (its CRDs and a GatewayClass) in the cluster; global rate limiting needs
    its rate limit service enabled. Model routes attach to ``gateway_name``.
    """

    def __init__(self, name: str, args: ServingGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:ServingGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config

        def meta(object_name: str) -> dict[str, Any]:
            return {"name": object_name, "namespace": args.namespace, "labels": args.labels}

        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata=meta(GATEWAY_NAME),
            spec=gateway_spec(cfg),
            opts=child,
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[gateway])
        if cfg.auth == "jwt":
            k8s.apiextensions.CustomResource(
                f"{name}-auth",
                api_version="gateway.envoyproxy.io/v1alpha1",
                kind="SecurityPolicy",
                metadata=meta(f"{GATEWAY_NAME}-auth"),
                spec=security_policy_spec(cfg),
                opts=after,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-limits",
            api_version="gateway.envoyproxy.io/v1alpha1",
            kind="BackendTrafficPolicy",
            metadata=meta(f"{GATEWAY_NAME}-limits"),
            spec=backend_traffic_spec(cfg),
            opts=after,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-client",
            api_version="gateway.envoyproxy.io/v1alpha1",
            kind="ClientTrafficPolicy",
            metadata=meta(f"{GATEWAY_NAME}-client"),
            spec=client_traffic_spec(cfg),
            opts=after,
        )
        self.gateway_name = GATEWAY_NAME
        self.register_outputs({"gateway_name": GATEWAY_NAME, "hostname": cfg.hostname})
