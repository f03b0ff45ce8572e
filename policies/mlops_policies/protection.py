"""Stateful resources are ``protect``ed, so `pulumi destroy` or a refactor that drops them fails instead of deleting data."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .settings import PROTECT_STATEFUL, AnyPolicy, message, schema, setting_strings, settings

STATEFUL_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "aws:dynamodb/table:Table",
    "aws:ecr/repository:Repository",
    "gcp:storage/bucket:Bucket",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:sql/database:Database",
    "gcp:filestore/instance:Instance",
    "gcp:artifactregistry/repository:Repository",
    "azure-native:storage:StorageAccount",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:Database",
    "azure-native:containerregistry:Registry",
    "azure-native:machinelearningservices:Workspace",
    "kubernetes:core/v1:PersistentVolume",
)
"""Resources whose deletion loses data that the stack cannot recreate."""

_SCHEMA = schema(
    extraStatefulTypes={
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "More resource types to treat as stateful.",
    }
)


def _check_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    stateful = {*STATEFUL_TYPES, *setting_strings(settings(args, _SCHEMA), "extraStatefulTypes", [])}
    if args.resource_type in stateful and not args.opts.protect:
        report(
            message(
                f"{args.resource_type.rsplit(':', 1)[1]} '{args.name}'",
                "holds data but is not protected, so a destroy or a refactor that drops it deletes the data",
                "protect the resource (ResourceOptions protect=True)",
                PROTECT_STATEFUL,
            ),
            None,
        )


stateful_resources_protected = ResourceValidationPolicy(
    name="stateful-resources-protected",
    description="Buckets, databases and other stateful resources have the Pulumi `protect` option set.",
    validate=_check_protected,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_SCHEMA,
)


POLICIES: list[AnyPolicy] = [stateful_resources_protected]
