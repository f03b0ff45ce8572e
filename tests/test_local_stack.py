"""Provider `kubernetes` and cluster source `render`: what the local stack may and may not declare."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config import validate_platform
from mlops_platform.gpu.cost import pool_cost
from mlops_platform.serving.deployment import store_port

from .conftest import stack_values, synth_values
from .test_config_errors import one, problems


@pytest.fixture
def local() -> dict[str, Any]:
    return stack_values("local")


def test_shipped_local_is_valid(local):
    platform, missing = validate_platform("local", local, set(), allow_missing_secrets=True)
    assert platform.cloud.provider == "kubernetes" and platform.cluster.source == "render" and missing == []


def test_kubernetes_needs_its_store_and_takes_no_cloud_fields(local):
    local["cloud"] = {"provider": "kubernetes", "region": "us-east-1"}
    found = problems(local)
    assert any(p.startswith("cloud.region: ") and "does not apply to provider 'kubernetes'" in p for p in found), found
    assert any(p.startswith("cloud.s3_endpoint: ") and "required when provider is 'kubernetes'" in p for p in found), found
    assert any(p.startswith("cloud.s3_credentials_secret: ") for p in found), found


def test_store_endpoint_must_be_https(local):
    local["cloud"]["s3_endpoint"] = "http://minio:9000"
    assert "expected an https:// URL" in one(local, "cloud.s3_endpoint")


def test_everything_that_needs_a_cloud_is_rejected_at_once(local):
    dev = stack_values("dev")
    local["managed_endpoints"] = dev["managed_endpoints"]
    local["mlflow"] = {"enabled": True}
    local["cluster"] = {"source": "existing", "name": "on-prem"}
    found = problems(local)
    for path in ("managed_endpoints[0]", "mlflow.enabled", "cluster.source"):
        assert any(p.startswith(f"{path}: ") for p in found), (path, found)


def test_gpu_pools_on_kubernetes_are_existing_nodes_checked_for_capacity(local):
    """A pool on provider `kubernetes` creates nothing, costs nothing in the stack, and still bounds its models."""
    local["gpu_pools"] = [{"name": "l4", "gpu_type": "nvidia-l4", "max_nodes": 4, "node_image": "al2023"}]
    local["models"][0].update(gpu_pool="l4", gpus_per_replica=1, replicas={"min": 1, "max": 1})
    assert "applies to aws only" in one(local, "gpu_pools[0].node_image")
    del local["gpu_pools"][0]["node_image"]
    local["models"][0]["replicas"] = {"min": 1, "max": 3}
    assert "enough nodes for the" in one(local, "gpu_pools[0].max_nodes")
    local["models"][0]["replicas"] = {"min": 1, "max": 1}
    result = synth_values(local, stack="local")
    types = {r["type"].split(":")[0] for r in result.records}
    assert types <= {"kubernetes", "mlops", "pulumi"}, f"no cloud resource for an existing pool, got {types}"
    deployment = next(m for m in result.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "triton-fraud-detector")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"mlops.platform/gpu-pool": "l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in pod["tolerations"]
    assert pool_cost(validate_platform("local", local, set(), allow_missing_secrets=True)[0].gpu_pools[0], "kubernetes").monthly_at_max == 0


def test_a_kubeconfig_file_needs_its_path_and_only_it(local):
    local["cluster"] = {"source": "kubeconfig_file"}
    assert "required when source is 'kubeconfig_file'" in one(local, "cluster.kubeconfig_path")
    local["cluster"] = {"source": "render", "kubeconfig_path": "build/cluster/kubeconfig"}
    assert "does not apply to source 'render'" in one(local, "cluster.kubeconfig_path")


def test_render_directory_stays_inside_the_project(local):
    local["cluster"]["render_directory"] = "../outside"
    assert "a path inside the project" in one(local, "cluster.render_directory")


def test_render_directory_belongs_to_render_only(local):
    local["cluster"] = {"source": "kubeconfig_secret", "render_directory": "out"}
    assert "does not apply to source 'kubeconfig_secret'" in one(local, "cluster.render_directory")


def test_models_read_the_store_on_its_own_port(local):
    platform, _ = validate_platform("local", local, set(), allow_missing_secrets=True)
    assert store_port(CloudTarget.of(platform.cloud)) == 9000


def test_local_synth_renders_credentials_from_the_existing_secret(shipped):
    result = shipped["local"]
    deployment = next(m for m in result.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "triton-fraud-detector")
    fetch = deployment["spec"]["template"]["spec"]["initContainers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in fetch["env"] if "valueFrom" in e}
    assert refs == {
        "AWS_ACCESS_KEY_ID": {"name": "model-store-credentials", "key": "AWS_ACCESS_KEY_ID"},
        "AWS_SECRET_ACCESS_KEY": {"name": "model-store-credentials", "key": "AWS_SECRET_ACCESS_KEY"},
    }
    plain = {e["name"]: e["value"] for e in fetch["env"] if "value" in e}
    assert plain["RCLONE_CONFIG_REPO_ENDPOINT"] == "https://minio.storage.svc:9000"
    assert plain["RCLONE_CONFIG_REPO_PROVIDER"] == "Other"
    types = {r["type"].split(":")[0] for r in result.records}
    assert types <= {"kubernetes", "mlops", "pulumi"}, f"the local stack registers only Kubernetes resources, got {types}"


def test_existing_monitoring_needs_its_url_and_routes_its_own_alerts(local):
    local["monitoring"] = {"install": False, "receivers": [{"name": "x", "kind": "slack", "secret_key": "k", "channel": "#a"}]}
    found = problems(local)
    assert any(p.startswith("monitoring.prometheus_url: ") and "required when install is false" in p for p in found), found
    assert any(p.startswith("monitoring.selector_labels: ") and "required when install is false" in p for p in found), found
    assert any(p.startswith("monitoring.receivers[0]: ") and "existing Alertmanager" in p for p in found), found
    dev = stack_values("dev")
    dev["monitoring"]["prometheus_url"] = "http://prometheus.monitoring.svc:9090"
    assert "the installed Prometheus has its own URL" in one(dev, "monitoring.prometheus_url")


def test_existing_monitoring_gets_only_the_platform_objects(shipped):
    result = shipped["local"]
    types = {r["type"] for r in result.records}
    assert "kubernetes:helm.sh/v4:Chart" not in types and not any(t.startswith("random:") for t in types)
    names = {(m["kind"], m["metadata"]["name"]) for m in result.manifests() if m["metadata"].get("namespace") == "monitoring"}
    assert ("Secret", "alertmanager-receivers") not in names
    assert not [m for m in result.manifests() if m["kind"] == "Namespace" and m["metadata"]["name"] == "monitoring"]
    # the existing installation's namespace is not ours to police: one ingress policy would cut its Prometheus off
    assert not [name for kind, name in names if kind == "NetworkPolicy"]
    rules = [m for m in result.manifests() if m["kind"] == "PrometheusRule"]
    wanted = {"release": "kube-prometheus-stack"}  # what the existing installation selects, not our release's label
    assert rules and all(wanted.items() <= m["metadata"]["labels"].items() for m in rules), "rules carry the selector label"
    # Flagger's release checks query the existing Prometheus
    templates = [m for m in result.manifests() if m["kind"] == "MetricTemplate"]
    assert templates and {m["spec"]["provider"]["address"] for m in templates} == {"http://prometheus-operated.monitoring.svc:9090"}


def test_a_cpu_model_cannot_scale_on_gpu_utilisation(local):
    local["models"][0]["autoscaling"] = {"metric": "gpu_utilization", "target": 60}
    assert "a CPU-only model exports no GPU metrics" in one(local, "models[0].autoscaling.metric")


def test_store_port_must_be_a_tcp_port(local):
    local["cloud"]["s3_endpoint"] = "https://minio.storage.svc:99999"
    assert "a TCP port between 1 and 65535" in one(local, "cloud.s3_endpoint")


def test_the_drift_monitor_needs_a_cloud(local):
    local["monitoring"]["drift"] = {
        "enabled": True,
        "image": "registry.example.com/drift:1.0.0",
        "reference_data_uri": "s3://ref/x",
        "capture_uri": "s3://ref/capture",
    }
    assert "provider 'kubernetes' lacks" in one(local, "monitoring.drift.enabled")
