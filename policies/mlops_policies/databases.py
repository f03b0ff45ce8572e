"""Databases (RDS/Aurora, Cloud SQL, Azure Database for PostgreSQL flexible server): encrypted, backed up, private, deletion-protected."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .settings import PROTECT_STATEFUL, AnyPolicy, message, schema, setting_number, settings

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
AZ_PG = "azure-native:dbforpostgresql:Server"
AZ_PG_CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
AZ_PG_FIREWALL = "azure-native:dbforpostgresql:FirewallRule"
DATABASES = (RDS_INSTANCE, RDS_CLUSTER, CLOUD_SQL, AZ_PG)
CLOUD_SQL_TLS_MODES = {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}


def _is_read_replica(args: ResourceValidationArgs) -> bool:
    p = args.props
    return bool(
        wire.text(p.get("replicateSourceDb"))
        or wire.text(p.get("masterInstanceName"))
        or wire.text(p.get("replicationRole")) == "AsyncReplica"
    )


# --- encryption --------------------------------------------------------------------------------------------------------


def _check_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t in (RDS_INSTANCE, RDS_CLUSTER) and wire.flag(p.get("storageEncrypted")) is not True:
        report(
            message(
                f"RDS {'cluster' if t == RDS_CLUSTER else 'instance'} '{name}'",
                "stores data unencrypted",
                "set storageEncrypted: true (and kmsKeyId)",
            ),
            None,
        )
    elif t == CLOUD_SQL:
        ip = wire.mapping(wire.get(p, "settings", "ipConfiguration"))
        mode = wire.text(ip.get("sslMode"))
        if mode not in CLOUD_SQL_TLS_MODES and wire.flag(ip.get("requireSsl")) is not True:
            report(
                message(
                    f"Cloud SQL instance '{name}'",
                    f"accepts unencrypted connections (sslMode '{mode or 'unset'}')",
                    "set settings.ipConfiguration.sslMode: 'ENCRYPTED_ONLY'",
                ),
                None,
            )
    elif t == AZ_PG_CONFIGURATION:
        setting = wire.text(p.get("configurationName")) or name
        if setting == "require_secure_transport" and wire.text(p.get("value")).lower() in ("off", "false", "0"):
            report(
                message(f"PostgreSQL configuration '{name}'", "turns require_secure_transport off", "leave require_secure_transport 'on'"),
                None,
            )


database_encrypted = ResourceValidationPolicy(
    name="database-encrypted",
    description="Databases encrypt data at rest and require TLS in transit.",
    validate=_check_encrypted,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- backups -----------------------------------------------------------------------------------------------------------

_BACKUP_SCHEMA = schema(
    minBackupRetentionDays={"type": "integer", "minimum": 1, "default": 14, "description": "Fewest days of automated backups kept."}
)


def _check_backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t not in DATABASES or _is_read_replica(args):
        return
    minimum = setting_number(settings(args, _BACKUP_SCHEMA), "minBackupRetentionDays", 14)
    if t in (RDS_INSTANCE, RDS_CLUSTER):
        days = wire.number(p.get("backupRetentionPeriod"))
        if days is None or days < minimum:
            report(
                message(
                    f"RDS {'cluster' if t == RDS_CLUSTER else 'instance'} '{name}'",
                    f"keeps {'the default' if days is None else f'{days:g} day(s) of'} automated backups, below {minimum:g} days",
                    f"set backupRetentionPeriod to at least {minimum:g}",
                    f"mlflow.database.backup_retention_days: {minimum:g}",
                ),
                None,
            )
    elif t == CLOUD_SQL:
        backup = wire.mapping(wire.get(p, "settings", "backupConfiguration"))
        days = wire.number(wire.get(backup, "backupRetentionSettings", "retainedBackups"))
        if wire.flag(backup.get("enabled")) is not True:
            report(
                message(
                    f"Cloud SQL instance '{name}'",
                    "has automated backups off",
                    "set settings.backupConfiguration.enabled: true with pointInTimeRecoveryEnabled: true",
                ),
                None,
            )
        elif days is not None and days < minimum:
            report(
                message(
                    f"Cloud SQL instance '{name}'",
                    f"retains {days:g} backups, below {minimum:g}",
                    f"set settings.backupConfiguration.backupRetentionSettings.retainedBackups to at least {minimum:g}",
                    f"mlflow.database.backup_retention_days: {minimum:g}",
                ),
                None,
            )
    elif t == AZ_PG:
        days = wire.number(wire.get(p, "backup", "backupRetentionDays"))
        effective = 7.0 if days is None else days  # the service default
        if effective < minimum:
            report(
                message(
                    f"PostgreSQL flexible server '{name}'",
                    f"keeps {effective:g} days of backups, below {minimum:g}",
                    f"set backup.backupRetentionDays to at least {minimum:g}",
                    f"mlflow.database.backup_retention_days: {minimum:g}",
                ),
                None,
            )


database_backups = ResourceValidationPolicy(
    name="database-backups",
    description="Databases keep automated backups for at least the environment's retention.",
    validate=_check_backups,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_BACKUP_SCHEMA,
)


# --- network exposure --------------------------------------------------------------------------------------------------


def _check_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t in (RDS_INSTANCE, RDS_CLUSTER_INSTANCE) and wire.flag(p.get("publiclyAccessible")):
        report(
            message(f"RDS instance '{name}'", "is publicly accessible", "set publiclyAccessible: false and reach it from inside the VPC"),
            None,
        )
    elif t == CLOUD_SQL:
        ip = wire.mapping(wire.get(p, "settings", "ipConfiguration"))
        if wire.flag(ip.get("ipv4Enabled")) is not False:
            report(
                message(
                    f"Cloud SQL instance '{name}'",
                    "has a public IPv4 address (ipv4Enabled is not false)",
                    "set settings.ipConfiguration.ipv4Enabled: false with privateNetwork (private IP / PSC)",
                ),
                None,
            )
        for network in wire.items(ip.get("authorizedNetworks")):
            if wire.text(wire.get(network, "value")) in ("0.0.0.0/0", "::/0"):
                report(
                    message(f"Cloud SQL instance '{name}'", "authorizes the whole internet", "remove the 0.0.0.0/0 authorized network"),
                    None,
                )
    elif t == AZ_PG:
        access = wire.text(wire.get(p, "network", "publicNetworkAccess"))
        if access != "Disabled":
            report(
                message(
                    f"PostgreSQL flexible server '{name}'",
                    f"allows public network access ('{access or 'default: Enabled'}')",
                    "set network.publicNetworkAccess: 'Disabled' with a delegated subnet or private endpoint",
                ),
                None,
            )
    elif t == AZ_PG_FIREWALL:
        start, end = wire.text(p.get("startIpAddress")), wire.text(p.get("endIpAddress"))
        if start == "0.0.0.0" and end in ("255.255.255.255", "0.0.0.0"):
            report(
                message(
                    f"PostgreSQL firewall rule '{name}'",
                    f"opens the server to {'the internet' if end != '0.0.0.0' else 'all of Azure'} ({start}-{end})",
                    "remove the rule and use private networking",
                ),
                None,
            )


database_not_public = ResourceValidationPolicy(
    name="database-not-public",
    description="Databases have no public endpoint.",
    validate=_check_not_public,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- deletion protection -----------------------------------------------------------------------------------------------


def _check_deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    if t in (RDS_INSTANCE, RDS_CLUSTER) and wire.flag(p.get("deletionProtection")) is not True:
        report(
            message(
                f"RDS {'cluster' if t == RDS_CLUSTER else 'instance'} '{name}'",
                "can be deleted by the API",
                "set deletionProtection: true",
                PROTECT_STATEFUL,
            ),
            None,
        )
    elif t == CLOUD_SQL:
        if wire.flag(p.get("deletionProtection")) is False:
            report(
                message(f"Cloud SQL instance '{name}'", "turns Pulumi's deletionProtection off", "remove deletionProtection: false"), None
            )
        if wire.flag(wire.get(p, "settings", "deletionProtectionEnabled")) is not True:
            report(
                message(
                    f"Cloud SQL instance '{name}'",
                    "can be deleted through the Cloud SQL API",
                    "set settings.deletionProtectionEnabled: true",
                    PROTECT_STATEFUL,
                ),
                None,
            )
    elif t == AZ_PG and not args.opts.protect:
        report(
            message(
                f"PostgreSQL flexible server '{name}'",
                "has no deletion guard (Azure has no deletion-protection flag for it)",
                "protect the resource (ResourceOptions protect=True) and put a CanNotDelete lock on it",
                PROTECT_STATEFUL,
            ),
            None,
        )


database_deletion_protection = ResourceValidationPolicy(
    name="database-deletion-protection",
    description="Databases cannot be deleted by accident (cloud deletion protection, or protect on Azure).",
    validate=_check_deletion_protection,
    enforcement_level=EnforcementLevel.MANDATORY,
)


POLICIES: list[AnyPolicy] = [database_encrypted, database_backups, database_not_public, database_deletion_protection]
