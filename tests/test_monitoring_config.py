"""The monitoring section of the config: receivers, thresholds, drift monitor, chart source, cross-section checks."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.config.monitoring import ContainerResources, MonitoringConfig, monitoring_issues

from .conftest import stack_values


def problems(values: dict[str, Any]) -> list[str]:
    values.pop("managed_endpoints", None)
    with pytest.raises(ConfigError) as caught:
        validate_platform("t", values, set(), allow_missing_secrets=True)
    return [str(issue) for issue in caught.value.issues]


@pytest.fixture
def dev() -> dict[str, Any]:
    return stack_values("dev")


def test_defaults_are_complete():
    cfg = MonitoringConfig()
    assert cfg.version == "79.10.0" and cfg.drift.enabled is False and cfg.alerting.severity_overrides == {}
    assert "@sha256:" in cfg.pushgateway_image


def test_retraining_receiver_must_be_a_webhook(dev):
    dev["monitoring"]["receivers"].append({"name": "r", "kind": "slack", "secret_key": "k", "purpose": "retraining"})
    assert any(p.startswith("monitoring.receivers[1].purpose: ") and "kind 'webhook'" in p for p in problems(dev))


def test_retraining_receiver_takes_no_severities(dev):
    dev["monitoring"]["receivers"].append(
        {"name": "r", "kind": "webhook", "secret_key": "k", "purpose": "retraining", "severities": ["page"]}
    )
    assert any(p.startswith("monitoring.receivers[1].severities: ") for p in problems(dev))


def test_retraining_secret_is_a_referenced_secret(dev):
    dev["monitoring"]["receivers"].append({"name": "r", "kind": "webhook", "secret_key": "retrainingWebhookUrl", "purpose": "retraining"})
    dev.pop("managed_endpoints", None)
    platform, missing = validate_platform("dev", dev, set(), allow_missing_secrets=True)
    assert "retrainingWebhookUrl" in platform.secret_keys() and "retrainingWebhookUrl" in missing


@pytest.mark.parametrize(
    ("drift", "path", "fragment"),
    [
        ({"enabled": True}, "monitoring.drift.image", "required when enabled"),
        ({"enabled": True, "image": "drift:1.0"}, "monitoring.drift.reference_data_uri", "required when enabled"),
        ({"image": "registry.example/drift:latest"}, "monitoring.drift.image", "not 'latest'"),
        ({"image": "registry.example/drift"}, "monitoring.drift.image", "pinned by tag or digest"),
        ({"reference_data_uri": "/data/ref"}, "monitoring.drift.reference_data_uri", "s3://"),
        ({"schedule": "every hour"}, "monitoring.drift.schedule", "cron"),
        ({"thresholds": {"min_quality": 1.5}}, "monitoring.drift.thresholds.min_quality", "less than 1"),
        ({"schedul": "* * * * *"}, "monitoring.drift.schedul", "unknown key"),
    ],
)
def test_drift_monitor_errors(dev, drift, path, fragment):
    dev["monitoring"]["drift"] = drift
    found = [p for p in problems(dev) if p.startswith(f"{path}: ")]
    assert found and fragment in found[0], problems(dev)


def test_unknown_alert_in_severity_overrides(dev):
    dev["monitoring"]["alerting"] = {"severity_overrides": {"GpuOnFire": "page"}}
    assert any(p.startswith("monitoring.alerting.severity_overrides.GpuOnFire") for p in problems(dev)), problems(dev)


def test_chart_source_must_be_consistent(dev):
    dev["monitoring"]["chart"] = "oci://registry.internal/charts/kube-prometheus-stack"
    assert any(p.startswith("monitoring.repository: ") and "null" in p for p in problems(dev))


def test_resources_are_checked():
    with pytest.raises(ValueError, match="at least memory_request"):
        ContainerResources(cpu_request="1", memory_request="4Gi", memory_limit="2Gi")
    with pytest.raises(ValueError, match="Kubernetes CPU quantity such as 500m"):
        ContainerResources(cpu_request="one", memory_request="1Gi", memory_limit="2Gi")
    with pytest.raises(ValueError, match="at least cpu_request"):
        ContainerResources(cpu_request="2", memory_request="1Gi", memory_limit="2Gi", cpu_limit="1500m")
    # every form of the Kubernetes quantity grammar, compared by value: 2G is below 2Gi, 2000M equals 2G
    assert ContainerResources(cpu_request="0.5", memory_request="2G", memory_limit="2Gi", cpu_limit=1).cpu_limit == "1"
    assert ContainerResources(cpu_request="500m", memory_request="2000M", memory_limit="2G").memory_limit == "2G"
    with pytest.raises(ValueError, match="at least memory_request"):
        ContainerResources(cpu_request="1", memory_request="2Gi", memory_limit="2G")
    assert ContainerResources(cpu_request="250m", memory_request="512Mi", memory_limit="1Gi", cpu_limit="1").as_kubernetes() == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "1Gi", "cpu": "1"},
    }


def test_cross_section_issues():
    cfg = MonitoringConfig(
        drift={
            "enabled": True,
            "image": "r/drift:1.0",
            "reference_data_uri": "s3://b/ref",
            "capture_uri": "s3://b/capture",
            "model_thresholds": {"ghost": {}},
        }
    )
    issues = monitoring_issues(cfg, ["fraud"], require_image_digest=True, environment="prod")
    paths = sorted(path for path, _, _ in issues)
    assert paths == ["monitoring.drift.image", "monitoring.drift.model_thresholds.ghost"]
    assert monitoring_issues(cfg.model_copy(update={"enabled": False}), ["fraud"], True, "prod") == []
