"""GCP adapter: provider with default labels, GKE cluster lookup."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from ..config.cloud import CloudConfig, ClusterConfig
from . import exec_kubeconfig


def provider(name: str, cloud: CloudConfig, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.ProviderResource:
    """A Google provider pinned to the stack's project and region, labelling everything."""
    return gcp.Provider(name, project=cloud.project, region=cloud.region, default_labels=tags, opts=opts)


def cluster_kubeconfig(cloud: CloudConfig, cluster: ClusterConfig, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
    """Kubeconfig for an existing GKE cluster; tokens come from `gke-gcloud-auth-plugin`."""
    assert cluster.name is not None
    found = gcp.container.get_cluster_output(
        name=cluster.name,
        location=cluster.location or cloud.region,
        project=cloud.project,
        opts=pulumi.InvokeOutputOptions(provider=provider),
    )
    return exec_kubeconfig(
        cluster.name,
        found.endpoint.apply(lambda host: f"https://{host}"),
        found.master_auths.apply(lambda auths: auths[0].cluster_ca_certificate),
        "gke-gcloud-auth-plugin",
        [],
    )
