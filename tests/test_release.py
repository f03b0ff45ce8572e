"""Model releases with Flagger: config, the Canary and MetricTemplates of every stack, the checks under promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.config.serving import ModelConfig
from mlops_platform.serving.flagger import flagger_values, loadtester_values, network_policy_specs
from mlops_platform.serving.release import acceptance_request, check_queries, limits
from tools.synthesis import Synthesis

from .conftest import STACKS, stack_values

PROMTOOL = shutil.which("promtool")


def objects(result: Synthesis, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in result.manifests() if m["kind"] == kind}


def model(release: dict[str, Any] | None = None, **fields: Any) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "m",
            "version": 3,
            "repository_uri": "s3://bucket/triton",
            "gpus_per_replica": 0,
            "inputs": [{"name": "features", "data_type": "FP32", "dims": [4]}, {"name": "ids", "data_type": "INT64", "dims": [-1]}],
            "outputs": [{"name": "score", "data_type": "FP32", "dims": [1]}],
            **({"release": release} if release is not None else {}),
            **fields,
        }
    )


def config_problems(stack: str, change: Any) -> list[str]:
    values = stack_values(stack)
    change(values)
    with pytest.raises(ConfigError) as caught:
        validate_platform(stack, values, set(), allow_missing_secrets=True)
    return [str(issue) for issue in caught.value.issues]


def test_the_old_canary_key_says_what_to_do_instead():
    def old(values: dict[str, Any]) -> None:
        values["models"][0]["canary"] = {"version": 9, "weight": 10}

    (problem,) = config_problems("staging", old)
    assert problem.startswith("models[0].canary") and "release" in problem and "Flagger" in problem


@pytest.mark.parametrize(
    ("release", "path", "words"),
    [
        ({"mode": "canary", "steps": [10, 5]}, "steps", "strictly increasing"),
        ({"mode": "canary", "steps": [0, 50]}, "steps", "between 1 and 99"),
        ({"mode": "linear", "steps": [10]}, "steps", "apply to mode canary"),
        ({"mode": "linear", "step_percent": 30, "max_percent": 20}, "max_percent", "at least step_percent"),
        ({"mode": "ab"}, "match", "at least one header or cookie"),
        ({"mode": "canary", "match": [{"header": "x-canary", "value": "1"}]}, "match", "apply to mode ab"),
        ({"mode": "ab", "match": [{"header": "x-a", "cookie": "c", "value": "1"}]}, "match[0].header", "exactly one"),
    ],
)
def test_release_settings_that_flagger_cannot_run_are_refused(release, path, words):
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", {**_dev_values(), "models": [_model_values(release)]}, set(), allow_missing_secrets=True)
    assert any(str(i).startswith(f"models[0].release.{path}") and words in str(i) for i in caught.value.issues), caught.value.issues


def _dev_values() -> dict[str, Any]:
    values = stack_values("dev")
    values.pop("managed_endpoints", None)
    return values


def _model_values(release: dict[str, Any]) -> dict[str, Any]:
    return {**stack_values("staging")["models"][0], "gpu_pool": "l4-shared", "release": release}


def test_a_model_at_zero_replicas_is_released_all_at_once():
    def zero(values: dict[str, Any]) -> None:
        values["models"][0]["release"] = {"mode": "canary"}

    problems = config_problems("dev", zero)
    assert any(p.startswith("models[0].release.mode") and "all_at_once" in p for p in problems), problems


def test_weighted_releases_need_the_gateway():
    def no_gateway(values: dict[str, Any]) -> None:
        values["serving"]["gateway"] = {"enabled": False}

    problems = config_problems("staging", no_gateway)
    assert any(p.startswith("models[0].release.mode") and "blue_green or all_at_once" in p for p in problems), problems


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_has_a_canary_on_its_deployment_and_scaler(shipped, stack):
    result = shipped[stack]
    canaries, templates = objects(result, "Canary"), objects(result, "MetricTemplate")
    cfg = result.config
    assert set(canaries) == {f"triton-{m.name}" for m in cfg.models}
    for m in cfg.models:
        spec = canaries[f"triton-{m.name}"]["spec"]
        name = f"triton-{m.name}"
        assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert spec["autoscalerRef"]["kind"] == "ScaledObject" and spec["autoscalerRef"]["name"] == name
        assert name in objects(result, "ScaledObject")
        assert spec["provider"] == ("gatewayapi:v1" if cfg.serving.gateway.enabled else "kubernetes")
        if cfg.serving.gateway.enabled:
            assert spec["service"]["gatewayRefs"] == [{"name": "inference", "namespace": cfg.namespaces.serving, "sectionName": "https"}]
            assert spec["service"]["hosts"] == [cfg.serving.gateway.hostname]
            assert spec["service"]["match"] == [{"uri": {"prefix": f"/v2/models/{m.name}"}}]
        analysis = spec["analysis"]
        assert analysis["threshold"] == m.release.threshold and analysis["interval"] == f"{m.release.interval_seconds}s"
        checks = {metric["name"]: metric for metric in analysis["metrics"]}
        assert {c: checks[c]["thresholdRange"]["max"] for c in checks} == limits(m)
        for check, metric in checks.items():
            template = templates[metric["templateRef"]["name"]]["spec"]
            assert template["query"] == check_queries(m)[check] and template["provider"]["type"] == "prometheus"
        assert spec.get("skipAnalysis", False) == (m.release.mode == "all_at_once")
        hooks = {h["type"]: h for h in analysis.get("webhooks", [])}
        assert ("confirm-promotion" in hooks) == m.release.confirms(cfg.environment)
        assert ("pre-rollout" in hooks) == m.release.acceptance_test


def test_each_mode_reads_as_flaggers_analysis(shipped):
    staging = objects(shipped["staging"], "Canary")["triton-fraud-detector"]["spec"]["analysis"]
    assert (staging["stepWeight"], staging["maxWeight"]) == (20, 40) and "stepWeights" not in staging
    canary = objects(shipped["canary"], "Canary")["triton-fraud-detector"]["spec"]["analysis"]
    assert canary["stepWeights"] == [5, 10, 25] and canary["threshold"] == 3
    prod = objects(shipped["prod"], "Canary")["triton-fraud-detector"]["spec"]["analysis"]
    gate = next(h for h in prod["webhooks"] if h["type"] == "confirm-promotion")
    assert gate["url"] == "http://flagger-loadtester.flagger.svc:80/gate/check"
    ab = model({"mode": "ab", "match": [{"header": "x-canary", "value": "insider"}, {"cookie": "beta", "value": "yes"}]})
    from mlops_platform.serving.release import analysis

    spec = analysis(ab, "ns", "flagger", False)
    assert spec["iterations"] == 10 and spec["match"][0] == {"headers": {"x-canary": {"exact": "insider"}}}
    assert spec["match"][1]["headers"]["cookie"]["regex"] == r"^(.*?;\s*)?(beta=yes)(;.*)?$"
    assert analysis(model({"mode": "mirror"}), "ns", "flagger", False)["mirror"] is True


def test_the_acceptance_request_follows_the_declared_inputs():
    request = acceptance_request(model())
    assert request == {
        "inputs": [
            {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]},
            {"name": "ids", "datatype": "INT64", "shape": [1, 1], "data": [0]},
        ]
    }
    unbatched = acceptance_request(model(max_batch_size=0, dynamic_batching=None))
    assert unbatched["inputs"][0]["shape"] == [4]


def test_the_acceptance_command_posts_the_request_and_fails_on_an_error_answer(tmp_path: Path, shipped):
    """The load tester runs the command with bash: here against a local server that answers 200, then 400."""
    import http.server
    import threading

    canary = objects(shipped["canary"], "Canary")["triton-fraud-detector"]["spec"]
    hook = next(h for h in canary["analysis"]["webhooks"] if h["type"] == "pre-rollout")
    command = hook["metadata"]["cmd"]
    assert hook["metadata"]["type"] == "bash" and "triton-fraud-detector-canary.ml-serving-canary.svc:8000" in command
    assert "/v2/models/fraud-detector/versions/9/infer" in command
    seen: list[dict[str, Any]] = []
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status[0])
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = command.replace("triton-fraud-detector-canary.ml-serving-canary.svc:8000", f"127.0.0.1:{server.server_port}")
        assert subprocess.run(["bash", "-c", local], capture_output=True, text=True).returncode == 0
        status[0] = 400
        assert subprocess.run(["bash", "-c", local], capture_output=True, text=True).returncode != 0
    finally:
        server.shutdown()
    assert seen[0]["inputs"][0]["name"] == "features" and seen[0]["inputs"][0]["shape"] == [1, 64]


def _render(query: str, namespace: str, target: str, interval: str) -> str:
    """Flagger's template variables, as it fills them before querying."""
    return query.replace("{{ namespace }}", namespace).replace("{{ target }}", target).replace("{{ interval }}", interval)


@pytest.mark.parametrize(
    ("check", "candidate", "expected"),
    [
        # 2 failures per 100 requests on the candidate: 0.02; the primary's 50 % failures are not counted
        ("error-ratio", {"nv_inference_request_success": "0+98x20", "nv_inference_request_failure": "0+2x20"}, 0.02),
        # no failure series at all (Triton exports none before the first failure): a ratio of 0
        ("error-ratio", {"nv_inference_request_success": "0+100x20"}, 0),
        # the worst candidate pod's p99, in ms
        ("p99-latency", {"nv_inference_request_summary_us": "250000x20"}, 250),
        # 100 requests per 30 s, 1 s queued in all: 10 ms each
        ("queue-time", {"nv_inference_request_success": "0+100x20", "nv_inference_queue_duration_us": "0+1000000x20"}, 10),
    ],
)
def test_release_checks_under_promtool(tmp_path: Path, check, candidate, expected):
    """Each check as Flagger sends it (templated by namespace, target and interval) over Triton-shaped series of the
    candidate's and the primary's pods; the primary's never count."""
    m = model({"mode": "canary", "max_queue_ms": 50})
    pods = {"triton-m-7c9f8d6b5-r4t6y": candidate, "triton-m-primary-5d8f7c9b6-x2x4z": None}
    series = []
    for pod, values in pods.items():
        own = values or {
            "nv_inference_request_success": "0+50x20",
            "nv_inference_request_failure": "0+50x20",
            "nv_inference_request_summary_us": "9000000x20",
            "nv_inference_queue_duration_us": "0+90000000x20",
        }
        for name, v in own.items():
            extra = ',quantile="0.99"' if name.endswith("summary_us") else ""
            series.append({"series": f'{name}{{namespace="ml-serving",pod="{pod}",model="m",version="3"{extra}}}', "values": v})
    query = _render(check_queries(m)[check], "ml-serving", "triton-m", "1m")
    suite = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": series,
                "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": expected}]}],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    assert PROMTOOL is not None, "promtool is installed by `make test`"
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_candidate_without_requests_has_no_error_ratio(tmp_path: Path):
    """No traffic is no evidence: the query returns nothing, and Flagger halts instead of passing the check."""
    query = _render(check_queries(model())["error-ratio"], "ml-serving", "triton-m", "1m")
    suite = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [
                    {
                        "series": 'nv_inference_request_success{namespace="ml-serving",pod="triton-m-primary-5d8f7c9b6-x2x4z",model="m"}',
                        "values": "0+10x20",
                    }
                ],
                "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": []}],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_flagger_is_restricted_watches_the_serving_namespace_and_reaches_only_what_it_needs(shipped):
    result = shipped["prod"]
    cfg = result.config
    values = flagger_values(cfg.serving.flagger, "ml-serving", "http://prometheus:9090", {})
    assert values["meshProvider"] == "gatewayapi:v1" and values["namespace"] == "ml-serving" and values["selectorLabels"] == "app"
    context = values["securityContext"]["context"]
    assert (
        context["runAsNonRoot"] and context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"]["type"] == "RuntimeDefault"
    )
    tester = loadtester_values(cfg.serving.loadtester_image, "ml-serving", {})
    assert tester["cmd"]["namespaceRegexp"] == "^ml-serving$" and "@sha256:" in tester["image"]["tag"]
    policies = network_policy_specs("http://prometheus-operated.monitoring.svc:9090", "monitoring", "ml-serving")
    flagger_egress = policies["flagger-egress"]["egress"]
    assert flagger_egress[-1]["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert policies["loadtester-egress"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    charts = {m["metadata"]["name"] for m in result.manifests() if m["kind"] == "Namespace"}
    assert cfg.serving.flagger.namespace in charts


def test_the_stack_outputs_describe_each_models_release(shipped):
    outputs = shipped["canary"].outputs
    assert outputs["model_releases"] == {"fraud-detector": "canary 5/10/25% every 60s, rollback after 3 failed checks"}
    assert outputs["model_versions"] == {"fraud-detector": 9}


def test_blue_green_loads_the_candidate_for_its_checks_and_needs_no_gateway():
    from mlops_platform.serving.release import analysis, canary_object

    m = model({"mode": "blue_green", "iterations": 4, "interval_seconds": 30})
    hooks = {h["name"]: h for h in analysis(m, "ns", "flagger", False)["webhooks"]}
    load = hooks["load-test"]
    assert load["type"] == "rollout" and load["metadata"]["type"] == "cmd"
    assert load["metadata"]["cmd"].startswith("hey -z 30s -q 5 -c 1 -m POST -T application/json -d ")
    assert load["metadata"]["cmd"].endswith("http://triton-m-canary.ns.svc:8000/v2/models/m/versions/3/infer")
    spec = canary_object(
        m, "ns", hostname=None, prometheus_url=None, loadtester_namespace="flagger", confirm_promotion=False, service_labels={}
    )["spec"]
    assert spec["provider"] == "kubernetes" and "gatewayRefs" not in spec["service"]
    with pytest.raises(ValueError, match="needs the gateway"):
        canary_object(
            model(), "ns", hostname=None, prometheus_url=None, loadtester_namespace="flagger", confirm_promotion=False, service_labels={}
        )
