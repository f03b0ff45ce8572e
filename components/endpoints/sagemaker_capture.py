"""Data capture of a SageMaker endpoint: the bucket that keeps captured requests and the capture settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from ..config.endpoints import ManagedEndpointConfig

if TYPE_CHECKING:
    from .endpoint import ManagedEndpointArgs

CAPTURE_PREFIX = "datacapture"
"""Where captured requests go in the bucket; the execution role may write only there."""


def capture_bucket(
    name: str, args: ManagedEndpointArgs, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
    """An auto-named bucket for captured requests: SSE-KMS, versioned, no public access, owner-enforced, TLS only, expiring."""
    capture = args.endpoint.data_capture
    stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect_stateful))
    bucket = aws.s3.Bucket(f"{name}-capture", force_destroy=False, tags={**args.tags, "mlops-data": "endpoint-capture"}, opts=stateful)
    settings: list[pulumi.Resource] = [
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-capture-sse",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=opts,
        ),
        aws.s3.BucketPublicAccessBlock(
            f"{name}-capture-pab",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        ),
        aws.s3.BucketVersioning(
            f"{name}-capture-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts,
        ),
        aws.s3.BucketOwnershipControls(
            f"{name}-capture-owner",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        ),
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-capture-expiry",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-captured-data",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{CAPTURE_PREFIX}/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=capture.retention_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=1),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=opts,
        ),
        aws.s3.BucketPolicy(
            f"{name}-capture-tls",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=opts,
        ),
    ]
    return bucket, settings


def data_capture_config(
    cfg: ManagedEndpointConfig, bucket: aws.s3.Bucket, key_arn: pulumi.Input[str], endpoint_name: str
) -> aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs:
    """Capture inputs and outputs at the configured sampling rate, under the endpoint's prefix, KMS-encrypted."""
    return aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
        enable_capture=True,
        initial_sampling_percentage=cfg.data_capture.sampling_percent,
        destination_s3_uri=bucket.bucket.apply(lambda b: f"s3://{b}/{CAPTURE_PREFIX}/{endpoint_name}"),
        kms_key_id=key_arn,
        capture_options=[
            aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
            aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Output"),
        ],
    )
