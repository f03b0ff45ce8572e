"""Azure: Database for PostgreSQL flexible server in a delegated subnet and a Blob container for artifacts.

azure-native has no provider default tags, so every taggable resource carries the tags itself; Azure
has no deletion-protection flag on these resources, so protected stacks add a CanNotDelete lock.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, dbforpostgresql, storage

from ..identity import ObjectStoreGrant
from .sizes import database_size
from .stores import (
    ARTIFACT_PREFIX,
    AZURE_CONTAINER,
    DB_NAME,
    DB_USER,
    SYSTEM_TRUST_STORE,
    ArtifactStore,
    BackendDatabase,
    DatabaseTls,
    StoreArgs,
)

LOCK_NOTE = "Holds MLflow data; managed by Pulumi with protect. Remove the lock deliberately before deleting."


def _lock(name: str, scope: pulumi.Input[str], opts: pulumi.ResourceOptions) -> authorization.ManagementLockByScope:
    return authorization.ManagementLockByScope(
        name, scope=scope, level=authorization.LockLevel.CAN_NOT_DELETE, lock_name="do-not-delete", notes=LOCK_NOTE, opts=opts
    )


def database(args: StoreArgs, password: pulumi.Output[str], opts: pulumi.ResourceOptions) -> BackendDatabase:
    """Flexible server: private access only (delegated subnet + private DNS), TLS required, backups, zone-redundant HA."""
    db = args.config.database
    size = database_size("azure", db.size)
    group = args.cloud.resource_group or ""
    server = dbforpostgresql.Server(
        f"{args.name}-db",
        resource_group_name=group,
        location=args.cloud.location,
        version=db.engine_version,
        sku=dbforpostgresql.SkuArgs(name=size.instance, tier=size.tier or "GeneralPurpose"),
        storage=dbforpostgresql.StorageArgs(storage_size_gb=db.storage_gb, auto_grow=dbforpostgresql.StorageAutoGrow.ENABLED),
        backup=dbforpostgresql.BackupArgs(
            backup_retention_days=db.backup_retention_days, geo_redundant_backup=dbforpostgresql.GeographicallyRedundantBackup.DISABLED
        ),
        high_availability=dbforpostgresql.HighAvailabilityArgs(
            mode=dbforpostgresql.PostgreSqlFlexibleServerHighAvailabilityMode.ZONE_REDUNDANT
            if db.high_availability
            else dbforpostgresql.PostgreSqlFlexibleServerHighAvailabilityMode.DISABLED
        ),
        network=dbforpostgresql.NetworkArgs(
            delegated_subnet_resource_id=db.network.delegated_subnet_id,
            private_dns_zone_arm_resource_id=db.network.private_dns_zone_id,
            public_network_access=dbforpostgresql.ServerPublicNetworkAccessState.DISABLED,
        ),
        auth_config=dbforpostgresql.AuthConfigArgs(
            password_auth=dbforpostgresql.PasswordBasedAuth.ENABLED, active_directory_auth=dbforpostgresql.MicrosoftEntraAuth.DISABLED
        ),
        administrator_login=DB_USER,
        administrator_login_password=password,
        tags={**args.tags, "app": "mlflow"},
        opts=args.stateful(opts),
    )
    schema = dbforpostgresql.Database(
        f"{args.name}-db-mlflow",
        resource_group_name=group,
        server_name=server.name,
        database_name=DB_NAME,
        charset="UTF8",
        collation="en_US.utf8",
        opts=args.stateful(opts),
    )
    resources: list[pulumi.Resource] = [server, schema]
    if args.protect:
        resources.append(_lock(f"{args.name}-db-lock", server.id, opts))
    # verify-full against the image's system trust store: the server certificate names
    # <server>.postgres.database.azure.com and chains to a public root (DigiCert Global Root G2 or
    # Microsoft RSA Root CA 2017), per "Transport Layer Security in Azure Database for PostgreSQL flexible
    # server" (https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-ssl-tls), read 2026-12-07.
    tls = DatabaseTls(mode="verify-full", ca_file=SYSTEM_TRUST_STORE)
    return BackendDatabase(host=server.fully_qualified_domain_name, resources=resources, tls=tls)


def artifact_store(args: StoreArgs, opts: pulumi.ResourceOptions) -> ArtifactStore:
    """Storage account + container: no anonymous or shared-key access, TLS 1.2, versioning, soft delete, version expiry."""
    group = args.cloud.resource_group or ""
    tags = {**args.tags, "app": "mlflow"}
    account = storage.StorageAccount(
        f"{args.name}-artifacts",
        account_name=args.bucket,
        resource_group_name=group,
        location=args.cloud.location,
        kind=storage.Kind.STORAGE_V2,
        sku=storage.SkuArgs(name=storage.SkuName.STANDARD_ZRS),
        access_tier=storage.AccessTier.HOT,
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        enable_https_traffic_only=True,
        minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
        encryption=storage.EncryptionArgs(
            key_source=storage.KeySource.MICROSOFT_STORAGE,
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT)),
        ),
        tags=tags,
        opts=args.stateful(opts),
    )
    blob = storage.BlobServiceProperties(
        f"{args.name}-artifacts-blob",
        account_name=account.name,
        resource_group_name=group,
        blob_services_name="default",
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=7),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=7),
        opts=opts,
    )
    container = storage.BlobContainer(
        f"{args.name}-artifacts-container",
        account_name=account.name,
        resource_group_name=group,
        container_name=AZURE_CONTAINER,
        public_access=storage.PublicAccess.NONE,
        opts=pulumi.ResourceOptions.merge(args.stateful(opts), pulumi.ResourceOptions(depends_on=[blob])),
    )
    days = args.config.artifact_noncurrent_days
    lifecycle = storage.ManagementPolicy(
        f"{args.name}-artifacts-lifecycle",
        account_name=account.name,
        resource_group_name=group,
        management_policy_name="default",
        policy=storage.ManagementPolicySchemaArgs(
            rules=[
                storage.ManagementPolicyRuleArgs(
                    name="expire-noncurrent-versions",
                    enabled=True,
                    type=storage.RuleType.LIFECYCLE,
                    definition=storage.ManagementPolicyDefinitionArgs(
                        filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"], prefix_match=[f"{AZURE_CONTAINER}/"]),
                        actions=storage.ManagementPolicyActionArgs(
                            version=storage.ManagementPolicyVersionArgs(
                                delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=days)
                            )
                        ),
                    ),
                )
            ]
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[blob])),
    )
    resources: list[pulumi.Resource] = [account, blob, container, lifecycle]
    if args.protect:
        resources.append(_lock(f"{args.name}-artifacts-lock", account.id, opts))
    scope = (
        f"/subscriptions/{args.cloud.subscription_id}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/"
        f"{args.bucket}/blobServices/default/containers/{AZURE_CONTAINER}"
    )
    return ArtifactStore(
        destination=f"wasbs://{AZURE_CONTAINER}@{args.bucket}.blob.core.windows.net/{ARTIFACT_PREFIX}",
        # The container's ID, as an output of the container so the role assignment waits for it.
        grant=ObjectStoreGrant(
            f"as://{args.bucket}/{AZURE_CONTAINER}/{ARTIFACT_PREFIX}", write=True, resource_id=container.id.apply(lambda _: scope)
        ),
        resources=resources,
    )
