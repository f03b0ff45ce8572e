"""What the per-cloud adapters take and return: the backend database and the artifact store."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from ..clouds.target import CloudTarget
from ..config.mlflow import MlflowConfig
from ..identity import ObjectStoreGrant

DB_NAME = "mlflow"
DB_USER = "mlflow"
DB_PORT = 5432
ARTIFACT_PREFIX = "artifacts"
"""Key prefix of the artifacts in the bucket (the server's --artifacts-destination)."""
AZURE_CONTAINER = "mlflow-artifacts"
SYSTEM_TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt"
"""The Debian trust store of the MLflow image (python:*-slim installs ca-certificates)."""


def default_bucket_name(cloud: CloudTarget, project: str, stack: str) -> str:
    """A bucket (aws, gcp) or storage account (azure) name unique per account, project and stack, and stable."""
    account = {"aws": cloud.account_id or "", "gcp": cloud.project or "", "azure": cloud.subscription_id or ""}[cloud.provider]
    where = cloud.region or cloud.location or ""
    digest = hashlib.sha256(f"{cloud.provider}/{account}/{where}/{project}/{stack}".encode()).hexdigest()[:8]
    if cloud.provider == "azure":
        return f"mlflow{re.sub(r'[^a-z0-9]', '', stack.lower())[:10]}{digest}"
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", stack.lower())).strip("-")[:37].strip("-")
    return f"mlflow-artifacts-{slug}-{digest}" if slug else f"mlflow-artifacts-{digest}"


@dataclass(frozen=True)
class StoreArgs:
    """Everything an adapter needs to build the stateful resources of one tracking server."""

    name: str
    """The component's name; prefixes every child."""
    config: MlflowConfig
    cloud: CloudTarget
    cluster_name: pulumi.Input[str]
    cluster_location: str | None
    bucket: str
    """Bucket (aws, gcp) or storage account (azure) name."""
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False
    """protect + the cloud's deletion protection on the database and the bucket."""

    def stateful(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options of a resource that holds data: protected where the guardrails say so."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=self.protect))


@dataclass(frozen=True)
class DatabaseTls:
    """How the server verifies the database's certificate: libpq's ``sslmode`` and where its CA comes from.

    Exactly one source: ``ca_pem`` (certificates the cloud returns for this database, put in a ConfigMap),
    ``ca_url`` (a bundle the cloud publishes over HTTPS, fetched by an init container at pod start, because
    the bundle changes as CAs rotate) or ``ca_file`` (a file in the image, e.g. its system trust store).
    """

    mode: Literal["verify-full", "verify-ca"]
    ca_pem: pulumi.Input[str] | None = None
    ca_url: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if sum(source is not None for source in (self.ca_pem, self.ca_url, self.ca_file)) != 1:
            raise ValueError("DatabaseTls: exactly one of ca_pem, ca_url and ca_file")


@dataclass(frozen=True)
class BackendDatabase:
    """The PostgreSQL database the server stores runs and the registry in."""

    host: pulumi.Output[str]
    resources: list[pulumi.Resource]
    tls: DatabaseTls
    """How the server verifies the database (never just ``require``: that accepts any certificate)."""
    """What must exist before the schema migration connects (instance, database, user)."""
    port: int = DB_PORT
    database: str = DB_NAME
    user: str = DB_USER


@dataclass(frozen=True)
class ArtifactStore:
    """The bucket the server proxies artifacts to."""

    destination: str
    """The server's --artifacts-destination (s3://, gs://, wasbs://)."""
    grant: ObjectStoreGrant
    """What the server's workload identity may write."""
    resources: list[pulumi.Resource]
    env: dict[str, str] = field(default_factory=dict)
    """Extra plain environment of the server for the cloud's storage client."""
