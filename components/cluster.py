"""Access to the Kubernetes cluster the platform deploys into."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .clouds import adapter
from .config.cloud import CloudConfig, ClusterConfig


@dataclass(frozen=True)
class ClusterAccessArgs:
    """Where the cluster is and how to authenticate to it."""

    cloud: CloudConfig
    """The stack's `cloud` section: the provider it builds (region, account guard, default tags)."""
    cluster: ClusterConfig
    """The stack's `cluster` section: how the Kubernetes provider reaches the cluster."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags for every cloud resource (applied as provider default tags where the cloud supports it)."""
    kubeconfig_secret: pulumi.Output[str] | None = None
    """The kubeconfig, for source `kubeconfig_secret` (a Pulumi secret)."""


class ClusterAccess(pulumi.ComponentResource):
    """The explicit cloud provider and a Kubernetes provider for the target cluster.

    Every Kubernetes object of the platform uses ``k8s_provider``, never the ambient
    kubeconfig, so a stack can never deploy to whatever cluster a shell happens to point at.
    """

    cloud_provider: pulumi.ProviderResource | None
    """None on provider `kubernetes`, which has no cloud account."""
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:platform:ClusterAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        has_cloud = args.cloud.provider != "kubernetes"
        cloud = adapter(args.cloud.provider) if has_cloud else None
        self.cloud_provider = cloud.provider(f"{name}-{args.cloud.provider}", args.cloud, args.tags, child) if cloud else None
        source = args.cluster.source
        kubeconfig: pulumi.Input[str] | None = None
        self.render_directory: str | None = None
        if source == "render":
            self.render_directory = args.cluster.render_directory or f"build/engine/{pulumi.get_stack()}"
            identifier: pulumi.Input[str] = f"render/{self.render_directory}"
        elif source == "existing":
            assert cloud is not None and self.cloud_provider is not None  # validated: 'existing' needs a cloud
            kubeconfig = cloud.cluster_kubeconfig(args.cloud, args.cluster, self.cloud_provider)
            identifier = f"{args.cloud.provider}/{args.cluster.name}"
        elif source == "kubeconfig_file":
            # the provider reads the file (a path or the contents are both a kubeconfig to it), relative
            # to the project directory it runs in, so the program runs the same with or without the file
            assert args.cluster.kubeconfig_path is not None  # validated: required for 'kubeconfig_file'
            kubeconfig = args.cluster.kubeconfig_path
            identifier = f"file/{args.cluster.kubeconfig_path}"
        elif source == "kubeconfig_secret":
            if args.kubeconfig_secret is None:
                raise ValueError("ClusterAccessArgs.kubeconfig_secret is required for source 'kubeconfig_secret'")
            kubeconfig = args.kubeconfig_secret
            identifier = f"secret/{args.cluster.kubeconfig_key}"
        else:
            reference = pulumi.StackReference(f"{name}-cluster-stack", stack_name=args.cluster.stack, opts=child)
            kubeconfig = pulumi.Output.secret(reference.require_output(args.cluster.kubeconfig_output)).apply(str)
            identifier = f"stack/{args.cluster.stack}/{args.cluster.kubeconfig_output}"
        # Rendering writes files and needs no kubeconfig (and the provider refuses one beside it).
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            cluster_identifier=identifier if kubeconfig is not None else None,
            render_yaml_to_directory=self.render_directory,
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=child,
        )
        self.cluster_identifier = pulumi.Output.from_input(identifier)
        self.register_outputs({"cluster_identifier": self.cluster_identifier})
