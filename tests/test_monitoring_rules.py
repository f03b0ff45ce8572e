"""Alert rules: generated from typed SLOs, checked and tested with the real promtool.

The promtool suites in tests/promtool/ inject faults into synthetic series and assert that each
alert fires within its budget and stays quiet on healthy (including near-threshold) traffic. They
run against rules generated from ``FIXTURE``, checked in under tests/promtool/rules/ (regenerate
with ``python -m tests.test_monitoring_rules``; a test fails when they are stale). Releases are judged by
Flagger, not by alerts (tests/test_release.py).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_platform.config import PlatformConfig, validate_platform
from mlops_platform.config.monitoring import AlertingConfig
from mlops_platform.monitoring.rules import CATALOGUE, alert_names, rule_file_texts, rule_files
from mlops_platform.monitoring.spec import SEVERITIES, AlertSpec, ModelSpec, alert_spec
from tools import synth

from .conftest import STACKS, stack_values

PROMTOOL_DIR = Path(__file__).parent / "promtool"
SUITES = sorted(PROMTOOL_DIR.glob("*.test.yaml"))

FIXTURE = AlertSpec(
    environment="prod",
    serving_namespace="ml-serving",
    tracking_namespace="mlflow",
    gpus=True,
    drift=True,
    drift_stale_after_minutes=60,
    models=(
        ModelSpec(
            name="fraud",
            version=7,
            availability=0.999,
            p99_latency_ms=200,
            drift_score=0.3,
            min_quality=0.85,
        ),
        ModelSpec(name="embedder", version=3, availability=0.99, p99_latency_ms=1000),
    ),
    alerting=AlertingConfig(severity_overrides={"MlflowDown": "page"}),
)
"""The stack the promtool suites are written against: two models, GPUs, MLflow, drift."""


def fixture_rule_texts(spec: AlertSpec) -> dict[str, str]:
    """The monitoring rule files of ``spec``, by file name."""
    return rule_file_texts(spec)


def write_fixture_rules(spec: AlertSpec, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, text in fixture_rule_texts(spec).items():
        (target / name).write_text(text)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: `make test` installs it (apt-get install -y --no-install-recommends prometheus)")
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=300, check=False)


def strip_annotations(rules_dir: Path, suites: list[Path], target: Path) -> None:
    """Copy rules and suites without annotations, so a mutation is judged on timing alone."""
    (target / "rules").mkdir(parents=True, exist_ok=True)
    for path in rules_dir.glob("*.yaml"):
        content = yaml.safe_load(path.read_text())
        for group in content["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        (target / "rules" / path.name).write_text(yaml.safe_dump(content, sort_keys=False))
    for suite in suites:
        content = yaml.safe_load(suite.read_text())
        for test in content["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    alert.pop("exp_annotations", None)
        (target / suite.name).write_text(yaml.safe_dump(content, sort_keys=False))


def run_suites(directory: Path) -> subprocess.CompletedProcess[str]:
    return run_promtool("test", "rules", *sorted(str(p) for p in directory.glob("*.test.yaml")))


def test_fixture_rules_are_fresh():
    for name, text in fixture_rule_texts(FIXTURE).items():
        path = PROMTOOL_DIR / "rules" / name
        assert path.is_file() and path.read_text() == text, f"{path} is stale: run `python -m tests.test_monitoring_rules`"
    assert sorted(p.name for p in (PROMTOOL_DIR / "rules").glob("*.yaml")) == sorted(fixture_rule_texts(FIXTURE))


def test_promtool_suites_pass():
    assert SUITES, "no promtool suites in tests/promtool"
    result = run_promtool("test", "rules", *map(str, SUITES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_fixture_rule_files_pass_promtool_check():
    """The suites load these files without linting them; the drift rules exist in no shipped stack."""
    files = sorted(str(p) for p in (PROMTOOL_DIR / "rules").glob("*.yaml"))
    result = run_promtool("check", "rules", "--lint=all", "--lint-fatal", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def _expectations() -> tuple[set[str], set[str]]:
    firing: set[str] = set()
    quiet: set[str] = set()
    for suite in SUITES:
        for test in yaml.safe_load(suite.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return firing, quiet


def test_every_alert_is_tested_firing_and_quiet():
    firing, quiet = _expectations()
    catalogue = {a.name for a in CATALOGUE}
    assert set(alert_names(FIXTURE)) == catalogue, "the fixture must generate every alert of the catalogue"
    assert firing == catalogue, f"alerts never asserted firing: {sorted(catalogue - firing)}"
    assert quiet == catalogue, f"alerts never asserted quiet: {sorted(catalogue - quiet)}"


def test_catalogue_severities_and_categories():
    assert [a.name for a in CATALOGUE] == list(SEVERITIES)
    for group in rule_files(FIXTURE).values():
        for rule in (r for g in group["groups"] for r in g["rules"] if "alert" in r):
            assert rule["labels"]["severity"] == FIXTURE.severity(rule["alert"])
            assert rule["labels"]["category"] in {
                "availability",
                "latency",
                "saturation",
                "health",
                "drift",
                "quality",
                "data_quality",
            }
            # drift, quality and data-quality alerts also carry their value, which the retraining trigger forwards
            assert set(rule["annotations"]) - {"value"} == {"summary", "description"}
    overridden = [r for g in rule_files(FIXTURE)["workloads.rules.yaml"]["groups"] for r in g["rules"] if r.get("alert") == "MlflowDown"]
    assert overridden[0]["labels"]["severity"] == "page" != SEVERITIES["MlflowDown"]


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    """One Alertmanager matcher (`name="v"`, `name!="v"`, `name=~"re"`) against an alert's labels."""
    name, op, value = re.fullmatch(r'(\w+)(=~|!=|=)"(.*)"', matcher).groups()  # type: ignore[union-attr]
    actual = labels.get(name, "")
    return {"=": actual == value, "!=": actual != value, "=~": re.fullmatch(value, actual) is not None}[op]


def stack_config(stack: str) -> PlatformConfig:
    """A shipped stack's validated config; managed endpoints (which monitoring never reads) are left out."""
    values = stack_values(stack)
    values.pop("managed_endpoints", None)
    return validate_platform(stack, values, set(), allow_missing_secrets=True)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_generated_rule_files_pass_promtool_check(tmp_path, stack):
    cfg = stack_config(stack)
    files = rule_file_texts(alert_spec(cfg))
    assert "workloads.rules.yaml" in files
    assert ("serving.rules.yaml" in files) == bool(cfg.models)
    assert ("gpu.rules.yaml" in files) == bool(cfg.gpu_pools)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run_promtool("check", "rules", "--lint=all", "--lint-fatal", *sorted(str(p) for p in tmp_path.iterdir()))
    assert result.returncode == 0, result.stdout + result.stderr
    for model in cfg.models:
        assert f'model="{model.name}"' in files["serving.rules.yaml"]
        assert f'namespace="{cfg.namespaces.serving}"' in files["serving.rules.yaml"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_file_synth_writes_passes_promtool_check(tmp_path, shipped, stack):
    """What `make synth` writes under prometheus/: the monitoring rule files."""
    result = shipped[stack]
    synth.write(result, tmp_path)
    written = sorted((tmp_path / "prometheus").glob("*.yaml"))
    expected = set(rule_file_texts(alert_spec(result.config))) if result.config.monitoring.enabled else set()
    if not expected:
        assert not written
        return
    assert {p.name for p in written} == expected
    checked = run_promtool("check", "rules", "--lint=all", "--lint-fatal", *map(str, written))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(written)


def test_promtool_check_catches_a_broken_rule(tmp_path):
    broken = rule_files(FIXTURE)["gpu.rules.yaml"]
    broken["groups"][0]["rules"][0]["expr"] += " >"
    (tmp_path / "gpu.rules.yaml").write_text(yaml.safe_dump(broken))
    assert run_promtool("check", "rules", str(tmp_path / "gpu.rules.yaml")).returncode != 0


def test_generation_is_deterministic():
    again = AlertSpec(**{f.name: getattr(FIXTURE, f.name) for f in dataclasses.fields(FIXTURE)})
    assert rule_file_texts(again) == rule_file_texts(FIXTURE)
    cfg = stack_config("prod")
    assert rule_file_texts(alert_spec(cfg)) == rule_file_texts(alert_spec(cfg))


def test_loose_slo_thresholds_are_capped():
    from mlops_platform.monitoring.rules import MAX_BURN_THRESHOLD, burn_threshold

    assert burn_threshold(0.999, 14.4) == 0.0144
    assert burn_threshold(0.9, 14.4) == MAX_BURN_THRESHOLD


def _model(spec: AlertSpec, **changes: object) -> AlertSpec:
    fraud = dataclasses.replace(spec.models[0], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(spec, models=(fraud, *spec.models[1:]))


def _alerting(spec: AlertSpec, **changes: object) -> AlertSpec:
    return dataclasses.replace(spec, alerting=spec.alerting.model_copy(update=changes))


MUTATIONS = {
    "availability stricter (99.95 %)": ("ModelErrorBudgetFastBurn", lambda s: _model(s, availability=0.9995), None),
    "availability looser (99.5 %)": ("ModelErrorBudgetFastBurn", lambda s: _model(s, availability=0.995), None),
    "fast burn factor 7.2": ("ModelErrorBudgetFastBurn", None, ("FAST_BURN", (7.2, "1h", "5m"))),
    "fast burn long window 6h": ("ModelErrorBudgetFastBurn", None, ("FAST_BURN", (14.4, "6h", "5m"))),
    "slow burn factor 3": ("ModelErrorBudgetSlowBurn", None, ("SLOW_BURN", (3.0, "6h", "30m"))),
    "slow burn factor 12": ("ModelErrorBudgetSlowBurn", None, ("SLOW_BURN", (12.0, "6h", "30m"))),
    "p99 objective 320 ms": ("ModelLatencyP99High", lambda s: _model(s, p99_latency_ms=320), None),
    "p99 objective 170 ms": ("ModelLatencyP99High", lambda s: _model(s, p99_latency_ms=170), None),
    "queue fraction 1.0": ("ModelQueueTimeHigh", lambda s: _alerting(s, queue_time_fraction=1.0), None),
    "queue fraction 0.3": ("ModelQueueTimeHigh", lambda s: _alerting(s, queue_time_fraction=0.3), None),
    "gpu utilisation 99 %": ("GpuUtilizationSaturated", lambda s: _alerting(s, gpu_utilization_percent=99), None),
    "gpu utilisation 93 %": ("GpuUtilizationSaturated", lambda s: _alerting(s, gpu_utilization_percent=93), None),
    "gpu memory 97 %": ("GpuMemorySaturated", lambda s: _alerting(s, gpu_memory_percent=97), None),
    "gpu memory 87 %": ("GpuMemorySaturated", lambda s: _alerting(s, gpu_memory_percent=87), None),
    "restarts 4": ("PodRestartingOften", lambda s: _alerting(s, pod_restarts=4), None),
    "restarts 1": ("PodRestartingOften", lambda s: _alerting(s, pod_restarts=1), None),
    "drift score 0.4": ("ModelDataDrift", lambda s: _model(s, drift_score=0.4), None),
    "drift score 0.27": ("ModelDataDrift", lambda s: _model(s, drift_score=0.27), None),
    "min quality 0.8": ("ModelQualityDegraded", lambda s: _model(s, min_quality=0.8), None),
    "min quality 0.88": ("ModelQualityDegraded", lambda s: _model(s, min_quality=0.88), None),
    "stale after 90 min": ("DriftMonitorStale", lambda s: dataclasses.replace(s, drift_stale_after_minutes=90), None),
    "stale after 30 min": ("DriftMonitorStale", lambda s: dataclasses.replace(s, drift_stale_after_minutes=30), None),
    "serving namespace": ("TritonDown", lambda s: dataclasses.replace(s, serving_namespace="other-team"), None),
}
"""Wrong thresholds (too loose and too strict) that the suites must reject, and the alert that must catch each."""


def test_suites_pass_without_annotations(tmp_path):
    write_fixture_rules(FIXTURE, tmp_path / "generated")
    strip_annotations(tmp_path / "generated", SUITES, tmp_path / "suites")
    result = run_suites(tmp_path / "suites")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_wrong_thresholds_fail_the_suites(tmp_path, monkeypatch, mutation):
    from mlops_platform.monitoring import serving_rules

    alert, change, patch = MUTATIONS[mutation]
    if patch is not None:
        monkeypatch.setattr(serving_rules, patch[0], patch[1])
    spec = change(FIXTURE) if change is not None else FIXTURE
    write_fixture_rules(spec, tmp_path / "generated")
    strip_annotations(tmp_path / "generated", SUITES, tmp_path / "suites")
    result = run_suites(tmp_path / "suites")
    assert result.returncode != 0, f"the suites accept rules with {mutation}"
    assert f"alertname: {alert}," in result.stdout + result.stderr, result.stdout


if __name__ == "__main__":
    write_fixture_rules(FIXTURE, PROMTOOL_DIR / "rules")
    print(f"wrote {PROMTOOL_DIR / 'rules'}", file=sys.stderr)
