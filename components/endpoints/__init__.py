"""Managed inference endpoints: one cloud-neutral component rendered on SageMaker, Vertex AI or Azure ML."""

from ..catalog.endpoint_capabilities import MATRIX, Support
from ..config.endpoint_checks import capability_issues
from .cost import EndpointCost, endpoint_cost
from .endpoint import BuiltEndpoint, ManagedEndpoint, ManagedEndpointArgs, UnsupportedEndpointError

__all__ = [
    "MATRIX",
    "BuiltEndpoint",
    "EndpointCost",
    "ManagedEndpoint",
    "ManagedEndpointArgs",
    "Support",
    "UnsupportedEndpointError",
    "capability_issues",
    "endpoint_cost",
]
