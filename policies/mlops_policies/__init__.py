"""The mlops-platform policies, importable without starting the policy server.

``ALL_POLICIES`` is what ``policies/__main__.py`` builds the ``PolicyPack`` from and what
``runner.evaluate`` runs offline over the resources a synthesis records. Each module holds one group
of policies, named for what they check (``k8s_images``: ``k8s-image-pinned``); ``k8s_objects`` and
``wire`` read the resources, ``settings`` the pack config.
"""

from __future__ import annotations

from . import (
    availability,
    canary_weights,
    cost,
    databases,
    endpoints,
    k8s_exposure,
    k8s_images,
    k8s_pod_security,
    k8s_resources,
    k8s_scheduling,
    model_versions,
    protection,
    storage,
    tagging,
)
from .settings import AnyPolicy

PACK_NAME = "mlops-platform"

Policy = AnyPolicy

ALL_POLICIES: list[Policy] = [
    *k8s_resources.POLICIES,
    *k8s_images.POLICIES,
    *k8s_pod_security.POLICIES,
    *k8s_scheduling.POLICIES,
    *k8s_exposure.POLICIES,
    *availability.POLICIES,
    *storage.POLICIES,
    *databases.POLICIES,
    *protection.POLICIES,
    *endpoints.POLICIES,
    *canary_weights.POLICIES,
    *model_versions.POLICIES,
    *tagging.POLICIES,
    *cost.POLICIES,
]
"""Every policy of the pack, in the order the pack lists them."""

POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
if len(POLICIES_BY_NAME) != len(ALL_POLICIES):  # pragma: no cover - a programming error
    raise RuntimeError("two policies share a name")

__all__ = ["ALL_POLICIES", "PACK_NAME", "POLICIES_BY_NAME", "Policy"]
