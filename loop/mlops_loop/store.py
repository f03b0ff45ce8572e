"""Object-store access through fsspec: one code path for S3, GCS and Azure Blob Storage.

URIs use the platform's schemes: ``s3://bucket/prefix``, ``gs://bucket/prefix`` and
``as://account/container/prefix`` (Azure; fsspec's ``abfs`` with the account as an option). Local
paths (``file://`` or absolute) serve tests and one-off runs. Credentials come from the pod's workload
identity through each SDK's default chain; ``AWS_ENDPOINT_URL`` points S3 elsewhere (tests, MinIO).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec


@dataclass(frozen=True)
class Location:
    """A filesystem and a path inside it."""

    fs: Any
    path: str

    def child(self, *parts: str) -> Location:
        return Location(self.fs, "/".join([self.path.rstrip("/"), *(p.strip("/") for p in parts)]))


def open_location(uri: str) -> Location:
    """The filesystem and path of a URI."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return Location(fsspec.filesystem("file"), os.path.abspath(uri))
    if scheme == "file":
        return Location(fsspec.filesystem("file"), "/" + rest.lstrip("/"))
    if scheme == "s3":
        options: dict[str, Any] = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
        return Location(fsspec.filesystem("s3", **options), rest)
    if scheme == "gs":
        return Location(fsspec.filesystem("gcs"), rest)
    if scheme == "as":
        account, _, path = rest.partition("/")
        return Location(fsspec.filesystem("abfs", account_name=account, anon=False), path)
    raise ValueError(f"unsupported object-store URI {uri!r}: expected s3://, gs://, as:// or a local path")


@dataclass(frozen=True)
class StoredObject:
    path: str
    modified: datetime
    size: int


def _modified(info: dict[str, Any]) -> datetime:
    for key in ("LastModified", "last_modified", "updated", "mtime", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    raise ValueError(f"the object store reports no modification time for {info.get('name')!r}")


def list_objects(location: Location) -> list[StoredObject]:
    """Every object under a prefix, oldest first (ties by path); none when the prefix does not exist."""
    try:
        found = location.fs.find(location.path, detail=True)
    except FileNotFoundError:
        return []
    objects = [
        StoredObject(path, _modified(info), int(info.get("size") or 0)) for path, info in found.items() if info.get("type") != "directory"
    ]
    return sorted(objects, key=lambda o: (o.modified, o.path))


def read_bytes(location: Location, path: str | None = None) -> bytes:
    with location.fs.open(path or location.path, "rb") as handle:
        data: bytes = handle.read()
        return data


def write_bytes(location: Location, data: bytes) -> None:
    """Write one object. Object stores have no directories: only a local path gets its parents made (s3fs's
    makedirs would check and try to create the bucket, which a prefix-scoped identity may not do)."""
    protocols = (location.fs.protocol,) if isinstance(location.fs.protocol, str) else tuple(location.fs.protocol)
    if "file" in protocols:
        parent = location.path.rsplit("/", 1)[0]
        if parent:
            location.fs.makedirs(parent, exist_ok=True)
    location.fs.pipe_file(location.path, data)


def exists(location: Location) -> bool:
    return bool(location.fs.exists(location.path))
