"""Workload identity: a Kubernetes service account that reaches cloud object storage without keys.

IRSA on EKS, GKE Workload Identity, Azure Workload Identity: the component creates the service
account and the cloud-side identity and binding, scoped to exactly the buckets and prefixes given: on AWS
by the policy's object ARNs and an ``s3:prefix`` condition on listing, on GCP and Azure by a condition on
the bucket- or container-level role (``conditions.py``), since neither can scope a role below that.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from ..clouds.target import CloudTarget

GKE_METADATA = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))
"""GKE Workload Identity's metadata server (legacy and Dataplane V2 addresses): pods under a
NetworkPolicy need egress to it to get their tokens."""

_URI = re.compile(r"^(?P<scheme>s3|gs|as)://(?P<bucket>[^/]+)(/(?P<rest>.*))?$")
_ADAPTERS = {"aws": "aws", "gcp": "gcp", "azure": "azure", "kubernetes": "kubernetes"}


@dataclass(frozen=True)
class StoreLocation:
    """An object-store location: bucket (Azure: account and container) and key prefix."""

    scheme: str
    bucket: str
    container: str | None
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> StoreLocation:
        match = _URI.match(uri)
        if not match:
            raise ValueError(f"not an object-store URI: {uri!r}")
        rest = (match["rest"] or "").strip("/")
        if match["scheme"] == "as":
            container, _, prefix = rest.partition("/")
            return cls("as", match["bucket"], container, prefix)
        return cls(match["scheme"], match["bucket"], None, rest)


@dataclass(frozen=True)
class ObjectStoreGrant:
    """Access to one location: read-only unless ``write``."""

    uri: str
    """The location: `s3://<bucket>/<prefix>`, `gs://<bucket>/<prefix>` or `as://<account>/<container>/<prefix>`."""
    write: bool = False
    """Write as well as read. Default: read-only."""
    resource_id: pulumi.Input[str] | None = None
    """azure only: the container's ARM ID when the storage account is not in the stack's resource group."""


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    """Who (namespace and service account) gets what (object-store grants) in which cluster."""

    namespace: pulumi.Input[str]
    """The namespace of the service account (a name, or the Output of the namespace created in the same program)."""
    service_account: str
    """The Kubernetes service account the component creates; its pods get the cloud identity."""
    cloud: CloudTarget
    """The cloud: IAM role (aws), service account (gcp), managed identity (azure), or none (`kubernetes`: keys in a Secret)."""
    cluster_name: pulumi.Input[str]
    """The managed cluster whose OIDC issuer the identity trusts (unused on provider `kubernetes`)."""
    grants: list[ObjectStoreGrant] = field(default_factory=list)
    """What the identity may read or write. Default: nothing."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the service account. Default: none."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the Azure managed identity (azure-native has no provider default tags; on aws and gcp the provider's
    default tags apply). Default: none."""


@dataclass(frozen=True)
class CloudBinding:
    """What an adapter returns: the service account annotations and pod labels that bind it."""

    annotations: dict[str, pulumi.Input[str]]
    pod_labels: dict[str, str]
    identity: pulumi.Output[str]
    """Role ARN, Google service account email or Azure client ID."""


class WorkloadIdentity(pulumi.ComponentResource):
    """A service account bound to a least-privilege cloud identity.

    Outputs: ``service_account_name``, ``pod_labels`` (labels the pods must carry; Azure needs one)
    and ``identity`` (the cloud identity the pods act as).

    The providers come from ``opts`` (``pulumi.ResourceOptions(providers=[cloud_provider, k8s_provider])``; on
    provider `kubernetes` the Kubernetes one alone): the cloud resources and the service account are children of
    the component and inherit the provider of their package.
    """

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:identity:WorkloadIdentity", name, None, opts)
        adapter = importlib.import_module(f"{__package__}.{_ADAPTERS[args.cloud.provider]}")
        locations = [(StoreLocation.parse(g.uri), g) for g in args.grants]
        child = pulumi.ResourceOptions(parent=self)
        binding: CloudBinding = adapter.bind(name, args, locations, child)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.service_account, namespace=args.namespace, labels=args.labels, annotations=binding.annotations
            ),
            automount_service_account_token=False,
            opts=child,
        )
        self.service_account_name = account.metadata.name
        self.pod_labels = binding.pod_labels
        self.identity = binding.identity
        self.register_outputs({"service_account_name": self.service_account_name, "identity": self.identity})
