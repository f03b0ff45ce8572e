"""KEDA: the chart and its values per stack, the models' ScaledObjects, and their Prometheus queries under promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.config.serving import KedaConfig, ModelConfig
from mlops_platform.serving.keda import Keda, KedaArgs, network_policy_specs
from mlops_platform.serving.metrics import scaling_query, scaling_triggers
from tools.crd_schemas import validate
from tools.synthesis import Synthesis, to_manifest
from tools.wire import wire_form

from .conftest import STACKS, stack_values, synth_values

CHART = "kubernetes:helm.sh/v4:Chart"
PROMTOOL = shutil.which("promtool")


def keda_chart(result: Synthesis) -> dict[str, Any] | None:
    charts = [r["inputs"] for r in result.of_type(CHART) if r["inputs"]["chart"] == "keda"]
    assert len(charts) <= 1
    return wire_form(charts[0]) if charts else None


def scaled_objects(result: Synthesis) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: wire_form(m) for m in result.manifests() if m["kind"] == "ScaledObject"}


def _model(name: str, metric: str, replicas: tuple[int, int], cpu: int | None = 80) -> ModelConfig:
    return ModelConfig(
        name=name,
        version=1,
        repository_uri="s3://models-bucket/triton",
        # GPU utilisation exists only on GPU replicas; the others run on CPU
        gpus_per_replica=1 if metric == "gpu_utilization" else 0,
        gpu_pool="l4" if metric == "gpu_utilization" else None,
        replicas={"min": replicas[0], "max": replicas[1]},
        autoscaling={"metric": metric, "target": 50, "cpu_utilization": cpu},
        inputs=[{"name": "x", "data_type": "FP32", "dims": [4]}],
        outputs=[{"name": "y", "data_type": "FP32", "dims": [1]}],
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_autoscaling_model_has_a_scaled_object_and_nothing_else_scales(shipped, stack):
    """One ScaledObject per model (equal bounds hold a fixed size), on its Deployment; no HPA of the stack's own."""
    result = shipped[stack]
    cfg = result.config
    objects = scaled_objects(result)
    assert sorted(objects) == sorted(f"triton-{m.name}" for m in cfg.models)
    assert not [m for m in result.manifests() if m["kind"] == "HorizontalPodAutoscaler"], "KEDA creates the HPAs"
    for model in cfg.models:
        spec = objects[f"triton-{model.name}"]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"triton-{model.name}"}
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (model.replicas.min, model.replicas.max)
        # KEDA names the HPA after the ScaledObject: Flagger's copy for the primary gets its own
        assert "name" not in spec["advanced"]["horizontalPodAutoscalerConfig"]
        down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert down["stabilizationWindowSeconds"] == model.autoscaling.cooldown_seconds
        prometheus = [t for t in spec["triggers"] if t["type"] == "prometheus"]
        assert len(prometheus) == 1 and f'pod=~"triton-{model.name}-[a-z0-9]+-[a-z0-9]+"' in prometheus[0]["metadata"]["query"]
        assert prometheus[0]["metadata"]["threshold"] == f"{model.autoscaling.target:g}"
        assert [t["metadata"]["value"] for t in spec["triggers"] if t["type"] == "cpu"] == (
            [str(model.autoscaling.cpu_utilization)] if model.autoscaling.cpu_utilization else []
        )
        assert validate(objects[f"triton-{model.name}"]) == [], "strictly valid against KEDA's CRD"


@pytest.mark.parametrize(("stack", "replicas"), [("dev", 1), ("staging", 1), ("prod", 2)])
def test_chart_and_values_per_stack(shipped, stack, replicas):
    result = shipped[stack]
    chart = keda_chart(result)
    assert chart is not None
    assert (chart["chart"], chart["version"], chart["repositoryOpts"]["repo"], chart["name"], chart["namespace"]) == (
        "keda",
        "2.20.2",
        "https://kedacore.github.io/charts",
        "keda",
        "keda",
    )
    values = chart["values"]
    assert (
        values["operator"]["replicaCount"] == values["metricsServer"]["replicaCount"] == replicas == result.config.guardrails.min_replicas
    )
    for part in ("operator", "metricServer", "webhooks"):
        assert values["securityContext"][part] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert values["podSecurityContext"][part]["runAsNonRoot"] is True
        assert values["resources"][part] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
        assert values["podDisruptionBudget"][part] == ({"maxUnavailable": 1} if replicas > 1 else {})
    assert bool(values["topologySpreadConstraints"]["operator"]) == (replicas > 1)
    assert values["additionalLabels"] == result.config.common_labels
    namespace = next(m for m in result.manifests() if m["kind"] == "Namespace" and m["metadata"]["name"] == "keda")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", ["canary", "local", "kwok"])
def test_no_keda_where_nothing_scales_or_the_cluster_runs_its_own(shipped, stack):
    """canary shares ml-prod, whose KEDA prod installs; local and kwok use the cluster's KEDA."""
    result = shipped[stack]
    assert keda_chart(result) is None
    assert "keda" not in {m["metadata"].get("namespace") for m in result.manifests()}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_network_policies_admit_the_api_server_and_reach_prometheus(shipped, stack):
    result = shipped[stack]
    policies = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): wire_form(m)["spec"]
        for m in result.manifests()
        if m["kind"] == "NetworkPolicy"
    }
    assert policies[("keda", "default-deny-all")] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies[("keda", "keda-metrics-server-ingress")]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 6443}]}]
    assert policies[("keda", "keda-operator-ingress")]["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app": "keda-operator-metrics-apiserver"}}}],
            "ports": [{"protocol": "TCP", "port": 9666}],
        }
    ]
    prometheus_pods = {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    assert policies[("keda", "keda-operator-egress")]["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": prometheus_pods}],
            "ports": [{"protocol": "TCP", "port": 9090}],
        }
    ]
    assert policies[("keda", "keda-egress")]["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}]
    assert policies[("monitoring", "allow-keda-queries")]["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app": "keda-operator"}},
        }
    ]


def test_component_with_an_external_prometheus_and_an_oci_chart(pulumi_mocks, run_pulumi):
    cfg = KedaConfig(chart="oci://registry.example.com/charts/keda", repository=None, prometheus_url="https://prometheus.example.com")
    args = KedaArgs(config=cfg, prometheus_url="https://prometheus.example.com", replicas=3, kubernetes_version="1.31")
    run_pulumi(lambda: Keda("keda", args))
    chart = next(r for r in pulumi_mocks.records if r["type"] == CHART)
    inputs = wire_form(chart["inputs"])
    assert inputs["chart"] == "oci://registry.example.com/charts/keda" and "repositoryOpts" not in inputs
    assert chart["parent"].endswith("mlops:serving:Keda::keda")
    policies = [r for r in pulumi_mocks.records if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    assert {p["inputs"]["metadata"]["namespace"] for p in policies} == {"keda"}  # no monitoring namespace to open
    egress = next(p for p in policies if p["name"] == "keda-keda-operator-egress")["inputs"]["spec"]["egress"]
    assert wire_form(egress) == [{"ports": [{"protocol": "TCP", "port": 443}]}]
    for record in pulumi_mocks.records:
        if record["custom"] and record["type"].startswith("kubernetes:") and record["type"] != CHART:
            kubernetes_validate.validate(to_manifest(record), "1.31", strict=True)


def test_without_prometheus_the_models_scale_on_cpu_through_keda():
    values = stack_values("dev")
    values["monitoring"] = {"enabled": False}
    result = synth_values(values, stack="dev")
    scaler = scaled_objects(result)["triton-fraud-detector"]
    assert keda_chart(result) is not None, "a ScaledObject needs KEDA, Prometheus or not"
    # dev's models scale to zero outside their active hours: the cron trigger, which needs no Prometheus, stays
    assert [t["type"] for t in scaler["spec"]["triggers"]] == ["cron", "cpu"]
    policies = {m["metadata"]["name"] for m in result.manifests() if m["kind"] == "NetworkPolicy" and m["metadata"]["namespace"] == "keda"}
    assert "keda-operator-egress" not in policies, "no Prometheus to reach"
    scaler_record = next(r for r in result.records if r["type"] == "kubernetes:keda.sh/v1alpha1:ScaledObject")
    chart = next(r for r in result.records if r["type"] == CHART and r["inputs"]["chart"] == "keda")
    assert chart["urn"] in scaler_record["dependencies"], "created after KEDA's CRDs, deleted before its operator"
    target = next(
        r
        for r in result.records
        if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"]["name"] == "triton-fraud-detector"
    )
    assert target["urn"] in scaler_record["dependencies"], "KEDA reports a ScaledObject whose Deployment does not exist yet"
    values["models"][0]["autoscaling"] = {**values["models"][0]["autoscaling"], "cpu_utilization": None}
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", values, set(), allow_missing_secrets=True)
    assert "models[0].autoscaling.cpu_utilization" in {i.path for i in caught.value.issues}
    assert "no Prometheus holds the Triton signal" in str(caught.value)


def test_an_existing_keda_keeps_the_scaled_objects(shipped):
    values = stack_values("dev")
    values.setdefault("serving", {})["keda"] = {"install": False}
    result = synth_values(values, stack="dev")
    assert keda_chart(result) is None and sorted(scaled_objects(result)) == ["triton-fraud-detector", "triton-text-embedder"]


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        ({"replica": 2}, "serving.keda.replica", "unknown key"),
        ({"replicas": 0}, "serving.keda.replicas", "greater than or equal to 1"),
        ({"chart": "./charts/keda"}, "serving.keda.repository", "null: the chart is an OCI reference"),
        ({"version": "latest"}, "serving.keda.version", ""),
        ({"prometheus_url": "prometheus:9090"}, "serving.keda.prometheus_url", ""),
        ({"polling_interval_seconds": 0}, "serving.keda.polling_interval_seconds", "greater than or equal to 1"),
    ],
)
def test_keda_config_errors_name_path_value_and_expectation(change, path, expected):
    values = stack_values("dev")
    values["serving"]["keda"] = change
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", values, set(), allow_missing_secrets=True)
    issues = {i.path: i for i in caught.value.issues}
    assert path in issues, caught.value
    assert expected in str(caught.value)


def test_the_removed_adapter_section_says_what_to_do():
    values = stack_values("dev")
    values["serving"]["metrics_adapter"] = {"enabled": False}
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", values, set(), allow_missing_secrets=True)
    (issue,) = [i for i in caught.value.issues if i.path == "serving.metrics_adapter"]
    assert "KEDA scales the autoscaling models now" in issue.message and "serving.keda.install: false" in issue.message


def test_network_policy_specs_narrow_prometheus_to_its_pods_only_when_the_platform_runs_it():
    own = network_policy_specs("http://monitoring-prometheus.monitoring.svc:9090", "monitoring")["keda-operator-egress"]
    external = network_policy_specs("http://prometheus.example.com:9091", None)["keda-operator-egress"]
    assert own["egress"][0]["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert external["egress"] == [{"ports": [{"protocol": "TCP", "port": 9091}]}]
    assert "keda-operator-egress" not in network_policy_specs(None, "monitoring")


@pytest.mark.parametrize(
    ("metric", "series", "expected"),
    [
        # 20 requests per 30 s on each of two pods, queued 600 ms in total per pod: 30 ms each
        ("queue_time", {"nv_inference_request_success": "0+20x20", "nv_inference_queue_duration_us": "0+600000x20"}, 30),
        # 30 inferences per 30 s on each of two pods: 2 per second in all
        ("inference_rate", {"nv_inference_count": "0+30x20"}, 2),
        # 40 % busy GPUs
        ("gpu_utilization", {"nv_gpu_utilization": "0.4x20"}, 40),
    ],
)
def test_scaling_queries_under_promtool(tmp_path: Path, metric, series, expected):
    """Each signal's query over the primary's pods (Flagger's copy), over series shaped like Triton's; the candidate's pods
    are left out."""
    model = _model("m", metric, (1, 3))
    pods = ["triton-m-primary-5d8f7c9b6-x2x4z", "triton-m-primary-5d8f7c9b6-k7p2q", "triton-m-7c9f8d6b5-r4t6y"]
    input_series = []
    for pod in pods:
        labels = f'namespace="ml-serving",pod="{pod}",model="m",version="1"'
        for name, values in series.items():
            # the candidate's pod is busy and slow: were it counted, the values would differ
            if "-primary-" not in pod:
                values = values.replace("0+20x20", "0+1x20").replace("0.4x20", "1x20").replace("0+30x20", "0+300x20")
            input_series.append({"series": f"{name}{{{labels}}}", "values": values})
    suite = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": input_series,
                "promql_expr_test": [
                    {
                        "expr": scaling_query(model, "ml-serving", primary=True),
                        "eval_time": "5m",
                        "exp_samples": [{"labels": "{}", "value": expected}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    assert PROMTOOL is not None, "promtool is installed by `make test`"
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    trigger = scaling_triggers(model, "ml-serving", "http://prometheus:9090")[0]
    assert trigger["metadata"]["query"] == scaling_query(model, "ml-serving")
