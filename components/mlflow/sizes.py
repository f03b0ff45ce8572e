"""Database sizes: the cloud-neutral `small` / `medium` / `large` of `MlflowDatabase.size`, per cloud.

Every row names the instance class (RDS), machine tier (Cloud SQL) or SKU and tier (Azure flexible
server), its vCPUs and memory, and where those figures come from. Written 2026-11 from the pages named
in ``source``; this workplace has no route to them, so they were not re-read when the table was written.

Choices:

* AWS: Graviton classes (`db.t4g`, `db.m7g`), which RDS for PostgreSQL 15-17 supports with Multi-AZ.
* GCP: custom machine tiers of the Enterprise edition. The edition is set explicitly because Cloud SQL
  makes PostgreSQL 16+ instances Enterprise Plus by default, which only accepts `db-perf-optimized-*`.
* Azure: `small` is Burstable, which has no high availability (rejected by ``mlflow_issues``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config.cloud import CloudProvider

Size = Literal["small", "medium", "large"]

SIZES_AS_OF = "2026-11"
_RDS = "AWS RDS User Guide, 'Hardware specifications for DB instance classes' (Concepts.DBInstanceClass.Summary), 2026-11"
_CLOUD_SQL = "Cloud SQL for PostgreSQL docs, 'Instance settings: machine types' (custom: 1 or even vCPUs, 0.9-6.5 GB per vCPU), 2026-11"
_AZURE = "Azure Database for PostgreSQL flexible server docs, 'Compute options' (Burstable B-series, General Purpose Ddsv5), 2026-11"


@dataclass(frozen=True)
class DatabaseSize:
    """One cloud's instance for one cloud-neutral size."""

    cloud: CloudProvider
    size: Size
    instance: str
    """RDS instance class, Cloud SQL tier or Azure SKU name."""
    tier: str | None
    """Azure SKU tier (`Burstable`, `GeneralPurpose`); Cloud SQL edition; None on AWS."""
    vcpus: int
    memory_gib: float
    high_availability: bool
    """Whether the cloud offers a standby for it (Multi-AZ, REGIONAL, zone-redundant HA)."""
    source: str


DATABASE_SIZES: tuple[DatabaseSize, ...] = (
    DatabaseSize("aws", "small", "db.t4g.small", None, 2, 2, True, _RDS),
    DatabaseSize("aws", "medium", "db.m7g.large", None, 2, 8, True, _RDS),
    DatabaseSize("aws", "large", "db.m7g.xlarge", None, 4, 16, True, _RDS),
    DatabaseSize("gcp", "small", "db-custom-1-3840", "ENTERPRISE", 1, 3.75, True, _CLOUD_SQL),
    DatabaseSize("gcp", "medium", "db-custom-2-7680", "ENTERPRISE", 2, 7.5, True, _CLOUD_SQL),
    DatabaseSize("gcp", "large", "db-custom-4-15360", "ENTERPRISE", 4, 15, True, _CLOUD_SQL),
    DatabaseSize("azure", "small", "Standard_B1ms", "Burstable", 1, 2, False, _AZURE),
    DatabaseSize("azure", "medium", "Standard_D2ds_v5", "GeneralPurpose", 2, 8, True, _AZURE),
    DatabaseSize("azure", "large", "Standard_D4ds_v5", "GeneralPurpose", 4, 16, True, _AZURE),
)


def database_size(cloud: str, size: str) -> DatabaseSize:
    """The row for a cloud and size; KeyError when the table has none."""
    for row in DATABASE_SIZES:
        if row.cloud == cloud and row.size == size:
            return row
    raise KeyError(f"no database size {size!r} on {cloud!r}")
