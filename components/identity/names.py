"""Cloud identity names that are unique across stacks and models, stable across runs, and valid.

GCP service-account ids are 6-30 characters, `[a-z][-a-z0-9]*[a-z0-9]`, unique per project, and cut
short names collide: `wi-triton-recommendation-ranker-a` and `-b` both truncated to the same 30
characters, and two stacks in one project named the same account. Azure role-assignment names are
GUIDs unique per scope (here the storage container two stacks may share). Each name therefore carries
a short hash of the stack, the cluster and the full logical name: readable where it can be, unique
where it must be, and the same on every run of the same stack.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pulumi

GCP_ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
"""What GCP accepts as a service-account id (iam.serviceAccounts.create, `accountId`)."""

_HASH_LENGTH = 6


def _scope(*parts: str) -> str:
    return "/".join((pulumi.get_project(), pulumi.get_stack(), *parts))


def gcp_account_id(prefix: str, name: str, *scope: str) -> str:
    """``<prefix>-<name, shortened>-<6 hex>``, at most 30 characters; the hash covers the project, stack,
    ``scope`` and the whole ``name``, so two names that share their first characters still differ."""
    digest = hashlib.sha256(_scope(*scope, prefix, name).encode()).hexdigest()[:_HASH_LENGTH]
    room = 30 - len(prefix) - len(digest) - 2
    readable = re.sub(r"[^a-z0-9-]", "-", name.lower())[:room].strip("-")
    account_id = f"{prefix}-{readable}-{digest}" if readable else f"{prefix}-{digest}"
    if not GCP_ACCOUNT_ID.match(account_id):
        raise ValueError(f"cannot derive a valid GCP service-account id from {prefix!r} and {name!r}: got {account_id!r}")
    return account_id


def azure_role_assignment_name(*parts: str) -> str:
    """A GUID derived from the project, stack and ``parts`` (logical name, scope, role): stable, and distinct
    for two stacks that grant on the same container."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, _scope(*parts)))
