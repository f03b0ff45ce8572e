"""AWS: RDS for PostgreSQL in the cluster's VPC and an S3 artifact bucket."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from ..catalog.aws_partitions import rds_ca_bundle_url
from ..identity import ObjectStoreGrant
from .sizes import database_size
from .stores import ARTIFACT_PREFIX, DB_NAME, DB_PORT, DB_USER, ArtifactStore, BackendDatabase, DatabaseTls, StoreArgs

RDS_CA = "rds-ca-rsa2048-g1"
"""The CA that signs the instance's certificate, pinned so it does not follow the account's default (every
region's bundle holds it). Source: the RDS User Guide's "Certificate authorities" table, read 2026-12-07."""


def database(args: StoreArgs, password: pulumi.Output[str], opts: pulumi.ResourceOptions) -> BackendDatabase:
    """RDS PostgreSQL: private subnets, a security group open to the cluster only, encrypted, backed up."""
    db = args.config.database
    net = db.network
    size = database_size("aws", db.size)
    # the look-up uses the provider the server inherits from its opts, like its resources
    cluster = aws.eks.get_cluster_output(name=args.cluster_name, opts=pulumi.InvokeOutputOptions(parent=opts.parent))
    subnets: pulumi.Input[list[str]] = net.subnet_ids or cluster.vpc_config.apply(lambda v: list(v.subnet_ids))
    sources: list[pulumi.Input[str]] = (
        list(net.client_security_group_ids)
        if net.client_security_group_ids
        else [cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)]
    )
    tags = {**args.tags, "app": "mlflow"}
    subnet_group = aws.rds.SubnetGroup(
        f"{args.name}-db-subnets", subnet_ids=subnets, description="MLflow backend database subnets", tags=tags, opts=opts
    )
    group = aws.ec2.SecurityGroup(
        f"{args.name}-db-sg",
        vpc_id=cluster.vpc_config.apply(lambda v: v.vpc_id),
        description="MLflow backend database: PostgreSQL from the cluster only",
        tags=tags,
        opts=opts,
    )
    rules = [
        aws.vpc.SecurityGroupIngressRule(
            f"{args.name}-db-from-{i}",
            security_group_id=group.id,
            referenced_security_group_id=source,
            ip_protocol="tcp",
            from_port=DB_PORT,
            to_port=DB_PORT,
            description="PostgreSQL from the cluster",
            opts=opts,
        )
        for i, source in enumerate(sources)
    ]
    instance = aws.rds.Instance(
        f"{args.name}-db",
        engine="postgres",
        engine_version=db.engine_version,
        instance_class=size.instance,
        allocated_storage=db.storage_gb,
        max_allocated_storage=min(db.storage_gb * 2, 65536),
        storage_type="gp3",
        storage_encrypted=True,
        db_name=DB_NAME,
        username=DB_USER,
        password=password,
        port=DB_PORT,
        multi_az=db.high_availability,
        db_subnet_group_name=subnet_group.name,
        vpc_security_group_ids=[group.id],
        publicly_accessible=False,
        backup_retention_period=db.backup_retention_days,
        backup_window="03:00-04:00",
        maintenance_window="sun:04:30-sun:05:30",
        auto_minor_version_upgrade=True,
        copy_tags_to_snapshot=True,
        ca_cert_identifier=RDS_CA,
        deletion_protection=args.protect,
        delete_automated_backups=not args.protect,
        skip_final_snapshot=not args.protect,
        final_snapshot_identifier=f"{args.name}-db-final" if args.protect else None,
        tags=tags,
        opts=args.stateful(opts),
    )
    # verify-full: the server certificate names the instance's endpoint, signed by a CA in the region's bundle.
    tls = DatabaseTls(mode="verify-full", ca_url=rds_ca_bundle_url(args.cloud.region or ""))
    return BackendDatabase(host=instance.address, resources=[instance, *rules], tls=tls)


def artifact_store(args: StoreArgs, opts: pulumi.ResourceOptions) -> ArtifactStore:
    """S3 bucket: public access blocked, ACLs off, SSE-KMS, TLS only, versioned, noncurrent versions expire."""
    name, tags = args.name, {**args.tags, "app": "mlflow"}
    bucket = aws.s3.Bucket(f"{name}-artifacts", bucket=args.bucket, force_destroy=False, tags=tags, opts=args.stateful(opts))
    child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[bucket]))
    controls: list[pulumi.Resource] = [
        aws.s3.BucketPublicAccessBlock(
            f"{name}-artifacts-pab",
            bucket=bucket.bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        ),
        aws.s3.BucketOwnershipControls(
            f"{name}-artifacts-ownership",
            bucket=bucket.bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        ),
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-artifacts-sse",
            bucket=bucket.bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        ),
        aws.s3.BucketVersioning(
            f"{name}-artifacts-versioning",
            bucket=bucket.bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        ),
    ]
    controls.append(
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts-lifecycle",
            bucket=bucket.bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.config.artifact_noncurrent_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[controls[-1]])),
        )
    )
    controls.append(
        aws.s3.BucketPolicy(
            f"{name}-artifacts-tls-only",
            bucket=bucket.bucket,
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
                    },
                    sort_keys=True,
                )
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[controls[0]])),
        )
    )
    return ArtifactStore(
        destination=f"s3://{args.bucket}/{ARTIFACT_PREFIX}",
        grant=ObjectStoreGrant(f"s3://{args.bucket}/{ARTIFACT_PREFIX}", write=True),
        resources=[bucket, *controls],
        env={"AWS_DEFAULT_REGION": args.cloud.region or "", "AWS_REGION": args.cloud.region or ""},
    )
