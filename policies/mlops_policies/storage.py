"""Object storage: S3 buckets, GCS buckets and Azure storage accounts are private, encrypted and versioned.

On AWS these controls are separate resources (public access block, versioning, encryption
configuration); the resource policies check each one's settings and ``storage-controls-attached``
checks that every bucket actually has them.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import wire
from .settings import AnyPolicy, message, schema, setting_flag, settings

S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_PUBLIC_ACCESS_BLOCKS = (
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_IAM = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
)
AZ_ACCOUNT = "azure-native:storage:StorageAccount"
AZ_CONTAINER = "azure-native:storage:BlobContainer"
AZ_BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"

PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PUBLIC_MEMBERS = {"allusers", "allauthenticatedusers"}
PAB_FIELDS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse"}
KMS_ALGORITHMS = {"aws:kms", "aws:kms:dsse"}
TLS_OK = {"TLS1_2", "TLS1_3"}


def _public_statements(policy: Any) -> list[str]:
    """Sids (or indices) of bucket-policy statements that Allow anyone ("*") without a Condition."""
    document = wire.decoded(policy)
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    found: list[str] = []
    for i, statement in enumerate(wire.items(wire.get(document, "Statement"))):
        s = wire.mapping(statement)
        principal = s.get("Principal")
        everyone = principal == "*" or "*" in [*wire.items(wire.get(principal, "AWS")), wire.get(principal, "AWS")]
        if wire.text(s.get("Effect")) == "Allow" and everyone and not s.get("Condition"):
            found.append(wire.text(s.get("Sid")) or f"#{i}")
    return found


# --- public access -----------------------------------------------------------------------------------------------------


def _check_public_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t in S3_PUBLIC_ACCESS_BLOCKS:
        off = [f for f in PAB_FIELDS if wire.flag(p.get(f)) is not True]
        if off:
            report(
                message(f"public access block '{name}'", f"leaves {', '.join(off)} off", f"set {', '.join(off)} to true"),
                None,
            )
    elif t in (*S3_BUCKETS, *S3_ACLS):
        acl = wire.text(p.get("acl"))
        if acl in PUBLIC_ACLS:
            report(message(f"S3 bucket '{name}'", f"grants the public ACL '{acl}'", "set acl to 'private' (or drop the ACL)"), None)
        if t in S3_BUCKETS:
            for sid in _public_statements(p.get("policy")):
                report(
                    message(f"S3 bucket '{name}'", f"inline policy statement {sid} allows Principal '*'", "grant named IAM principals"),
                    None,
                )
    elif t == S3_POLICY:
        for sid in _public_statements(p.get("policy")):
            report(
                message(
                    f"bucket policy '{name}'",
                    f"statement {sid} allows Principal '*' without a condition",
                    "grant named IAM principals (or add a condition such as aws:SourceVpce)",
                ),
                None,
            )
    elif t == GCS_BUCKET:
        if wire.text(p.get("publicAccessPrevention")) != "enforced":
            report(
                message(f"GCS bucket '{name}'", "does not enforce public access prevention", "set publicAccessPrevention: 'enforced'"),
                None,
            )
        if wire.flag(p.get("uniformBucketLevelAccess")) is not True:
            report(
                message(
                    f"GCS bucket '{name}'",
                    "allows per-object ACLs, which can make single objects public",
                    "set uniformBucketLevelAccess: true",
                ),
                None,
            )
    elif t in GCS_IAM:
        members = [wire.text(p.get("member")), wire.text(p.get("entity")), *(wire.text(m) for m in wire.items(p.get("members")))]
        public = sorted({m for m in members if m.lower() in PUBLIC_MEMBERS})
        if public:
            report(
                message(f"GCS bucket grant '{name}'", f"grants access to {', '.join(public)}", "grant a service account or group instead"),
                None,
            )
    elif t == AZ_ACCOUNT:
        if wire.flag(p.get("allowBlobPublicAccess")) is not False:
            report(
                message(
                    f"storage account '{name}'",
                    "does not forbid anonymous blob access (allowBlobPublicAccess is not false)",
                    "set allowBlobPublicAccess: false",
                ),
                None,
            )
    elif t == AZ_CONTAINER:
        access = wire.text(p.get("publicAccess"))
        if access and access != "None":
            report(message(f"blob container '{name}'", f"has publicAccess '{access}'", "set publicAccess: 'None'"), None)


storage_public_access_blocked = ResourceValidationPolicy(
    name="storage-public-access-blocked",
    description="Buckets and storage accounts are private: public access blocked, no public ACLs, grants or policies.",
    validate=_check_public_access,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- encryption --------------------------------------------------------------------------------------------------------

_ENCRYPTION_SCHEMA = schema(
    requireCustomerManagedKeys={
        "type": "boolean",
        "default": False,
        "description": "Require KMS / customer-managed keys instead of the provider-managed default.",
    }
)


def _s3_algorithms(config: Any) -> list[str]:
    return [wire.text(a) for a in wire.find_key(config, "sseAlgorithm")]


def _check_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    cmk = setting_flag(settings(args, _ENCRYPTION_SCHEMA), "requireCustomerManagedKeys", False)
    if t in S3_ENCRYPTION or (t in S3_BUCKETS and p.get("serverSideEncryptionConfiguration") is not None):
        algorithms = _s3_algorithms(p.get("rules") if t in S3_ENCRYPTION else p.get("serverSideEncryptionConfiguration"))
        allowed = KMS_ALGORITHMS if cmk else SSE_ALGORITHMS
        if not algorithms or any(a not in allowed for a in algorithms):
            report(
                message(
                    f"S3 encryption configuration '{name}'",
                    f"sets sseAlgorithm {algorithms or 'nowhere'}",
                    "set rules[].applyServerSideEncryptionByDefault.sseAlgorithm to 'aws:kms' with a kmsMasterKeyId"
                    + ("" if cmk else " (or 'AES256')"),
                ),
                None,
            )
    elif t == GCS_BUCKET:
        if cmk and not wire.text(wire.get(p, "encryption", "defaultKmsKeyName")):
            report(
                message(f"GCS bucket '{name}'", "uses Google-managed keys", "set encryption.defaultKmsKeyName to a Cloud KMS key"),
                None,
            )
    elif t == AZ_ACCOUNT:
        if wire.flag(p.get("enableHttpsTrafficOnly")) is False:
            report(message(f"storage account '{name}'", "accepts unencrypted HTTP", "set enableHttpsTrafficOnly: true"), None)
        tls = wire.text(p.get("minimumTlsVersion"))
        if tls not in TLS_OK:
            report(
                message(
                    f"storage account '{name}'",
                    f"accepts TLS below 1.2 (minimumTlsVersion '{tls or 'unset'}')",
                    "set minimumTlsVersion: 'TLS1_2'",
                ),
                None,
            )
        if cmk and wire.text(wire.get(p, "encryption", "keySource")) != "Microsoft.Keyvault":
            report(
                message(
                    f"storage account '{name}'",
                    "uses Microsoft-managed keys",
                    "set encryption.keySource: 'Microsoft.Keyvault' with encryption.keyVaultProperties",
                ),
                None,
            )


storage_encrypted = ResourceValidationPolicy(
    name="storage-encrypted",
    description="Object storage is encrypted at rest with an explicit configuration and only reachable over TLS 1.2+.",
    validate=_check_encryption,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_ENCRYPTION_SCHEMA,
)


# --- versioning --------------------------------------------------------------------------------------------------------


def _check_versioning(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t in S3_VERSIONING:
        status = wire.text(wire.get(p, "versioningConfiguration", "status"))
        if status != "Enabled":
            report(
                message(f"S3 versioning '{name}'", f"has status '{status or 'unset'}'", "set versioningConfiguration.status: 'Enabled'"),
                None,
            )
    elif t in S3_BUCKETS and p.get("versioning") is not None:
        if wire.flag(wire.get(p, "versioning", "enabled")) is not True:
            report(
                message(f"S3 bucket '{name}'", "has versioning disabled", "enable versioning (an aws.s3.BucketVersioning resource)"), None
            )
    elif t == GCS_BUCKET:
        if wire.flag(wire.get(p, "versioning", "enabled")) is not True:
            report(
                message(
                    f"GCS bucket '{name}'",
                    "keeps no object versions, so an overwrite or delete loses data",
                    "set versioning: {enabled: true}",
                ),
                None,
            )
    elif t == AZ_BLOB_SERVICE and wire.flag(p.get("isVersioningEnabled")) is not True:
        report(
            message(f"blob service properties '{name}'", "leave blob versioning off", "set isVersioningEnabled: true"),
            None,
        )


storage_versioned = ResourceValidationPolicy(
    name="storage-versioned",
    description="Buckets and blob services keep object versions.",
    validate=_check_versioning,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- controls attached (stack) -----------------------------------------------------------------------------------------


def _identifiers(bucket: PolicyResource) -> set[str]:
    props = bucket.props
    ids = {wire.text(props.get(k)) for k in ("bucket", "id", "name", "accountName", "arn")} | {f"{bucket.name}-id"}
    return {i for i in ids if i}


def belongs_to(control: PolicyResource, bucket: PolicyResource, field: str) -> bool:
    """Whether ``control`` (public access block, versioning, encryption, blob service) targets ``bucket``.

    Matched by the referenced bucket/account name or ID; when that is not known (auto-named, or an
    output during preview), by being a child of the bucket or a sibling whose name starts with the bucket's.
    """
    target = wire.text(control.props.get(field))
    if target and target in _identifiers(bucket):
        return True
    if control.parent is not None and control.parent.urn == bucket.urn:
        return True
    same_parent = (control.parent.urn if control.parent else None) == (bucket.parent.urn if bucket.parent else None)
    return same_parent and control.name.startswith(bucket.name)


def _check_controls_attached(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = args.resources
    account_pab = [r for r in resources if r.resource_type == S3_PUBLIC_ACCESS_BLOCKS[1]]
    for bucket in (r for r in resources if r.resource_type in S3_BUCKETS):
        missing: list[str] = []
        if not account_pab and not any(
            r.resource_type == S3_PUBLIC_ACCESS_BLOCKS[0] and belongs_to(r, bucket, "bucket") for r in resources
        ):
            missing.append("aws.s3.BucketPublicAccessBlock")
        if bucket.props.get("versioning") is None and not any(
            r.resource_type in S3_VERSIONING and belongs_to(r, bucket, "bucket") for r in resources
        ):
            missing.append("aws.s3.BucketVersioning")
        if bucket.props.get("serverSideEncryptionConfiguration") is None and not any(
            r.resource_type in S3_ENCRYPTION and belongs_to(r, bucket, "bucket") for r in resources
        ):
            missing.append("aws.s3.BucketServerSideEncryptionConfiguration")
        if missing:
            report(
                message(
                    f"S3 bucket '{bucket.name}'",
                    f"has no companion {', '.join(missing)}, so it may be public, unversioned or unencrypted",
                    f"declare {', '.join(missing)} for it (bucket=<the bucket's id>) next to the bucket in its component",
                ),
                bucket.urn,
            )
    for account in (r for r in resources if r.resource_type == AZ_ACCOUNT):
        if not any(r.resource_type == AZ_BLOB_SERVICE and belongs_to(r, account, "accountName") for r in resources):
            report(
                message(
                    f"storage account '{account.name}'",
                    "has no BlobServiceProperties, so blob versioning and soft delete are off",
                    "declare azure-native storage.BlobServiceProperties with isVersioningEnabled: true and deleteRetentionPolicy",
                ),
                account.urn,
            )


storage_controls_attached = StackValidationPolicy(
    name="storage-controls-attached",
    description="Every S3 bucket has a public access block, versioning and encryption resource; every storage account has blob versioning.",
    validate=_check_controls_attached,
    enforcement_level=EnforcementLevel.MANDATORY,
)


POLICIES: list[AnyPolicy] = [storage_public_access_blocked, storage_encrypted, storage_versioned, storage_controls_attached]
