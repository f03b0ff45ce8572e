"""The mlops-platform policies, importable without starting the policy server.

``ALL_POLICIES`` is what ``policies/__main__.py`` builds the ``PolicyPack`` from and what
``runner.evaluate`` runs offline over the resources a synthesis records.
"""

from __future__ import annotations

from . import availability, cost, databases, kubernetes, protection, serving, storage, tagging
from .settings import AnyPolicy

PACK_NAME = "mlops-platform"

Policy = AnyPolicy

ALL_POLICIES: list[Policy] = [
    *kubernetes.POLICIES,
    *availability.POLICIES,
    *storage.POLICIES,
    *databases.POLICIES,
    *protection.POLICIES,
    *serving.POLICIES,
    *tagging.POLICIES,
    *cost.POLICIES,
]
"""Every policy of the pack, in the order the pack lists them."""

POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
if len(POLICIES_BY_NAME) != len(ALL_POLICIES):  # pragma: no cover - a programming error
    raise RuntimeError("two policies share a name")

__all__ = ["ALL_POLICIES", "PACK_NAME", "POLICIES_BY_NAME", "Policy"]
