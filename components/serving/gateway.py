"""The inference API gateway: a Gateway API `Gateway` on Envoy Gateway with JWT auth, rate limits, TLS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.serving import GatewayConfig

GATEWAY_NAME = "inference"
CLIENT_HEADER = "x-client-id"
"""Set from the token's `sub` claim by the gateway; rate limits count per value."""


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
    """JWT validation against the issuer's JWKS; the `sub` claim becomes the client id header."""
    provider: dict[str, Any] = {
        "name": "oidc",
        "issuer": cfg.jwt_issuer,
        "remoteJWKS": {"uri": cfg.jwt_jwks_uri},
        "claimToHeaders": [{"claim": "sub", "header": CLIENT_HEADER}],
    }
    if cfg.jwt_audiences:
        provider["audiences"] = list(cfg.jwt_audiences)
    return {"targetRefs": _target(), "jwt": {"providers": [provider]}}


def backend_traffic_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """Per-client request rate limit and the upstream request timeout."""
    return {
        "targetRefs": _target(),
        "rateLimit": {
            "type": "Global",
            "global": {
                "rules": [
                    {
                        "clientSelectors": [{"headers": [{"name": CLIENT_HEADER, "type": "Distinct"}]}],
                        "limit": {"requests": cfg.rate_limit_rps, "unit": "Second"},
                    }
                ]
            },
        },
        "timeout": {"http": {"requestTimeout": f"{cfg.request_timeout_seconds}s"}},
    }


def client_traffic_spec(cfg: GatewayConfig) -> dict[str, Any]:
    """The largest request body the gateway buffers (and so accepts)."""
    return {"targetRefs": _target(), "connection": {"bufferLimit": f"{cfg.max_request_mb}Mi"}}


@dataclass(frozen=True)
class ServingGatewayArgs:
    """The gateway's settings and where it lives."""

    config: GatewayConfig
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)


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
