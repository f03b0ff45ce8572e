"""Exposure: no public LoadBalancer Service outside the gateway and its TLS termination (k8s-no-public-load-balancer)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import describe, kind_of
from .settings import AnyPolicy, message, schema, setting_flag, setting_text, settings

INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
TLS_LB_ANNOTATIONS = ("service.beta.kubernetes.io/aws-load-balancer-ssl-cert",)
_LB_SCHEMA = schema(
    gatewayAnnotation={
        "type": "string",
        "default": "mlops.platform/behind-gateway",
        "description": 'Annotation (value "true") marking a LoadBalancer Service as the gateway\'s own TLS-terminating entry point.',
    },
    allowInternal={"type": "boolean", "default": True, "description": "Allow internal (private) load balancers."},
)


def _check_load_balancer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if kind_of(args.resource_type) != "Service" or wire.text(wire.get(args.props, "spec", "type")) != "LoadBalancer":
        return
    values = settings(args, _LB_SCHEMA)
    gateway_key = setting_text(values, "gatewayAnnotation", "mlops.platform/behind-gateway")
    annotations = {k: v.lower() for k, v in wire.string_map(wire.get(args.props, "metadata", "annotations")).items()}
    if annotations.get(gateway_key) == "true" or any(annotations.get(k) for k in TLS_LB_ANNOTATIONS):
        return
    if setting_flag(values, "allowInternal", True) and any(annotations.get(k) == v for k, v in INTERNAL_LB_ANNOTATIONS.items()):
        return
    report(
        message(
            describe("Service", args.props, args.name),
            "is a public LoadBalancer that bypasses the gateway and its TLS termination",
            "use type ClusterIP and route through the gateway (Ingress/HTTPRoute), or make it internal with the cloud's "
            f'internal-LB annotation, or annotate the gateway\'s own TLS-terminating Service with {gateway_key}: "true"',
        ),
        None,
    )


no_public_load_balancer = ResourceValidationPolicy(
    name="k8s-no-public-load-balancer",
    description="No Service of type LoadBalancer is exposed publicly except behind the gateway/TLS.",
    validate=_check_load_balancer,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_LB_SCHEMA,
)


POLICIES: list[AnyPolicy] = [no_public_load_balancer]
