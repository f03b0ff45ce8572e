"""Names and numbers two components must agree on, in one place so neither imports the other.

Each constant is defined here and only used elsewhere: the component that owns the thing (the MLflow server's
port) and the one that refers to it (monitoring's scrape) both import it from this module.
"""

from __future__ import annotations

from typing import Final

MLFLOW_SERVER_PORT: Final = 5000
"""The MLflow server container's port: the server listens on it, monitoring scrapes its metrics there."""
