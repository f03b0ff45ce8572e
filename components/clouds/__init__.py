"""Thin per-cloud adapters. Each module imports only its own cloud SDK, so a stack loads one."""

from __future__ import annotations

import importlib
from typing import Protocol

import pulumi

from ..config.cloud import CloudConfig, ClusterConfig


class CloudAdapter(Protocol):
    """What the cloud-neutral core asks of a cloud."""

    def provider(self, name: str, cloud: CloudConfig, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.ProviderResource:
        """The explicit cloud provider every cloud resource of the stack uses (region, default tags)."""
        ...

    def cluster_kubeconfig(self, cloud: CloudConfig, cluster: ClusterConfig, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
        """A kubeconfig for an existing managed cluster, authenticating through the cloud's CLI plugin."""
        ...


def adapter(provider: str) -> CloudAdapter:
    """The adapter module of ``provider`` (imported on first use)."""
    module = importlib.import_module(f"{__name__}.{provider}")
    return module


def exec_kubeconfig(
    cluster: str, server: pulumi.Input[str], ca_data: pulumi.Input[str], command: str, args: list[str]
) -> pulumi.Output[str]:
    """A kubeconfig that fetches short-lived tokens through an exec credential plugin (no stored credentials)."""
    import json

    def render(values: list[str]) -> str:
        endpoint, ca = values
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "users": [
                {
                    "name": cluster,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": command,
                            "args": args,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
        }
        return json.dumps(doc, sort_keys=True)

    return pulumi.Output.all(server, ca_data).apply(render)
