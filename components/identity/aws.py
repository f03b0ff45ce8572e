"""IRSA: an IAM role trusted by the cluster's OIDC provider for one service account."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from ..catalog.aws_partitions import partition

if TYPE_CHECKING:
    from . import CloudBinding, ObjectStoreGrant, StoreLocation, WorkloadIdentityArgs


def _s3_statements(locations: list[tuple[StoreLocation, ObjectStoreGrant]], region: str) -> list[dict[str, object]]:
    statements: list[dict[str, object]] = []
    for location, grant in locations:
        bucket = f"arn:{partition(region)}:s3:::{location.bucket}"
        objects = f"{bucket}/{location.prefix}/*" if location.prefix else f"{bucket}/*"
        listing: dict[str, object] = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket]}
        if location.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [location.prefix, f"{location.prefix}/*"]}}
        actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] if grant.write else ["s3:GetObject"]
        statements += [listing, {"Effect": "Allow", "Action": actions, "Resource": [objects]}]
    return statements


def bind(
    name: str, args: WorkloadIdentityArgs, locations: list[tuple[StoreLocation, ObjectStoreGrant]], opts: pulumi.ResourceOptions
) -> CloudBinding:
    """Role with a web-identity trust for `system:serviceaccount:<ns>:<sa>` and an S3 policy for the grants."""
    from . import CloudBinding

    invoke = pulumi.InvokeOutputOptions(parent=opts.parent)  # the provider the component inherits
    cluster = aws.eks.get_cluster_output(name=args.cluster_name, opts=invoke)
    issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
    oidc = aws.iam.get_open_id_connect_provider_output(url=issuer, opts=invoke)

    def trust(values: list[str]) -> str:
        provider_arn, issuer_url, namespace = values
        host = issuer_url.removeprefix("https://")
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": provider_arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{host}:sub": f"system:serviceaccount:{namespace}:{args.service_account}",
                                f"{host}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            },
            sort_keys=True,
        )

    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=pulumi.Output.all(oidc.arn, issuer, args.namespace).apply(trust),
        description=f"IRSA role of service account {args.service_account}",
        opts=opts,
    )
    if locations:
        aws.iam.RolePolicy(
            f"{name}-s3",
            role=role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": _s3_statements(locations, args.cloud.region or "")}, sort_keys=True),
            opts=opts,
        )
    return CloudBinding(annotations={"eks.amazonaws.com/role-arn": role.arn}, pod_labels={}, identity=role.arn)
