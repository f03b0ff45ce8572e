"""How MLflow's Kubernetes objects are named and labelled: the selector of each pod role and every object's metadata.

Shared by the server and what exposes it (``exposure``), so neither reaches into the other's private names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .command import COMPONENT_LABEL, NAME_LABEL


def selector(component: str) -> dict[str, str]:
    """The labels that pick one pod role of MLflow (``server``, ``auth-proxy``, ``db-migration``)."""
    return {NAME_LABEL: "mlflow", COMPONENT_LABEL: component}


@dataclass(frozen=True)
class MlflowObjects:
    """The naming of one tracking server's objects."""

    name: str
    """The component's name: the prefix of its children's resource names."""
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    """Labels of every object, besides the role's selector and the MLflow version."""
    version: str
    """The MLflow version (``app.kubernetes.io/version``)."""

    def meta(self, object_name: str, component: str, annotations: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        """An object of the pod role ``component``, in the tracking namespace."""
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name,
            namespace=self.namespace,
            labels={**self.labels, **selector(component), "app.kubernetes.io/version": self.version},
            annotations=annotations,
        )
