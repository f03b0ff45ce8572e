"""The MLflow tracking server and model registry."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import CpuQuantity, DnsLabel, Hostname, Issue, MemoryQuantity, StrictModel, raise_issues
from .secrets import SecretKey

DEFAULT_IMAGE = "ghcr.io/mlflow/mlflow:v{version}-full"
"""The official MLflow image with the database drivers and cloud storage clients (published from 3.9.0 on)."""
DEFAULT_PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.5"
"""The OIDC proxy in front of the server (oauth2-proxy, a distroless image running as UID 65532)."""

AZURE_STORAGE_SIZES_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
"""Storage sizes Azure Database for PostgreSQL flexible server offers (premium SSD)."""
AZURE_MIN_BACKUP_DAYS = 7
"""Azure flexible server keeps backups 7-35 days."""

_S3_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


class MlflowDatabaseNetwork(StrictModel):
    """Where the database's private endpoint lives. Only the stack's cloud's fields may be set."""

    subnet_ids: list[str] | None = Field(
        default=None,
        min_length=2,
        description="aws only: subnets of the DB subnet group (private, in two or more zones). Default: the EKS cluster's subnets.",
    )
    client_security_group_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        description="aws only: security groups whose members may connect on port 5432. Default: the EKS cluster security group.",
    )
    vpc_network: str | None = Field(
        default=None,
        description="gcp only: the VPC, with private services access, that the instance gets its private IP in; a network name "
        "or `projects/<project>/global/networks/<name>`. Default: the GKE cluster's network.",
    )
    delegated_subnet_id: str | None = Field(
        default=None,
        pattern=r"^/subscriptions/.+/subnets/[^/]+$",
        description="azure only: ARM ID of a subnet delegated to `Microsoft.DBforPostgreSQL/flexibleServers`, reachable from "
        "the AKS nodes. Required on azure.",
    )
    private_dns_zone_id: str | None = Field(
        default=None,
        pattern=r"^/subscriptions/.+/privateDnsZones/[^/]+\.postgres\.database\.azure\.com$",
        description="azure only: ARM ID of the private DNS zone (`<name>.private.postgres.database.azure.com`) linked to the "
        "AKS virtual network. Required on azure.",
    )


class MlflowDatabase(StrictModel):
    """The managed PostgreSQL backend store (RDS / Cloud SQL / Azure Database for PostgreSQL)."""

    size: Literal["small", "medium", "large"] = Field(
        default="small",
        description="Cloud-neutral instance size, mapped per cloud to an instance class / tier / SKU. Default: `small`.",
    )
    storage_gb: int = Field(default=20, ge=20, le=16384, description="Allocated storage in GiB. Default: 20.")
    high_availability: bool = Field(default=False, description="Standby replica in a second zone. Default: false.")
    backup_retention_days: int = Field(default=7, ge=1, le=35, description="Automated backup retention in days. Default: 7.")
    engine_version: Literal["15", "16", "17"] = Field(
        default="16", description="PostgreSQL major version; minor versions are upgraded by the cloud. Default: `16`."
    )
    network: MlflowDatabaseNetwork = Field(
        default_factory=MlflowDatabaseNetwork,
        description="Private networking. Default: derived from the cluster on aws and gcp; azure requires its two fields.",
    )


class MlflowAuth(StrictModel):
    """Authentication in front of the tracking server."""

    mode: Literal["none", "oidc"] = Field(
        default="oidc", description="`oidc` (an OIDC proxy in front of MLflow) or `none` (dev only). Default: `oidc`."
    )
    issuer_url: str | None = Field(
        default=None, pattern=r"^https://", description="`oidc` only: the issuer URL (https). Required for `oidc`."
    )
    client_id: str | None = Field(default=None, description="`oidc` only: the OAuth client ID. Required for `oidc`.")
    client_secret_key: SecretKey | None = Field(
        default=None,
        description="`oidc` only: secret config key holding the OAuth client secret. Default: `mlflowOidcClientSecret`.",
    )
    email_domains: list[str] | None = Field(
        default=None,
        min_length=1,
        description="`oidc` only: e-mail domains whose users may sign in, e.g. `[acme.example]`; outside dev this or "
        "`allowed_groups` is required. Default: every account the issuer authenticates (dev only).",
    )
    allowed_groups: list[str] | None = Field(
        default=None,
        min_length=1,
        description="`oidc` only: groups (the token's `groups` claim) whose members may sign in; with `email_domains` a "
        "user needs both. Default: no group check.",
    )
    proxy_image: str | None = Field(
        default=None,
        pattern=r"^[^\s]+:[^\s:@/]+(@sha256:[0-9a-f]{64})?$",
        description=f"`oidc` only: the oauth2-proxy image, tag-pinned (and by digest where required). Default: `{DEFAULT_PROXY_IMAGE}`.",
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> MlflowAuth:
        issues: list[Issue] = []
        if self.mode == "oidc":
            for field in ("issuer_url", "client_id"):
                if getattr(self, field) is None:
                    issues.append((field, None, "a value: required when mode is 'oidc'"))
        else:
            for field in ("issuer_url", "client_id", "client_secret_key", "email_domains", "allowed_groups", "proxy_image"):
                if getattr(self, field) is not None:
                    issues.append((field, getattr(self, field), "not set: it does not apply to mode 'none'"))
        raise_issues(issues)
        return self

    @property
    def secret_key(self) -> str | None:
        """The config key of the client secret, when OIDC is on."""
        return (self.client_secret_key or "mlflowOidcClientSecret") if self.mode == "oidc" else None

    @property
    def image(self) -> str:
        """The oauth2-proxy image to run."""
        return self.proxy_image or DEFAULT_PROXY_IMAGE


class MlflowResources(StrictModel):
    """CPU, memory and scratch space of one server replica."""

    cpu: CpuQuantity = Field(default="500m", description="CPU request per replica. Default: `500m`.")
    cpu_limit: CpuQuantity = Field(default="2", description="CPU limit per replica. Default: `2`.")
    memory: MemoryQuantity = Field(
        default="2Gi", description="Memory request and limit per replica (about 400Mi per worker). Default: `2Gi`."
    )
    scratch: MemoryQuantity = Field(
        default="10Gi",
        description="Size of the writable /tmp (an emptyDir) that proxied artifact uploads pass through; bounds the largest "
        "artifact. Default: `10Gi`.",
    )

    @model_validator(mode="after")
    def _request_within_limit(self) -> MlflowResources:
        if _millicores(self.cpu) > _millicores(self.cpu_limit):
            raise_issues([("cpu", self.cpu, f"at most cpu_limit ({self.cpu_limit})")])
        return self


class MlflowIngress(StrictModel):
    """The Ingress that publishes `hostname` with TLS (through the OIDC proxy)."""

    class_name: str = Field(default="nginx", min_length=1, description="IngressClass of the cluster's controller. Default: `nginx`.")
    tls_secret: DnsLabel = Field(
        default="mlflow-tls",
        description="Secret holding the TLS certificate: issued by cert-manager when `cluster_issuer` is set, else it must "
        "exist. Default: `mlflow-tls`.",
    )
    cluster_issuer: str | None = Field(
        default=None,
        min_length=1,
        description="cert-manager ClusterIssuer that issues the certificate. Default: none (the TLS secret is provided).",
    )


class MlflowConfig(StrictModel):
    """The tracking server; the serving components pin versions from its registry."""

    enabled: bool = Field(default=True, description="Deploy the tracking server. Default: true.")
    version: str = Field(default="3.17.2", pattern=r"^\d+\.\d+\.\d+$", description="MLflow release to run. Default: `3.17.2`.")
    image: str | None = Field(
        default=None,
        pattern=r"^[^\s]+:[^\s:@/]+(@sha256:[0-9a-f]{64})?$",
        description="Server image running MLflow `version` with the PostgreSQL driver and the cloud's storage client, "
        "tag-pinned (and by digest where required). Default: `ghcr.io/mlflow/mlflow:v<version>-full`.",
    )
    replicas: int = Field(default=1, ge=1, le=10, description="Server replicas. Default: 1.")
    workers: int = Field(default=2, ge=1, le=16, description="Worker processes per replica. Default: 2.")
    resources: MlflowResources = Field(
        default_factory=MlflowResources, description="Per-replica resources. Default: 500m-2 CPU, 2Gi memory, 10Gi scratch."
    )
    hostname: Hostname | None = Field(
        default=None, description="Public host name served through the ingress with TLS. Default: in-cluster only."
    )
    ingress: MlflowIngress = Field(
        default_factory=MlflowIngress, description="How `hostname` is published. Default: class `nginx`, secret `mlflow-tls`."
    )
    database: MlflowDatabase = Field(default_factory=MlflowDatabase, description="Backend database. Default: small, 20 GiB, no HA.")
    artifact_bucket: str | None = Field(
        default=None,
        description="Name of the artifact bucket (aws, gcp) or storage account (azure) the stack creates. "
        "Default: `mlflow-artifacts-<stack>-<hash>` (azure: `mlflow<stack><hash>`), unique per cloud account and stack.",
    )
    artifact_noncurrent_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days a replaced or deleted artifact version is kept in the versioned bucket. Default: 90.",
    )
    auth: MlflowAuth = Field(
        default_factory=lambda: MlflowAuth(mode="none"),
        description="Authentication. Default: `mode: none`, which only dev stacks accept.",
    )

    @model_validator(mode="after")
    def _image_version(self) -> MlflowConfig:
        major, minor, _ = (int(p) for p in self.version.split("."))
        if self.image is None and (major, minor) < (3, 9):
            raise_issues([("version", self.version, "3.9.0 or later (the first release with a -full image), or set image")])
        return self

    @property
    def server_image(self) -> str:
        """The MLflow image to run."""
        return self.image or DEFAULT_IMAGE.format(version=self.version)


def mlflow_issues(mlflow: MlflowConfig, provider: str, *, cluster_name: object = None, require_image_digest: bool = False) -> list[Issue]:
    """Problems of the `mlflow` section that depend on the cloud, the cluster or the guardrails.

    ``cluster_name`` only counts as given or not (None): the component passes a ``pulumi.Input[str]`` there.

    Paths are absolute (`mlflow.database...`); meant for the cross-section checks, and used by the
    MlflowServer component as a backstop.
    """
    if not mlflow.enabled:
        return []
    issues: list[Issue] = []
    db = mlflow.database
    net = db.network
    if cluster_name is None:
        issues.append(("cluster.name", None, "the managed cluster's name: the MLflow server's workload identity binds to its issuer"))
    if mlflow.hostname is not None and mlflow.auth.mode == "none":
        issues.append(
            (
                "mlflow.hostname",
                mlflow.hostname,
                "not set while auth.mode is 'none': the ingress would publish the tracking server without authentication",
            )
        )
    own = {
        "aws": {"subnet_ids", "client_security_group_ids"},
        "gcp": {"vpc_network"},
        "azure": {"delegated_subnet_id", "private_dns_zone_id"},
    }
    for field in MlflowDatabaseNetwork.model_fields:
        value = getattr(net, field)
        if value is not None and field not in own.get(provider, set()):
            issues.append((f"mlflow.database.network.{field}", value, f"not set: it does not apply to provider '{provider}'"))
    if provider == "azure":
        for field in ("delegated_subnet_id", "private_dns_zone_id"):
            if getattr(net, field) is None:
                issues.append((f"mlflow.database.network.{field}", None, "a value: required on azure (private access)"))
        if db.storage_gb not in AZURE_STORAGE_SIZES_GB:
            sizes = ", ".join(map(str, AZURE_STORAGE_SIZES_GB))
            issues.append(("mlflow.database.storage_gb", db.storage_gb, f"one of the sizes Azure offers: {sizes}"))
        if db.backup_retention_days < AZURE_MIN_BACKUP_DAYS:
            issues.append(("mlflow.database.backup_retention_days", db.backup_retention_days, "7-35: Azure keeps backups 7 days or more"))
        if db.size == "small" and db.high_availability:
            issues.append(("mlflow.database.size", "small", "medium or large: Azure's Burstable tier (small) has no high availability"))
    if mlflow.artifact_bucket is not None:
        pattern, expected = (
            (_AZURE_ACCOUNT, "3-24 lowercase letters and digits (an Azure storage account name)")
            if provider == "azure"
            else (_S3_GCS_BUCKET, "3-63 lowercase letters, digits and '-', starting and ending with a letter or digit")
        )
        if not pattern.match(mlflow.artifact_bucket):
            issues.append(("mlflow.artifact_bucket", mlflow.artifact_bucket, expected))
    if require_image_digest:
        images = [("mlflow.image", mlflow.server_image)]
        if mlflow.auth.mode == "oidc":
            images.append(("mlflow.auth.proxy_image", mlflow.auth.image))
        for path, image in images:
            if not _DIGEST.search(image):
                issues.append((path, image, "an image pinned by digest (<image>:<tag>@sha256:<digest>): guardrails.require_image_digest"))
    return issues
