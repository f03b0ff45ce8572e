"""GCP: Cloud SQL for PostgreSQL on a private IP and a GCS artifact bucket."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from ..identity import ObjectStoreGrant
from .sizes import database_size
from .stores import ARTIFACT_PREFIX, DB_NAME, DB_USER, ArtifactStore, BackendDatabase, DatabaseTls, StoreArgs


def network_self_link(network: str, project: str) -> str:
    """`projects/<p>/global/networks/<n>` from a network name, a partial path or a full self link."""
    if "/networks/" in network:
        return "projects/" + network.split("/projects/", 1)[-1].removeprefix("projects/")
    return f"projects/{project}/global/networks/{network}"


def database(args: StoreArgs, password: pulumi.Output[str], opts: pulumi.ResourceOptions) -> BackendDatabase:
    """Cloud SQL (Enterprise edition): private IP only, TLS only, backups with PITR, deletion protection in prod."""
    db = args.config.database
    size = database_size("gcp", db.size)
    project = args.cloud.project or ""
    if db.network.vpc_network:
        network: pulumi.Input[str] = network_self_link(db.network.vpc_network, project)
    else:
        cluster = gcp.container.get_cluster_output(
            name=args.cluster_name,
            location=args.cluster_location or args.cloud.region,
            project=project,
            opts=pulumi.InvokeOutputOptions(parent=opts.parent),  # the provider the server inherits
        )
        network = cluster.network.apply(lambda n: network_self_link(n or "default", project))
    labels = {**args.tags, "app": "mlflow"}
    instance = gcp.sql.DatabaseInstance(
        f"{args.name}-db",
        project=project,
        region=args.cloud.region,
        database_version=f"POSTGRES_{db.engine_version}",
        deletion_protection=args.protect,
        settings=gcp.sql.DatabaseInstanceSettingsArgs(
            tier=size.instance,
            edition=size.tier,
            availability_type="REGIONAL" if db.high_availability else "ZONAL",
            disk_type="PD_SSD",
            disk_size=db.storage_gb,
            disk_autoresize=True,
            disk_autoresize_limit=db.storage_gb * 2,
            deletion_protection_enabled=args.protect,
            retain_backups_on_delete=args.protect,
            backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                enabled=True,
                point_in_time_recovery_enabled=True,
                start_time="03:00",
                transaction_log_retention_days=min(7, db.backup_retention_days),
                backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                    retained_backups=db.backup_retention_days, retention_unit="COUNT"
                ),
            ),
            ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False,
                private_network=network,
                ssl_mode="ENCRYPTED_ONLY",
                server_ca_mode="GOOGLE_MANAGED_INTERNAL_CA",  # a CA of this instance alone: see the verify-ca note below
            ),
            maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(day=7, hour=4),
            user_labels=labels,
        ),
        opts=args.stateful(opts),
    )
    schema = gcp.sql.Database(f"{args.name}-db-mlflow", name=DB_NAME, instance=instance.name, project=project, opts=args.stateful(opts))
    user = gcp.sql.User(
        f"{args.name}-db-user",
        name=DB_USER,
        instance=instance.name,
        project=project,
        password=password,
        deletion_policy="ABANDON",  # PostgreSQL refuses to drop a role that owns objects
        opts=opts,
    )
    # verify-ca, not verify-full: Cloud SQL's server certificate does not name the private IP the server connects
    # to (its CN is <project>:<instance>). The CA is this instance's own, so a certificate it signed proves this
    # instance. Every listed CA is trusted, so a rotation's upcoming CA is accepted before the switch.
    ca_pem = instance.server_ca_certs.apply(lambda certs: "".join(cert.cert for cert in certs or [] if cert.cert))
    tls = DatabaseTls(mode="verify-ca", ca_pem=ca_pem)
    return BackendDatabase(host=instance.private_ip_address, resources=[instance, schema, user], tls=tls)


def artifact_store(args: StoreArgs, opts: pulumi.ResourceOptions) -> ArtifactStore:
    """GCS bucket: uniform access, public access prevention, versioned, noncurrent versions deleted after N days."""
    bucket = gcp.storage.Bucket(
        f"{args.name}-artifacts",
        name=args.bucket,
        project=args.cloud.project,
        location=(args.cloud.region or "").upper(),
        storage_class="STANDARD",
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=args.config.artifact_noncurrent_days, with_state="ARCHIVED"
                ),
            ),
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=7),
            ),
        ],
        force_destroy=False,
        labels={**args.tags, "app": "mlflow"},
        opts=args.stateful(opts),
    )
    return ArtifactStore(
        destination=f"gs://{args.bucket}/{ARTIFACT_PREFIX}",
        grant=ObjectStoreGrant(f"gs://{args.bucket}/{ARTIFACT_PREFIX}", write=True),
        resources=[bucket],
        env={"GOOGLE_CLOUD_PROJECT": args.cloud.project or ""},
    )
