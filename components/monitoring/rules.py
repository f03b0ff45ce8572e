"""Alert and recording rules generated from typed SLOs: pure functions of an ``AlertSpec``.

``rule_files(spec)`` returns plain Prometheus rule files (``{"groups": [...]}``) keyed by file name;
synth writes them and ``promtool check rules`` reads them. ``MonitoringStack`` ships the same groups
as one PrometheusRule object per file, so the cluster and the tested files cannot differ.

Each file's groups are built by the module of the same name (``serving.rules.yaml`` by ``serving_rules``, and
``gpu_rules``, ``workloads_rules``, ``drift_rules``), from the alerts of ``alert_catalogue`` and the PromQL pieces
of ``promql``; each module names the metrics it reads.
"""

from __future__ import annotations

from typing import Any

import yaml

from .alert_catalogue import CATALOGUE
from .drift_rules import drift_group
from .gpu_rules import gpu_group
from .serving_rules import MAX_BURN_THRESHOLD, burn_threshold, recording_rules, serving_group
from .spec import AlertSpec
from .workloads_rules import workloads_group

__all__ = [
    "CATALOGUE",
    "MAX_BURN_THRESHOLD",
    "alert_names",
    "burn_threshold",
    "dump_rule_file",
    "rule_file_texts",
    "rule_files",
    "rule_groups",
]
"""The rule files, and the catalogue and burn thresholds that were always importable from here."""


def rule_files(spec: AlertSpec) -> dict[str, dict[str, Any]]:
    """Plain Prometheus rule files, keyed by file name, in a fixed order."""
    files: dict[str, dict[str, Any]] = {}
    if spec.models:
        files["serving.rules.yaml"] = {"groups": [recording_rules(spec), serving_group(spec)]}
    if spec.gpus:
        files["gpu.rules.yaml"] = {"groups": [gpu_group(spec)]}
    files["workloads.rules.yaml"] = {"groups": [workloads_group(spec)]}
    if spec.drift and spec.scored_models:
        files["drift.rules.yaml"] = {"groups": [drift_group(spec)]}
    return files


def rule_groups(spec: AlertSpec) -> list[dict[str, Any]]:
    """Every rule group of the stack, in file order."""
    return [group for content in rule_files(spec).values() for group in content["groups"]]


def alert_names(spec: AlertSpec) -> list[str]:
    """The distinct alerts a stack generates, in catalogue order."""
    present = {rule["alert"] for group in rule_groups(spec) for rule in group["rules"] if "alert" in rule}
    return [a.name for a in CATALOGUE if a.name in present]


class _RuleDumper(yaml.SafeDumper):
    """Multi-line PromQL as literal blocks, so rule files read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RuleDumper.add_representer(str, _str)


def dump_rule_file(content: dict[str, Any]) -> str:
    """A rule file as YAML text, byte-identical for identical input."""
    return yaml.dump(content, Dumper=_RuleDumper, sort_keys=False, default_flow_style=False, width=200, allow_unicode=True)


def rule_file_texts(spec: AlertSpec) -> dict[str, str]:
    """Rule files as text, keyed by file name: what synth writes under ``prometheus/``."""
    return {name: dump_rule_file(content) for name, content in rule_files(spec).items()}
