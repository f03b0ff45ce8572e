"""What the alert rules' PromQL is built from: the scrape jobs it selects, label selectors, thresholds as text.

The job names are the ``job`` label each ServiceMonitor gives its targets (``servicemonitors``); rules and
dashboards select by them, so all three take them from here.
"""

from __future__ import annotations

TRITON_JOB = "triton"
MLFLOW_JOB = "mlflow"
DCGM_JOB = "dcgm-exporter"
PUSHGATEWAY_JOB = "pushgateway"


def num(value: float) -> str:
    """A threshold as PromQL and humans read it: no float noise (0.0144, not 0.014400000000000001)."""
    return f"{value:.6g}"


def percent(ratio: float) -> str:
    return f"{100 * ratio:.4g}%"


def selector(**labels: str) -> str:
    """``{k="v", ...}``; a value starting with ``~`` is a regex match (``k=~"..."``)."""
    inner = ", ".join(f'{k}="{v}"' if not v.startswith("~") else f'{k}=~"{v[1:]}"' for k, v in labels.items())
    return "{" + inner + "}"


def down(job: str, namespace: str) -> str:
    """No target of the job up in the namespace, or none left at all."""
    sel = selector(job=job, namespace=namespace)
    return f"sum by (job, namespace) (up{sel}) == 0\nor\nabsent(up{sel})"
