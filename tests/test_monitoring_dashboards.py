"""Dashboards: built with grafana-foundation-sdk (Grafana 11.6), structurally checked and round-tripped through the SDK."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from mlops_platform.monitoring.dashboards import dashboard_texts, dashboards
from mlops_platform.monitoring.rules import rule_groups

from .test_monitoring_rules import FIXTURE

EXPECTED = {
    "model-serving.json": [
        "Throughput",
        "Error ratio",
        "p50 / p99 request latency (worst replica)",
        "Average queue time",
        "Average batch size",
    ],
    "gpu.json": ["GPU utilisation", "GPU memory in use", "Power draw", "Utilisation per GPU pool"],
    "mlflow.json": ["Replicas up", "Requests by status", "p50 / p99 latency"],
    "canary.json": ["Error ratio by version", "p99 latency by version", "Traffic share by version"],
}


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def structural_problems(model: dict[str, Any]) -> list[str]:
    """Grafana has no offline validator: check what an import needs and what makes a dashboard unreadable."""
    problems = [f"missing {key}" for key in ("title", "uid", "panels", "schemaVersion", "templating", "time") if key not in model]
    problems += [f"null at {p}" for p in _nulls(model)]
    ids = [p.get("id") for p in model.get("panels", [])]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids not unique: {ids}")
    cells: set[tuple[int, int]] = set()
    for panel in model.get("panels", []):
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid["x"] + grid["w"] > 24 or grid["w"] < 1:
            problems.append(f"bad gridPos {grid} in {panel.get('title')}")
            continue
        own = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        if own & cells:
            problems.append(f"{panel.get('title')} overlaps another panel")
        cells |= own
        if panel["type"] == "row":
            continue
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if not refs or "" in refs or len(refs) != len(set(refs)):
            problems.append(f"{panel.get('title')}: refIds {refs}")
        if any(not t.get("expr") for t in panel.get("targets", [])):
            problems.append(f"{panel.get('title')}: empty query")
        if panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{panel.get('title')}: datasource {panel.get('datasource')}")
    names = [v.get("name") for v in model.get("templating", {}).get("list", [])]
    if "datasource" not in names or len(names) != len(set(names)):
        problems.append(f"variables {names}")
    used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", " ".join(t["expr"] for p in model["panels"] for t in p.get("targets", []))))
    missing = used - set(names) - {"__rate_interval", "__interval", "__range"}
    if missing:
        problems.append(f"undefined variables {sorted(missing)}")
    return problems


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return dashboards(FIXTURE)


def test_the_four_dashboards_and_their_panels(built):
    assert list(built) == list(EXPECTED)
    for name, titles in EXPECTED.items():
        present = [p["title"] for p in built[name]["panels"]]
        assert set(titles) <= set(present), (name, present)
        assert built[name]["schemaVersion"] == 41  # Grafana 11.6
        assert built[name]["uid"].startswith("mlops-") and "prod" in built[name]["tags"]


def test_dashboards_are_structurally_sound(built):
    for name, model in built.items():
        assert structural_problems(model) == [], name


def test_structural_check_catches_defects(built):
    broken = dict(built["gpu.json"])
    broken["panels"] = [dict(p) for p in broken["panels"]]
    broken["panels"][1]["gridPos"] = {"x": 20, "y": 1, "w": 12, "h": 8}
    broken["panels"][2]["targets"] = [{**broken["panels"][2]["targets"][0], "refId": ""}]
    problems = structural_problems(broken)
    assert any("bad gridPos" in p for p in problems) and any("refIds" in p for p in problems)


def test_dashboards_round_trip_through_the_sdk(built):
    register_default_plugins()
    for name, model in built.items():
        parsed = Dashboard.from_json(model)
        assert parsed.title == model["title"] and parsed.uid == model["uid"], name


def test_recording_rules_used_by_dashboards_exist(built):
    recorded = {rule["record"] for group in rule_groups(FIXTURE) for rule in group["rules"] if "record" in rule}
    for name, model in built.items():
        exprs = " ".join(t["expr"] for p in model["panels"] for t in p.get("targets", []))
        used = set(re.findall(r"\b(namespace_model[a-z_]*:[a-z_0-9]+:[a-z_0-9]+)", exprs))
        assert used <= recorded, (name, used - recorded)


def test_dashboards_follow_the_stack_and_are_deterministic():
    plain = dataclasses.replace(FIXTURE, gpus=False, tracking_namespace=None)
    assert list(dashboards(plain)) == ["model-serving.json", "canary.json"]
    assert dashboard_texts(FIXTURE) == dashboard_texts(dataclasses.replace(FIXTURE))
    assert "fraud: v7 configured" in dashboards(FIXTURE)["canary.json"]["description"]


def test_readme_catalogue_and_dashboards_are_generated_and_fresh():
    from mlops_platform.monitoring.rules import CATALOGUE
    from tools import monitoring_readme as readme

    text = readme.README.read_text()
    assert readme.with_catalogue(text) == text, "README monitoring catalogue is stale: run `python -m tools.monitoring_readme`"
    block = text.split(readme.BEGIN)[1].split(readme.END)[0]
    assert all(f"| `{a.name}` |" in block for a in CATALOGUE)
    for name, titles in EXPECTED.items():
        assert f"`grafana/{name}`" in block and all(f"| {t} |" in block for t in titles), name


def test_readme_generator_needs_its_markers():
    from tools import monitoring_readme as readme

    with pytest.raises(ValueError, match="needs one"):
        readme.with_catalogue("no markers here")
    stale = readme.with_catalogue(f"a\n{readme.BEGIN}\nold table\n{readme.END}\nb\n")
    assert "old table" not in stale and stale.startswith("a\n") and stale.endswith("\nb\n") and "ModelDataDrift" in stale
