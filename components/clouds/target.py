"""The cloud account a component builds in: the few facts its resources name, in a plain dataclass.

Components take this instead of the stack's ``CloudConfig``, so a program that composes them states its cloud in one
line (``CloudTarget.aws("us-east-1")``) without the stack's config tree. The rules are the stack's own: a target is
checked by the ``cloud`` section's model (which fields each cloud needs, region and project formats, the store's URL),
so a swapped argument fails where it is written. The stack maps its validated section onto it in one place
(``CloudTarget.of``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pydantic import ValidationError

from ..config.cloud import CloudConfig, CloudProvider
from ..config.errors import issues_from_validation


@dataclass(frozen=True)
class CloudTarget:
    """Where a component's cloud resources go. Build it with the constructor of its cloud (``aws``, ``gcp``,
    ``azure``, ``kubernetes``): only that cloud's fields are set, every one it requires."""

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
        try:
            CloudConfig.model_validate(asdict(self))
        except ValidationError as error:
            problems = "; ".join(str(issue) for issue in sorted(issues_from_validation(CloudConfig, error)))
            raise ValueError(f"CloudTarget: {problems}") from None

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
        """The stack's validated ``cloud`` section as components take it (every field, ``account_id`` included)."""
        return cls(**cloud.model_dump())

    @property
    def price_region(self) -> str | None:
        """The region (aws, gcp) or location (azure) whose list prices apply; none on `kubernetes`."""
        return self.region or self.location
