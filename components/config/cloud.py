"""Where the platform runs: the cloud account and the Kubernetes cluster to deploy into."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

CloudProvider = Literal["aws", "gcp", "azure", "kubernetes"]

_AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+\d$")
_GCP_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_AZURE_LOCATION = re.compile(r"^[a-z]+[a-z0-9]*$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_AWS_ACCOUNT = re.compile(r"^\d{12}$")
_HTTPS_URL = re.compile(r"^https://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?/?$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class CloudConfig(StrictModel):
    """The cloud account. Only the fields of the chosen provider may be set.

    `kubernetes` is a cluster with no cloud account behind the platform (on-premises, a laptop
    cluster, or manifests rendered for GitOps): only Kubernetes objects are created, and model
    repositories live in an S3-compatible store the cluster already reaches.
    """

    provider: CloudProvider = Field(
        description="Cloud to deploy to: `aws`, `gcp`, `azure`, or `kubernetes` (Kubernetes objects only, no cloud account). Required."
    )
    region: str | None = Field(
        default=None,
        description="AWS region (e.g. `us-east-1`) or GCP region (e.g. `us-central1`); GPU pools are priced at its list "
        "prices and must use an instance type it offers. Required on aws and gcp.",
    )
    account_id: str | None = Field(
        default=None,
        description="AWS only: the 12-digit account the stack must run in; guards against deploying "
        "with the wrong credentials. Default: not checked.",
    )
    project: str | None = Field(default=None, description="GCP only: the project ID. Required on gcp.")
    subscription_id: str | None = Field(default=None, description="Azure only: the subscription ID (a UUID). Required on azure.")
    location: str | None = Field(
        default=None,
        description="Azure only: the location, e.g. `eastus2`; GPU pools are priced at its list prices and must use a VM "
        "size it offers. Required on azure.",
    )
    resource_group: str | None = Field(
        default=None, description="Azure only: the resource group holding the platform's resources. Required on azure."
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="kubernetes only: the S3-compatible object store (e.g. MinIO) holding the model repositories, "
        "an `https://` URL. Required on kubernetes.",
    )
    s3_credentials_secret: str | None = Field(
        default=None,
        description="kubernetes only: name of an existing Secret, in every namespace that reads the store, with the "
        "keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (created by the cluster's secret management, never by "
        "the stack). Required on kubernetes.",
    )

    @model_validator(mode="after")
    def _provider_fields(self) -> CloudConfig:
        issues: list[Issue] = []
        own = {
            "aws": {"region", "account_id"},
            "gcp": {"region", "project"},
            "azure": {"subscription_id", "location", "resource_group"},
            "kubernetes": {"s3_endpoint", "s3_credentials_secret"},
        }[self.provider]
        for field in (
            "region",
            "account_id",
            "project",
            "subscription_id",
            "location",
            "resource_group",
            "s3_endpoint",
            "s3_credentials_secret",
        ):
            value = getattr(self, field)
            if value is not None and field not in own:
                issues.append((field, value, f"not set: it does not apply to provider '{self.provider}'"))
        required = {
            "aws": ["region"],
            "gcp": ["region", "project"],
            "azure": ["subscription_id", "location", "resource_group"],
            "kubernetes": ["s3_endpoint", "s3_credentials_secret"],
        }
        for field in required[self.provider]:
            if getattr(self, field) is None:
                issues.append((field, None, f"a value: required when provider is '{self.provider}'"))
        checks = {
            ("aws", "region"): (_AWS_REGION, "an AWS region such as 'us-east-1'"),
            ("aws", "account_id"): (_AWS_ACCOUNT, "a 12-digit AWS account ID"),
            ("gcp", "region"): (_GCP_REGION, "a GCP region such as 'us-central1'"),
            ("gcp", "project"): (_GCP_PROJECT, "a GCP project ID (6-30 lowercase letters, digits or '-')"),
            ("azure", "subscription_id"): (_UUID, "an Azure subscription ID (lowercase UUID)"),
            ("azure", "location"): (_AZURE_LOCATION, "an Azure location such as 'eastus2'"),
            ("kubernetes", "s3_endpoint"): (_HTTPS_URL, "an https:// URL of the store, e.g. 'https://minio.storage.svc:9000'"),
            ("kubernetes", "s3_credentials_secret"): (_SECRET_NAME, "a Kubernetes Secret name (DNS label)"),
        }
        for (provider, field), (pattern, expected) in checks.items():
            value = getattr(self, field)
            if provider == self.provider and value is not None and not pattern.match(value):
                issues.append((field, value, expected))
        port = re.search(r":(\d+)/?$", self.s3_endpoint or "")
        if port and not 1 <= int(port.group(1)) <= 65535:
            issues.append(("s3_endpoint", self.s3_endpoint, "a TCP port between 1 and 65535"))
        raise_issues(issues)
        return self


ClusterSource = Literal["existing", "kubeconfig_secret", "kubeconfig_file", "stack_reference", "render"]


class ClusterConfig(StrictModel):
    """The Kubernetes cluster the platform's workloads are deployed into.

    The platform does not create the cluster: clusters live longer than any one platform
    release and are usually owned by a separate infrastructure stack.
    """

    source: ClusterSource = Field(
        description="How to reach the cluster: `existing` (look up a managed cluster by name in the "
        "stack's cloud and authenticate with the cloud CLI's token plugin), `kubeconfig_secret` (a "
        "kubeconfig held in a Pulumi secret config key), or `stack_reference` (a kubeconfig output "
        "of another stack), `kubeconfig_file` (a kubeconfig file on the machine that runs Pulumi, e.g. the "
        "local control plane of `make cluster-up`), or `render` (no cluster: the Kubernetes provider writes "
        "every object as YAML to `render_directory`, for review, GitOps hand-off or an offline `pulumi up`). Required."
    )
    name: str | None = Field(default=None, description="`existing` only: the EKS / GKE / AKS cluster name. Required for `existing`.")
    location: str | None = Field(
        default=None,
        description="`existing` on gcp only: the cluster's region or zone. Default: the cloud region.",
    )
    secret_key: str | None = Field(
        default=None,
        description="`kubeconfig_secret` only: the config key holding the kubeconfig, set with "
        "`pulumi config set --secret <key> ...`. Default: `kubeconfig`.",
    )
    stack: str | None = Field(
        default=None,
        description="`stack_reference` only: the fully qualified stack (`org/project/stack`). Required for `stack_reference`.",
    )
    output: str | None = Field(
        default=None, description="`stack_reference` only: the output holding the kubeconfig. Default: `kubeconfig`."
    )
    kubeconfig_path: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_./][-A-Za-z0-9_./]*$",
        description="`kubeconfig_file` only: the kubeconfig file, relative to the project or absolute; the Kubernetes "
        "provider reads it (the program passes only the path). Required for `kubeconfig_file`.",
    )
    render_directory: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.][-A-Za-z0-9_./]*$",
        description="`render` only: directory, relative to the project, the manifests are written to. Default: `build/engine/<stack>`.",
    )
    kubernetes_version: str = Field(
        default="1.31",
        pattern=r"^1\.(2[5-9]|3[0-7])$",
        description="The cluster's Kubernetes minor version (`1.25`-`1.37`); manifests are checked "
        "against this version's API schemas and Pod Security Standards. Default: `1.31`.",
    )

    @model_validator(mode="after")
    def _source_fields(self) -> ClusterConfig:
        issues: list[Issue] = []
        own = {
            "existing": set(),
            "kubeconfig_secret": {"secret_key"},
            "kubeconfig_file": {"kubeconfig_path"},
            "stack_reference": {"stack", "output"},
            "render": {"render_directory"},
        }
        for field in ("secret_key", "kubeconfig_path", "stack", "output", "render_directory"):
            value = getattr(self, field)
            if value is not None and field not in own[self.source]:
                issues.append((field, value, f"not set: it does not apply to source '{self.source}'"))
        if self.render_directory is not None and ".." in self.render_directory.split("/"):
            issues.append(("render_directory", self.render_directory, "a path inside the project (no '..')"))
        if self.source == "kubeconfig_file" and self.kubeconfig_path is None:
            issues.append(("kubeconfig_path", None, "the kubeconfig file's path: required when source is 'kubeconfig_file'"))
        if self.source == "existing" and not self.name:
            issues.append(("name", self.name, "a cluster name: required when source is 'existing'"))
        if self.source == "stack_reference":
            if self.stack is None:
                issues.append(("stack", None, "'org/project/stack': required when source is 'stack_reference'"))
            elif not re.match(r"^[^/\s]+/[^/\s]+/[^/\s]+$", self.stack):
                issues.append(("stack", self.stack, "a fully qualified stack name 'org/project/stack'"))
        raise_issues(issues)
        return self

    @property
    def kubeconfig_key(self) -> str:
        """The config key of the kubeconfig secret (source `kubeconfig_secret`)."""
        return self.secret_key or "kubeconfig"

    @property
    def kubeconfig_output(self) -> str:
        """The output name read from the referenced stack (source `stack_reference`)."""
        return self.output or "kubeconfig"
