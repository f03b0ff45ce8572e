"""Keeps the README's alert catalogue and dashboard descriptions generated from the code that builds them.

Regenerate with ``python -m tools.monitoring_readme``; a test fails while the README's copy is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from mlops_platform.monitoring.dashboards import canary_dashboard, dashboards, gpu_dashboard, mlflow_dashboard, serving_dashboard
from mlops_platform.monitoring.rules import CATALOGUE
from mlops_platform.monitoring.spec import AlertSpec, ModelSpec

from .readme_blocks import README, with_block

BEGIN = "<!-- monitoring catalogue: generated from components/monitoring by `python -m tools.monitoring_readme` -->"
END = "<!-- end of the generated monitoring catalogue -->"


def catalogue_markdown() -> str:
    """The alert catalogue as a Markdown table (README)."""
    lines = ["| alert | scope | expression intent | detection budget | default severity |", "|---|---|---|---|---|"]
    lines += [f"| `{a.name}` | {a.scope} | {a.intent} | {a.budget} | {a.severity} |" for a in CATALOGUE]
    return "\n".join(lines) + "\n"


EXAMPLE = AlertSpec(
    environment="prod",
    serving_namespace="ml-serving",
    tracking_namespace="mlflow",
    gpus=True,
    drift=True,
    models=(ModelSpec(name="fraud", version=7, availability=0.999, p99_latency_ms=200),),
)
"""A stack with every dashboard; panels and their texts depend only on the catalogue's default thresholds."""

BUILDERS: dict[str, Callable[[AlertSpec], Dashboard]] = {
    "model-serving.json": serving_dashboard,
    "gpu.json": gpu_dashboard,
    "mlflow.json": mlflow_dashboard,
    "canary.json": canary_dashboard,
}
"""Each dashboard file and the function that builds it (its docstring is the dashboard's summary)."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def dashboards_markdown() -> str:
    """One section per dashboard: title, file, what it is for, and every panel under its row."""
    built = dashboards(EXAMPLE)
    if list(built) != list(BUILDERS):
        raise ValueError(f"dashboards {list(built)} differ from the documented {list(BUILDERS)}")
    lines: list[str] = []
    for file, model in built.items():
        summary = (BUILDERS[file].__doc__ or "").strip().splitlines()[0]
        lines += [f"**{model['title']}** (`grafana/{file}`, uid `{model['uid']}`): {summary}", ""]
        lines += ["| row | panel | shows |", "|---|---|---|"]
        row = ""
        panels: list[dict[str, Any]] = model["panels"]
        for panel in panels:
            if panel["type"] == "row":
                row = panel["title"]
                continue
            lines.append(f"| {_cell(row)} | {_cell(panel['title'])} | {_cell(panel.get('description', ''))} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def generated() -> str:
    """The README block between the markers."""
    return f"Alert catalogue:\n\n{catalogue_markdown()}\nDashboards (folder `MLOps` in Grafana):\n\n{dashboards_markdown()}"


def with_catalogue(readme: str) -> str:
    """The README text with the generated block between its markers, which must each appear exactly once."""
    return with_block(readme, BEGIN, END, generated())


if __name__ == "__main__":
    README.write_text(with_catalogue(README.read_text()))
