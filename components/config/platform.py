"""The root of the configuration tree: one validated object per stack."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import DnsLabel, Issue, StrictModel, raise_issues
from .base import Tags as TagMap
from .checks import Sections, cross_section_issues
from .cloud import CloudConfig, ClusterConfig
from .endpoints import ManagedEndpointConfig
from .gpu import GpuOperatorConfig, GpuPoolConfig
from .guardrails import GUARDRAIL_DEFAULTS, Guardrails
from .mlflow import MlflowConfig
from .monitoring import MonitoringConfig
from .serving import ModelConfig, ServingConfig

Environment = Literal["dev", "staging", "canary", "prod"]


class Tags(StrictModel):
    """Ownership labels applied to every taggable resource and Kubernetes object."""

    team: DnsLabel = Field(description="Owning team. Required.")
    cost_center: str = Field(
        pattern=r"^[a-z0-9][-a-z0-9_]{0,62}$",
        description="Cost center for chargeback (lowercase, so it is a valid label on every cloud). Required.",
    )
    extra: TagMap = Field(default_factory=dict, description="More tags, in the form every cloud accepts (lowercase). Default: none.")


class Budget(StrictModel):
    """The stack's GPU spending limit that the cost estimate is compared against.

    It covers what the estimate prices: GPU node pools and managed endpoint instances. Databases, volumes, load
    balancers, storage and traffic are billed too but not estimated, so they are not part of this budget.
    """

    gpu_monthly_usd: float = Field(
        gt=0,
        description="Monthly budget in US dollars for GPU compute: the GPU node pools at max nodes and the managed endpoints "
        "at max instances (databases, volumes, load balancers, storage and traffic are not estimated). Required.",
    )


class Namespaces(StrictModel):
    """Kubernetes namespaces the platform creates and owns."""

    serving: DnsLabel = Field(default="ml-serving", description="Namespace of the Triton deployments. Default: `ml-serving`.")
    tracking: DnsLabel = Field(default="mlflow", description="Namespace of the MLflow server. Default: `mlflow`.")
    monitoring: DnsLabel = Field(default="monitoring", description="Namespace of the monitoring stack. Default: `monitoring`.")

    @model_validator(mode="after")
    def _distinct(self) -> Namespaces:
        seen: dict[str, str] = {}
        issues: list[Issue] = []
        for field in ("serving", "tracking", "monitoring"):
            value = getattr(self, field)
            if value in seen:
                issues.append((field, value, f"a namespace different from {seen[value]}"))
            seen[value] = field
        raise_issues(issues)
        return self


class PlatformConfig(StrictModel):
    """Everything one stack of the platform is built from."""

    environment: Environment = Field(
        description="Environment tier: `dev`, `staging`, `canary` or `prod`; sets the guardrail defaults. Required."
    )
    cloud: CloudConfig = Field(description="Cloud account. Required.")
    cluster: ClusterConfig = Field(description="Kubernetes cluster to deploy into. Required.")
    tags: Tags = Field(description="Ownership tags and labels. Required.")
    budget: Budget = Field(description="Monthly GPU compute budget. Required.")
    guardrails: Guardrails = Field(
        description="Environment rules. Default: every field from `environment` (see Guardrails).",
        json_schema_extra={"default_from": "environment"},
    )
    namespaces: Namespaces = Field(default_factory=Namespaces, description="Namespaces. Default: `ml-serving`, `mlflow`, `monitoring`.")
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list, description="GPU node pools. Default: none.")
    gpu_operator: GpuOperatorConfig = Field(
        default_factory=GpuOperatorConfig, description="In-cluster GPU enablement. Default: automatic, chart v25.3.4."
    )
    models: list[ModelConfig] = Field(default_factory=list, description="Models served by Triton. Default: none.")
    serving: ServingConfig = Field(
        default_factory=ServingConfig, description="Triton images, gateway and rollback. Default: see its fields."
    )
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="Tracking server. Default: enabled, see its fields.")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="Monitoring. Default: enabled, see its fields.")
    managed_endpoints: list[ManagedEndpointConfig] = Field(
        default_factory=list, description="Models on the cloud's managed inference service. Default: none."
    )

    @model_validator(mode="before")
    @classmethod
    def _guardrail_defaults(cls, data: Any) -> Any:
        """Fill guardrails the stack leaves out from the environment's defaults."""
        if isinstance(data, dict):
            env = data.get("environment")
            given = data.get("guardrails", {})
            if isinstance(env, str) and env in GUARDRAIL_DEFAULTS and isinstance(given, dict):
                data = {**data, "guardrails": {**GUARDRAIL_DEFAULTS[env], **given}}
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformConfig:
        raise_issues(cross_section_issues(self.sections()))
        return self

    def sections(self) -> Sections:
        """This configuration in the form the cross-section checks take."""
        return Sections(
            environment=self.environment,
            cloud=self.cloud,
            cluster=self.cluster,
            serving=self.serving,
            guardrails=self.guardrails,
            mlflow=self.mlflow,
            monitoring=self.monitoring,
            gpu_pools=list(enumerate(self.gpu_pools)),
            models=list(enumerate(self.models)),
            managed_endpoints=list(enumerate(self.managed_endpoints)),
        )

    def secret_keys(self) -> dict[str, str]:
        """Config keys that must hold secrets, mapped to the config path that names them."""
        keys: dict[str, str] = {}
        if self.cluster.source == "kubeconfig_secret":
            keys[self.cluster.kubeconfig_key] = "cluster.secret_key"
        if self.mlflow.enabled and self.mlflow.auth.secret_key:
            keys[self.mlflow.auth.secret_key] = "mlflow.auth.client_secret_key"
        if self.monitoring.enabled:
            for i, receiver in enumerate(self.monitoring.receivers):
                keys[receiver.secret_key] = f"monitoring.receivers[{i}].secret_key"
            retraining = self.monitoring.retraining
            if retraining.enabled and retraining.token_secret_key:
                keys[retraining.token_secret_key] = "monitoring.retraining.token_secret_key"
        return keys

    @property
    def cloud_tags(self) -> dict[str, str]:
        """Tags every cloud resource carries; valid as AWS tags, GCP labels and Azure tags."""
        return {
            **self.tags.extra,
            "platform": "mlops-platform",
            "environment": self.environment,
            "team": self.tags.team,
            "cost-center": self.tags.cost_center,
            "managed-by": "pulumi",
        }

    @property
    def scored_models(self) -> list[ModelConfig]:
        """The Triton models the monitoring loop captures and scores (``monitoring.drift.models``, else all)."""
        return [m for m in self.models if m.name in self.monitoring.drift.scored([x.name for x in self.models])]

    @property
    def common_labels(self) -> dict[str, str]:
        """Labels every Kubernetes object of the stack carries."""
        return {
            **self.tags.extra,
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/managed-by": "pulumi",
            "mlops.platform/environment": self.environment,
            "mlops.platform/team": self.tags.team,
            "mlops.platform/cost-center": self.tags.cost_center,
        }

    @property
    def gpu_operator_enabled(self) -> bool:
        """Whether the stack deploys the NVIDIA GPU Operator."""
        if self.gpu_operator.mode == "auto":
            return bool(self.gpu_pools) and self.cloud.provider in ("aws", "azure")
        return self.gpu_operator.mode == "enabled"
