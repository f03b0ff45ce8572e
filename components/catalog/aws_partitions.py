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


RDS_TRUSTSTORES: dict[str, str] = {
    "aws": "https://truststore.pki.rds.amazonaws.com",
    "aws-us-gov": "https://truststore.pki.us-gov-west-1.rds.amazonaws.com",
    "aws-cn": "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn",
}
"""Where each partition publishes the RDS certificate bundles (every CA RDS signs server certificates with).

Source: Amazon RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB instance or cluster",
section "Certificate bundles by AWS Region" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html,
and the docs.amazonaws.cn edition for China), read 2026-12-07. Each bundle is `<base>/<region>/<region>-bundle.pem`.
"""


def rds_ca_bundle_url(region: str) -> str:
    """The HTTPS URL of ``region``'s RDS CA bundle: its root and intermediate CAs, nothing of other regions."""
    return f"{RDS_TRUSTSTORES[partition(region)]}/{region}/{region}-bundle.pem"
