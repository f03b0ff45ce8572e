"""prometheus-adapter: the chart, its values per stack, and rules that are exactly what the HPAs read."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.config import ConfigError, validate_platform
from components.config.serving import MetricsAdapterConfig, ModelConfig
from components.serving.adapter import MetricsAdapter, MetricsAdapterArgs, network_policy_specs
from components.serving.metrics import CUSTOM_METRICS, adapter_rules
from tools.crd_schemas import wire_form
from tools.synthesis import Synthesis, to_manifest

from .conftest import STACKS, stack_values, synth_values

CHART = "kubernetes:helm.sh/v4:Chart"


def adapter_chart(result: Synthesis) -> dict[str, Any] | None:
    charts = [r["inputs"] for r in result.of_type(CHART) if r["inputs"]["chart"] == "prometheus-adapter"]
    assert len(charts) <= 1
    return wire_form(charts[0]) if charts else None


def hpas(result: Synthesis) -> list[dict[str, Any]]:
    return [wire_form(m) for m in result.manifests() if m["kind"] == "HorizontalPodAutoscaler"]


def pod_name(deployment: str) -> str:
    """A pod of the Deployment as the ReplicaSet controller names it."""
    return f"{deployment}-5d8f7c9b6-x2x4z"


def uncovered_metrics(hpa_list: list[dict[str, Any]], rules: list[dict[str, Any]]) -> list[str]:
    """Every (HPA, Pods metric) no adapter rule publishes for the HPA's pods in its namespace."""
    missing = []
    for hpa in hpa_list:
        namespace = hpa["metadata"]["namespace"]
        pod = pod_name(hpa["spec"]["scaleTargetRef"]["name"])
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] != "Pods":
                continue
            name = metric["pods"]["metric"]["name"]
            publishing = [
                r
                for r in rules
                if r["name"]["as"] == name
                and f'namespace="{namespace}"' in r["seriesQuery"]
                and re.fullmatch(re.search(r'pod=~"([^"]+)"', r["seriesQuery"]).group(1), pod)  # type: ignore[union-attr]
            ]
            if not publishing:
                missing.append(f"{hpa['metadata']['name']}: {name}")
    return missing


@pytest.mark.parametrize("stack", STACKS)
def test_every_hpa_metric_is_published_and_every_rule_is_used(shipped, stack):
    result = shipped[stack]
    chart = adapter_chart(result)
    scaling = hpas(result)
    used = {m["pods"]["metric"]["name"] for h in scaling for m in h["spec"]["metrics"] if m["type"] == "Pods"}
    if not used:
        assert chart is None  # nothing reads the custom metrics API: no adapter, no APIService to own
        return
    if not result.config.serving.metrics_adapter.enabled:
        assert chart is None  # the cluster's one adapter belongs to another installation
        return
    assert chart is not None
    rules = chart["values"]["rules"]["custom"]
    assert uncovered_metrics(scaling, rules) == []
    assert sorted(r["name"]["as"] for r in rules) == sorted(used)
    assert rules == adapter_rules(result.config.namespaces.serving, list(result.config.models))


def test_the_coverage_check_catches_an_unpublished_metric(shipped):
    result = shipped["prod"]
    rules = adapter_chart(result)["values"]["rules"]["custom"]  # type: ignore[index]
    queue_time = [r for r in rules if r["name"]["as"] != CUSTOM_METRICS["queue_time"]]
    assert uncovered_metrics(hpas(result), queue_time) == [
        "triton-fraud-detector: triton_queue_time_ms",
        "triton-text-embedder: triton_queue_time_ms",
    ]
    elsewhere = [{**r, "seriesQuery": r["seriesQuery"].replace('namespace="ml-serving"', 'namespace="other"')} for r in rules]
    assert len(uncovered_metrics(hpas(result), elsewhere)) == 3


def test_rules_are_scoped_to_the_namespace_and_the_scaling_models(shipped):
    rules = adapter_chart(shipped["prod"])["values"]["rules"]["custom"]  # type: ignore[index]
    series = {r["name"]["as"]: r["seriesQuery"] for r in rules}
    assert series == {
        "triton_queue_time_ms": "nv_inference_queue_duration_us"
        '{namespace="ml-serving",pod=~"triton-(fraud-detector|text-embedder)-[a-z0-9]+-[a-z0-9]+"}',
        "triton_inference_rate": 'nv_inference_count{namespace="ml-serving",pod=~"triton-(llm-summarizer)-[a-z0-9]+-[a-z0-9]+"}',
    }
    pattern = re.search(r'pod=~"([^"]+)"', series["triton_queue_time_ms"]).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(pattern, pod_name("triton-fraud-detector"))
    assert not re.fullmatch(pattern, pod_name("triton-fraud-detector-canary"))  # a candidate is not the HPA's target
    assert not re.fullmatch(pattern, pod_name("triton-llm-summarizer"))


@pytest.mark.parametrize(
    ("stack", "replicas", "namespaces"),
    [("dev", 1, ("ml-serving", "monitoring")), ("staging", 1, ("ml-serving", "monitoring")), ("prod", 2, ("ml-serving", "monitoring"))],
)
def test_chart_and_values_per_stack(shipped, stack, replicas, namespaces):
    result = shipped[stack]
    chart = adapter_chart(result)
    assert chart is not None
    assert (chart["chart"], chart["version"], chart["repositoryOpts"]["repo"], chart["name"], chart["namespace"]) == (
        "prometheus-adapter",
        "4.14.1",
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-adapter",
        "custom-metrics",
    )
    values = chart["values"]
    serving, monitoring = namespaces
    assert values["prometheus"] == {"url": f"http://{monitoring}-prometheus.{monitoring}.svc", "port": 9090, "path": ""}
    assert values["replicas"] == replicas == result.config.guardrails.min_replicas
    assert values["podDisruptionBudget"] == {"enabled": replicas > 1, "maxUnavailable": 1}
    assert ("topologySpreadConstraints" in values) == (replicas > 1)
    assert values["rules"]["default"] is False and values["rules"]["external"] == [] and "resource" not in values["rules"]
    assert values["image"]["repository"] == "registry.k8s.io/prometheus-adapter/prometheus-adapter"
    assert values["image"]["tag"].startswith("v0.12.0")
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert values["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["podSecurityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }
    assert (
        values["livenessProbe"]["httpGet"]
        == values["readinessProbe"]["httpGet"]
        == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    )
    assert values["customLabels"] == result.config.common_labels
    assert {rule["seriesQuery"].split('namespace="')[1].split('"')[0] for rule in values["rules"]["custom"]} == {serving}


def test_stacks_with_fixed_replicas_deploy_no_adapter(shipped):
    # canary shares ml-prod with prod: its fixed-size models need no custom metrics API of their own
    result = shipped["canary"]
    assert hpas(result) == [] and adapter_chart(result) is None
    assert "custom-metrics" not in {m["metadata"].get("namespace") for m in result.manifests()}
    deployment = next(r for r in result.records if r["name"] == "mlops-model-fraud-detector-stable")
    assert deployment["inputs"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_network_policies_admit_the_api_server_and_reach_prometheus(shipped, stack):
    result = shipped[stack]
    policies = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): wire_form(m) for m in result.manifests() if m["kind"] == "NetworkPolicy"
    }
    pods = {"matchLabels": {"app.kubernetes.io/name": "prometheus-adapter", "app.kubernetes.io/instance": "prometheus-adapter"}}
    assert policies[("custom-metrics", "default-deny-all")]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert ("custom-metrics", "allow-dns-egress") in policies
    assert policies[("custom-metrics", "prometheus-adapter-ingress")]["spec"] == {
        "podSelector": pods,
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": 6443}]}],
    }
    prometheus_pods = {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    assert policies[("custom-metrics", "prometheus-adapter-egress")]["spec"]["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": prometheus_pods}],
            "ports": [{"protocol": "TCP", "port": 9090}],
        },
        {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
    ]
    assert policies[("monitoring", "allow-prometheus-adapter-queries")]["spec"] == {
        "podSelector": prometheus_pods,
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "custom-metrics"}}, "podSelector": pods}],
                "ports": [{"protocol": "TCP", "port": 9090}],
            }
        ],
    }
    namespace = next(m for m in result.manifests() if m["kind"] == "Namespace" and m["metadata"]["name"] == "custom-metrics")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _model(name: str, metric: str, replicas: tuple[int, int]) -> ModelConfig:
    return ModelConfig(
        name=name,
        version=1,
        repository_uri="s3://models-bucket/triton",
        # GPU utilisation exists only on GPU replicas; the others run on CPU
        gpus_per_replica=1 if metric == "gpu_utilization" else 0,
        gpu_pool="l4" if metric == "gpu_utilization" else None,
        replicas={"min": replicas[0], "max": replicas[1]},
        autoscaling={"metric": metric, "target": 50},
        inputs=[{"name": "x", "data_type": "FP32", "dims": [4]}],
        outputs=[{"name": "y", "data_type": "FP32", "dims": [1]}],
    )


def test_component_with_an_external_prometheus_and_an_oci_chart(pulumi_mocks, run_pulumi):
    cfg = MetricsAdapterConfig(
        chart="oci://registry.example.com/charts/prometheus-adapter",
        repository=None,
        prometheus_url="https://prometheus.example.com",
        image={"repository": "mirror.example.com/prometheus-adapter", "tag": "v0.12.0", "digest": "sha256:" + "ab" * 32},
        replicas=3,
    )
    models = [_model("gpu-util", "gpu_utilization", (1, 4)), _model("fixed", "queue_time", (2, 2))]
    args = MetricsAdapterArgs(
        config=cfg,
        models=models,
        serving_namespace="serving",
        prometheus_url="https://prometheus.example.com",
        replicas=3,
        kubernetes_version="1.31",
    )
    run_pulumi(lambda: MetricsAdapter("adapter", args))
    chart = next(r for r in pulumi_mocks.records if r["type"] == CHART)
    inputs = wire_form(chart["inputs"])
    assert inputs["chart"] == "oci://registry.example.com/charts/prometheus-adapter" and "repositoryOpts" not in inputs
    assert inputs["values"]["image"]["tag"] == "v0.12.0@sha256:" + "ab" * 32
    assert inputs["values"]["prometheus"] == {"url": "https://prometheus.example.com", "port": 443, "path": ""}
    assert [r["name"]["as"] for r in inputs["values"]["rules"]["custom"]] == ["triton_gpu_utilization_percent"]  # "fixed" has no HPA
    assert chart["parent"].endswith("mlops:serving:MetricsAdapter::adapter")
    policies = [r for r in pulumi_mocks.records if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    assert {p["inputs"]["metadata"]["namespace"] for p in policies} == {"custom-metrics"}  # no monitoring namespace to open
    egress = next(p for p in policies if p["name"] == "adapter-prometheus-adapter-egress")["inputs"]["spec"]["egress"]
    assert wire_form(egress[0]) == {"ports": [{"protocol": "TCP", "port": 443}]}
    for record in pulumi_mocks.records:
        if record["custom"] and record["type"].startswith("kubernetes:") and record["type"] != CHART:
            kubernetes_validate.validate(to_manifest(record), "1.31", strict=True)


def test_component_refuses_models_that_do_not_scale(pulumi_mocks, run_pulumi):
    args = MetricsAdapterArgs(
        config=MetricsAdapterConfig(),
        models=[_model("fixed", "queue_time", (2, 2))],
        serving_namespace="serving",
        prometheus_url="http://prometheus:9090",
        replicas=1,
        kubernetes_version="1.31",
    )
    with pytest.raises(ValueError, match="no model autoscales"):
        MetricsAdapter("adapter", args)


def test_without_prometheus_the_hpas_scale_on_cpu_and_no_adapter_is_deployed():
    values = stack_values("dev")
    values["monitoring"] = {"enabled": False}
    result = synth_values(values, stack="dev")
    (hpa,) = hpas(result)
    assert adapter_chart(result) is None
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource"]


def test_disabled_adapter_keeps_the_hpas(shipped):
    values = stack_values("dev")
    values.setdefault("serving", {})["metrics_adapter"] = {"enabled": False}
    result = synth_values(values, stack="dev")
    assert adapter_chart(result) is None and [h["metadata"]["name"] for h in hpas(result)] == ["triton-fraud-detector"]


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        ({"replica": 2}, "serving.metrics_adapter.replica", "unknown key"),
        ({"replicas": 0}, "serving.metrics_adapter.replicas", "greater than or equal to 1"),
        ({"chart": "./charts/prometheus-adapter"}, "serving.metrics_adapter.repository", "null: the chart is an OCI reference"),
        ({"version": "latest"}, "serving.metrics_adapter.version", ""),
        ({"prometheus_url": "prometheus:9090"}, "serving.metrics_adapter.prometheus_url", ""),
        ({"image": {"repository": "x/y", "tag": "latest"}}, "serving.metrics_adapter.image.tag", "a pinned tag"),
    ],
)
def test_adapter_config_errors_name_path_value_and_expectation(change, path, expected):
    values = stack_values("dev")
    values["serving"]["metrics_adapter"] = change
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", values, set(), allow_missing_secrets=True)
    issues = {i.path: i for i in caught.value.issues}
    assert path in issues, caught.value
    assert expected in str(caught.value)


def test_network_policy_specs_narrow_prometheus_to_its_pods_only_when_the_platform_runs_it():
    own = network_policy_specs("http://monitoring-prometheus.monitoring.svc:9090", "monitoring")["prometheus-adapter-egress"]
    external = network_policy_specs("http://prometheus.example.com:9091", None)["prometheus-adapter-egress"]
    assert own["egress"][0]["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert external["egress"][0] == {"ports": [{"protocol": "TCP", "port": 9091}]}


PROMTOOL = shutil.which("promtool")


def test_queue_time_rule_computes_milliseconds_per_request(tmp_path: Path):
    """The metricsQuery as the adapter expands it for one pod, evaluated by Prometheus' own engine."""
    (rule,) = adapter_rules("ml-serving", [_model("m", "queue_time", (1, 3))])
    pod = pod_name("triton-m")
    expr = rule["metricsQuery"].replace("<<.LabelMatchers>>", f'namespace="ml-serving",pod="{pod}"').replace("<<.GroupBy>>", "pod")
    labels = f'namespace="ml-serving",pod="{pod}",model="m",version="1"'
    suite = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [
                    # 20 requests per 30 s, queued 600 ms in total: 30 ms each
                    {"series": f"nv_inference_request_success{{{labels}}}", "values": "0+20x20"},
                    {"series": f"nv_inference_queue_duration_us{{{labels}}}", "values": "0+600000x20"},
                ],
                "promql_expr_test": [{"expr": expr, "eval_time": "5m", "exp_samples": [{"labels": f'{{pod="{pod}"}}', "value": 30}]}],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    assert PROMTOOL is not None, "promtool is installed by `make test`"
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
