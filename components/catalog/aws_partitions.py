"""AWS partitions: the first field of every ARN, decided by the region.

Source: AWS Fault Isolation Boundaries whitepaper, "Partitions"
(https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html), read
2026-12-06: `aws` (commercial regions), `aws-cn` (cn-north-1, cn-northwest-1), `aws-us-gov` (us-gov-east-1,
us-gov-west-1). The isolated partitions (`aws-iso*`) are not reachable from this project's regions.
"""

from __future__ import annotations

PARTITION_PREFIXES: tuple[tuple[str, str], ...] = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))
"""Region prefix to partition; every other region is in `aws`."""


def partition(region: str) -> str:
    """The ARN partition of ``region``: `arn:<partition>:s3:::bucket` is only valid in that partition."""
    for prefix, name in PARTITION_PREFIXES:
        if region.startswith(prefix):
            return name
    return "aws"
