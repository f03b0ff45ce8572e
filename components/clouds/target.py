"""The cloud account a component builds in: the few facts its resources name, in a plain dataclass.

Components take this instead of the stack's ``CloudConfig``, so a program that composes them states its cloud in one
line (``CloudTarget.aws("us-east-1")``) without the stack's config tree. The stack maps its validated ``cloud``
section onto it in one place (``CloudTarget.of``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config.cloud import CloudConfig, CloudProvider

_REQUIRED: dict[str, tuple[str, ...]] = {
    "aws": ("region",),
    "gcp": ("region", "project"),
    "azure": ("subscription_id", "location", "resource_group"),
    "kubernetes": ("s3_endpoint", "s3_credentials_secret"),
}
"""The fields each provider's resources need."""
_OPTIONAL: dict[str, tuple[str, ...]] = {"aws": ("account_id",)}
"""Fields a provider may set; every field neither required nor optional for the provider must be unset."""


@dataclass(frozen=True)
class CloudTarget:
    """Where a component's cloud resources go. Build it with the constructor of its cloud (``aws``, ``gcp``,
    ``azure``, ``kubernetes``); only that cloud's fields are set, and all of them are required."""

    provider: CloudProvider
    """`aws`, `gcp`, `azure`, or `kubernetes` (Kubernetes objects only, no cloud account)."""
    region: str | None = None
    """aws and gcp: the region; it prices GPU pools and endpoints and places regional resources."""
    account_id: str | None = None
    """aws, optional: the account ID; the default MLflow bucket's name includes it, so it stays unique per account."""
    project: str | None = None
    """gcp: the project ID."""
    subscription_id: str | None = None
    """azure: the subscription ID."""
    location: str | None = None
    """azure: the location, e.g. `eastus2`; it prices GPU pools and endpoints."""
    resource_group: str | None = None
    """azure: the resource group that holds the components' resources."""
    s3_endpoint: str | None = None
    """kubernetes: the S3-compatible store holding the model repositories, an `https://` URL."""
    s3_credentials_secret: str | None = None
    """kubernetes: the existing Secret (in each namespace that reads the store) with the store's access keys."""

    def __post_init__(self) -> None:
        if self.provider not in _REQUIRED:
            raise ValueError(f"CloudTarget.provider is {self.provider!r}; expected one of {', '.join(_REQUIRED)}")
        own = _REQUIRED[self.provider]
        missing = [name for name in own if not getattr(self, name)]
        allowed = (*own, *_OPTIONAL.get(self.provider, ()), "provider")
        foreign = [f.name for f in fields(self) if f.name not in allowed and getattr(self, f.name) is not None]
        if missing or foreign:
            problems = [f"{name} is required" for name in missing] + [f"{name} does not apply" for name in foreign]
            raise ValueError(f"CloudTarget for provider '{self.provider}': {'; '.join(problems)}")

    @classmethod
    def aws(cls, region: str, account_id: str | None = None) -> CloudTarget:
        return cls("aws", region=region, account_id=account_id)

    @classmethod
    def gcp(cls, project: str, region: str) -> CloudTarget:
        return cls("gcp", region=region, project=project)

    @classmethod
    def azure(cls, subscription_id: str, resource_group: str, location: str) -> CloudTarget:
        return cls("azure", subscription_id=subscription_id, location=location, resource_group=resource_group)

    @classmethod
    def kubernetes(cls, s3_endpoint: str, s3_credentials_secret: str) -> CloudTarget:
        return cls("kubernetes", s3_endpoint=s3_endpoint, s3_credentials_secret=s3_credentials_secret)

    @classmethod
    def of(cls, cloud: CloudConfig) -> CloudTarget:
        """The stack's validated ``cloud`` section as components take it."""
        names = ("provider", *_REQUIRED[cloud.provider], *_OPTIONAL.get(cloud.provider, ()))
        return cls(**{name: getattr(cloud, name) for name in names})

    @property
    def price_region(self) -> str | None:
        """The region (aws, gcp) or location (azure) whose list prices apply; none on `kubernetes`."""
        return self.region or self.location
