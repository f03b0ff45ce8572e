"""AWS adapter: provider with default tags and account guard, EKS cluster lookup."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..config.cloud import CloudConfig, ClusterConfig
from . import exec_kubeconfig


def provider(name: str, cloud: CloudConfig, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.ProviderResource:
    """An AWS provider pinned to the stack's region (and account, when given), tagging everything."""
    return aws.Provider(
        name,
        region=cloud.region,
        allowed_account_ids=[cloud.account_id] if cloud.account_id else None,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        opts=opts,
    )


def cluster_kubeconfig(cloud: CloudConfig, cluster: ClusterConfig, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
    """Kubeconfig for an existing EKS cluster; tokens come from `aws eks get-token`."""
    assert cluster.name is not None and cloud.region is not None
    found = aws.eks.get_cluster_output(name=cluster.name, opts=pulumi.InvokeOutputOptions(provider=provider))
    return exec_kubeconfig(
        cluster.name,
        found.endpoint,
        found.certificate_authorities.apply(lambda cas: cas[0].data),
        "aws",
        ["eks", "get-token", "--cluster-name", cluster.name, "--region", cloud.region, "--output", "json"],
    )
