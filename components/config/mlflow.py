"""The MLflow tracking server and model registry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Hostname, Issue, StrictModel, raise_issues
from .secrets import SecretKey


class MlflowDatabase(StrictModel):
    """The managed PostgreSQL backend store (RDS / Cloud SQL / Azure Database for PostgreSQL)."""

    size: Literal["small", "medium", "large"] = Field(
        default="small",
        description="Cloud-neutral instance size, mapped per cloud to an instance class / tier / SKU. Default: `small`.",
    )
    storage_gb: int = Field(default=20, ge=20, le=16384, description="Allocated storage in GiB. Default: 20.")
    high_availability: bool = Field(default=False, description="Standby replica in a second zone. Default: false.")
    backup_retention_days: int = Field(default=7, ge=1, le=35, description="Automated backup retention in days. Default: 7.")


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

    @model_validator(mode="after")
    def _mode_fields(self) -> MlflowAuth:
        issues: list[Issue] = []
        if self.mode == "oidc":
            for field in ("issuer_url", "client_id"):
                if getattr(self, field) is None:
                    issues.append((field, None, "a value: required when mode is 'oidc'"))
        else:
            for field in ("issuer_url", "client_id", "client_secret_key"):
                if getattr(self, field) is not None:
                    issues.append((field, getattr(self, field), "not set: it does not apply to mode 'none'"))
        raise_issues(issues)
        return self

    @property
    def secret_key(self) -> str | None:
        """The config key of the client secret, when OIDC is on."""
        return (self.client_secret_key or "mlflowOidcClientSecret") if self.mode == "oidc" else None


class MlflowConfig(StrictModel):
    """The tracking server; the serving components pin versions from its registry."""

    enabled: bool = Field(default=True, description="Deploy the tracking server. Default: true.")
    version: str = Field(default="3.17.2", pattern=r"^\d+\.\d+\.\d+$", description="MLflow release to run. Default: `3.17.2`.")
    replicas: int = Field(default=1, ge=1, le=10, description="Server replicas. Default: 1.")
    workers: int = Field(default=2, ge=1, le=16, description="Worker processes per replica. Default: 2.")
    hostname: Hostname | None = Field(
        default=None, description="Public host name served through the ingress with TLS. Default: in-cluster only."
    )
    database: MlflowDatabase = Field(default_factory=MlflowDatabase, description="Backend database. Default: small, 20 GiB, no HA.")
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
