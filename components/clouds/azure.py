"""Azure adapter: provider for the subscription, AKS cluster lookup."""

from __future__ import annotations

import base64

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import containerservice

from ..config.cloud import CloudConfig, ClusterConfig


def provider(name: str, cloud: CloudConfig, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.ProviderResource:
    """An azure-native provider pinned to the stack's subscription and location.

    azure-native has no default tags; components pass ``tags`` on every taggable resource.
    """
    return azure_native.Provider(name, subscription_id=cloud.subscription_id, location=cloud.location, opts=opts)


def cluster_kubeconfig(cloud: CloudConfig, cluster: ClusterConfig, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
    """Kubeconfig for an existing AKS cluster in `exec` format: tokens come from `kubelogin` (Entra ID)."""
    assert cluster.name is not None and cloud.resource_group is not None
    creds = containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=cloud.resource_group,
        resource_name=cluster.name,
        format="exec",
        opts=pulumi.InvokeOutputOptions(provider=provider),
    )
    return pulumi.Output.secret(creds.kubeconfigs.apply(lambda items: base64.b64decode(items[0].value).decode()))
