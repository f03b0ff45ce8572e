"""Names and numbers two components must agree on, in one place so neither imports the other.

Each constant is defined here and only used elsewhere: the component that owns the thing (the MLflow server's
port, the serving component's rollback alert) and the one that refers to it (monitoring's scrape, its alert
catalogue) both import it from this module.
"""

from __future__ import annotations

from typing import Final

MLFLOW_SERVER_PORT: Final = 5000
"""The MLflow server container's port: the server listens on it, monitoring scrapes its metrics there."""

ROLLBACK_ALERT: Final = "TritonCanaryRegression"
"""The alert the serving component generates for a candidate that regresses (its rollback job acts on it)."""
ROLLBACK_ALERT_SEVERITY: Final = "ticket"
ROLLBACK_ALERT_CATEGORY: Final = "canary"
"""The rollback alert's labels: a ticket (the job acts at once; people follow up), routed with the canary alerts."""
