"""The cloud-neutral managed endpoint component; `sagemaker`, `vertex` and `azureml` render it natively."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pulumi

from ..catalog.endpoint_capabilities import SERVICES
from ..clouds.target import CloudTarget
from ..config.endpoint_checks import capability_issues, physical_name
from ..config.endpoints import ManagedEndpointConfig
from .cost import EndpointCost, endpoint_cost

_ADAPTERS = {"aws": "sagemaker", "gcp": "vertex", "azure": "azureml"}


class UnsupportedEndpointError(ValueError):
    """The endpoint asks for something its cloud cannot do (see the capability matrix)."""


@dataclass(frozen=True)
class ManagedEndpointArgs:
    """One endpoint, described once for every cloud."""

    endpoint: ManagedEndpointConfig
    """The endpoint itself: model, image, instances, autoscaling, release strategy, candidates, data capture, network."""
    cloud: CloudTarget
    """The stack's cloud; selects the adapter and the price table, and its region the prices."""
    environment: str
    """The stack's environment; part of the endpoint's physical name (`<name>-<environment>`)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags (AWS, Azure) or labels (GCP) for every taggable resource."""
    protect_stateful: bool = False
    """`protect` the data-capture bucket or dataset (guardrails.protect_stateful)."""


@dataclass(frozen=True)
class BuiltEndpoint:
    """What an adapter returns: the native endpoint and how to call it."""

    endpoint: pulumi.CustomResource
    name: pulumi.Output[str]
    """The endpoint's name (SageMaker, Azure ML) or resource name (Vertex AI)."""
    invoke_url: pulumi.Output[str]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Every other native resource, by role (for tests and wiring)."""


class ManagedEndpoint(pulumi.ComponentResource):
    """A model on SageMaker, Vertex AI or Azure ML with autoscaling, release strategy, candidates and data capture.

    Outputs: ``endpoint_name`` (what clients call), ``invoke_url``, ``cost`` (hourly per instance, monthly at min
    and max instances, with the price's source) and ``native`` (the adapter's resources).

    The cloud provider comes from ``opts`` (``pulumi.ResourceOptions(providers=[cloud_provider])``): every cloud
    resource is a child of the component and inherits it. The dynamic resources (Vertex AI deployment, Azure ML
    traffic) run in Pulumi's Python provider host and use no cloud provider.
    """

    cost: EndpointCost
    native: BuiltEndpoint

    def __init__(self, name: str, args: ManagedEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        cloud = args.cloud.provider
        # Checked before anything is registered, also when the component is built outside the validated config.
        issues = capability_issues(args.endpoint, cloud, args.environment)
        if issues:
            lines = "\n".join(f"  - {path}: got {value!r}; expected {what}" for path, value, what in issues)
            raise UnsupportedEndpointError(f"managed endpoint '{args.endpoint.name}' on {SERVICES[cloud]}:\n{lines}")
        super().__init__("mlops:serving:ManagedEndpoint", name, None, opts)
        self.cost = endpoint_cost(args.endpoint, cloud, args.cloud.price_region)
        self.physical_name = physical_name(args.endpoint, args.environment)
        adapter = importlib.import_module(f"{__package__}.{_ADAPTERS[cloud]}")
        child = pulumi.ResourceOptions(parent=self)
        self.native = adapter.build(name, args, self.physical_name, child)
        self.endpoint_name = self.native.name
        self.invoke_url = self.native.invoke_url
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "invoke_url": self.invoke_url,
                "monthly_cost_usd": {"min": self.cost.monthly_at_min, "max": self.cost.monthly_at_max},
            }
        )
