"""Prefix-scoped grant conditions: the GCS IAM condition and the Azure ABAC condition for one key prefix.

Both clouds grant object roles on a whole bucket (container); a condition narrows them to the prefix, as
the S3 policy's resource ARNs and ``s3:prefix`` condition do on AWS:

* GCS (IAM Conditions on buckets, "Resource attributes for Cloud Storage" and the
  ``storage.googleapis.com/objectListPrefix`` API attribute,
  https://cloud.google.com/storage/docs/access-control/iam#conditions, read 2026-12-07): object operations
  match on ``resource.name``; listing is checked on the bucket, so it matches on the listed prefix. The
  bucket must use uniform bucket-level access (conditions are refused otherwise).
* Azure (ABAC "Example: Read, write, or delete blobs in named containers with a path" and "Read or list
  blobs ... with a path", https://learn.microsoft.com/azure/storage/blobs/storage-auth-abac-examples, read
  2026-12-07): each data action outside the prefix is denied by ``blobs:path``; listing by ``blobs:prefix``.
"""

from __future__ import annotations

import re

_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9._~=+@-]+(/[A-Za-z0-9._~=+@-]+)*$")
"""Prefixes the conditions quote: no quotes, backslashes or spaces can end the string literal early."""

_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_WRITE_ACTIONS = ("write", "add/action", "delete", "move/action")
"""Storage Blob Data Contributor's data actions besides read (move: hierarchical namespace accounts)."""


def _checked(prefix: str) -> str:
    if not _SAFE_PREFIX.match(prefix):
        raise ValueError(f"object prefix {prefix!r}: expected path segments of letters, digits and . _ ~ = + @ - separated by /")
    return prefix


def gcs_prefix_expression(bucket: str, prefix: str) -> str:
    """CEL: objects under ``prefix/`` of ``bucket``, and listings of that prefix."""
    prefix = _checked(prefix)
    listed = 'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
    return (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")'
        f' || {listed} == "{prefix}" || {listed}.startsWith("{prefix}/")'
    )


def azure_prefix_condition(container: str, prefix: str, write: bool) -> str:
    """ABAC condition (version 2.0): every blob action of the role only under ``prefix/`` of ``container``."""
    prefix = _checked(prefix)
    in_container = f"@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals '{container}'"
    denied = [f"!(ActionMatches{{'{_BLOBS}/read'}} AND NOT SubOperationMatches{{'Blob.List'}})"]
    if write:
        denied += [f"!(ActionMatches{{'{_BLOBS}/{action}'}})" for action in _WRITE_ACTIONS]
    objects = f"(({' AND '.join(denied)}) OR ({in_container} AND @Resource[{_BLOBS}:path] StringStartsWith '{prefix}/'))"
    listing = (
        f"((!(ActionMatches{{'{_BLOBS}/read'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR ({in_container} AND @Request[{_BLOBS}:prefix] StringStartsWith '{prefix}/'))"
    )
    return f"{objects} AND {listing}"
