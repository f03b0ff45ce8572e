"""The MLflow tracking server: managed PostgreSQL, a cloud artifact bucket, workload identity and OIDC, per cloud."""

from .server import MlflowServer, MlflowServerArgs
from .sizes import DATABASE_SIZES, DatabaseSize, database_size

__all__ = ["DATABASE_SIZES", "DatabaseSize", "MlflowServer", "MlflowServerArgs", "database_size"]
