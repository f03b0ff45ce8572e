"""The execution role of a SageMaker endpoint and its least-privilege policy."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws

from ..config.endpoints import ManagedEndpointConfig
from .sagemaker_capture import CAPTURE_PREFIX

_S3_URI = re.compile(r"^s3://([^/]+)/(.*)$")
_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([^:@]+)")


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (`bucket`, `key`)."""
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"not an s3:// URI: {uri}")
    return match.group(1), match.group(2)


def ecr_repository_arn(image: str, partition: str) -> str:
    """The ECR repository ARN of an image reference (validated to be an ECR image)."""
    match = _ECR.match(image)
    if not match:
        raise ValueError(f"not an Amazon ECR image: {image}")
    account, region, _, repository = match.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"


def _model_read_statements(uris: list[str], partition: str) -> list[dict[str, Any]]:
    """Read exactly the model artifacts: the object of a .tar.gz, or the prefix of an uncompressed model."""
    objects, prefixes = [], []
    for uri in uris:
        bucket, key = split_s3(uri)
        if key.endswith(".tar.gz"):
            objects.append(f"arn:{partition}:s3:::{bucket}/{key}")
        else:
            prefix = key.rstrip("/") + "/"
            objects.append(f"arn:{partition}:s3:::{bucket}/{prefix}*")
            prefixes.append((bucket, prefix))
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": sorted(set(objects))}
    ]
    for i, (bucket, prefix) in enumerate(sorted(set(prefixes))):
        statements.append(
            {
                "Sid": f"ListModelPrefix{i}",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:{partition}:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            }
        )
    return statements


def execution_policy(
    cfg: ManagedEndpointConfig,
    *,
    partition: str,
    region: str,
    account: str,
    endpoint_name: str,
    capture_bucket_arn: str | None,
    key_arn: str | None,
) -> dict[str, Any]:
    """Least privilege for the models: their artifacts and images, the endpoint's logs, the capture prefix and key."""
    images = sorted({cfg.image} | {c.image for c in cfg.candidates.values() if c.image})
    uris = [cfg.model_uri] + [c.model_uri for c in cfg.candidates.values()]
    statements = _model_read_statements(uris, partition)
    statements += [
        {
            "Sid": "PullServingImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": sorted({ecr_repository_arn(i, partition) for i in images}),
        },
        # GetAuthorizationToken and PutMetricData have no resource-level permissions.
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {
            "Sid": "EndpointMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        },
        {
            "Sid": "EndpointLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [
                f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}",
                f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}:*",
            ],
        },
    ]
    if capture_bucket_arn is not None:
        statements.append(
            {
                "Sid": "WriteDataCapture",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": f"{capture_bucket_arn}/{CAPTURE_PREFIX}/*",
            }
        )
    if key_arn is not None:
        statements.append(
            {"Sid": "UseEndpointKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn}
        )
    if cfg.network.private:
        statements.append(
            {
                "Sid": "VpcNetworkInterfaces",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def execution_role(
    name: str,
    cfg: ManagedEndpointConfig,
    *,
    partition: str,
    region: str,
    endpoint_name: str,
    capture_bucket: aws.s3.Bucket | None,
    key_arn: pulumi.Output[str] | None,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The role SageMaker assumes for the endpoint's models, with `execution_policy` inline."""
    role = aws.iam.Role(
        f"{name}-role",
        description=f"Execution role of SageMaker endpoint {endpoint_name}",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        ),
        tags=tags,
        opts=opts,
    )
    # the look-up uses the provider the endpoint inherits from its opts, like its resources
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=opts.parent))
    policy = aws.iam.RolePolicy(
        f"{name}-access",
        role=role.id,
        policy=pulumi.Output.all(
            identity.account_id, capture_bucket.arn if capture_bucket is not None else None, key_arn if key_arn is not None else None
        ).apply(
            lambda v: json.dumps(
                execution_policy(
                    cfg,
                    partition=partition,
                    region=region,
                    account=v[0],
                    endpoint_name=endpoint_name,
                    capture_bucket_arn=v[1],
                    key_arn=v[2],
                )
            )
        ),
        opts=opts,
    )
    return role, policy
