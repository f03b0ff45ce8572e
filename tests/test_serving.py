"""Triton serving: pods, autoscaling, disruption budget, network policies, routes and canary rollback."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import text_format

from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.config.serving import ImageRef
from mlops_platform.identity import GKE_METADATA
from mlops_platform.serving.deployment import store_port
from mlops_platform.serving.metrics import CANARY_ALERT, canary_rule_group
from mlops_platform.serving.model_config import parse, render
from mlops_platform.serving.rollback import SCRIPT, CanaryRollback, CanaryRollbackArgs
from tools.synthesis import Synthesis
from tools.wire import wire_form

from .conftest import STACKS, stack_values, synth_values
from .test_monitoring_stack import API_SERVER, PROMETHEUS_POD_LABELS, Peer, pod_template, reachable


def objects(result: Synthesis, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in result.manifests() if m["kind"] == kind}


@pytest.mark.parametrize("stack", STACKS)
def test_every_config_pbtxt_parses_with_tritons_protobuf(shipped, stack):
    for model in shipped[stack].config.models:
        versions = [model.version] + ([model.canary.version] if model.canary else [])
        for version in versions:
            config = parse(render(model, version))
            assert config.name == model.name and list(config.version_policy.specific.versions) == [version]
            assert [t.name for t in config.input] == [t.name for t in model.inputs]
            group = config.instance_group[0]
            kind = group.DESCRIPTOR.fields_by_name["kind"].enum_type.values_by_number[group.kind].name
            assert kind == ("KIND_GPU" if model.gpus_per_replica else "KIND_CPU")


def test_malformed_pbtxt_is_rejected_by_the_schema():
    with pytest.raises(text_format.ParseError, match="max_queue_delay_us"):
        parse('name: "m"\ndynamic_batching { max_queue_delay_us: 100 }\n')


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"inputs": []}, "models[0].inputs"),
        ({"inputs": [{"name": "x", "data_type": "FP32", "dims": [0]}]}, "models[0].inputs[0].dims"),
        ({"inputs": [{"name": "x", "data_type": "FLOAT", "dims": [3]}]}, "models[0].inputs[0].data_type"),
        ({"max_batch_size": 8, "dynamic_batching": {"preferred_batch_sizes": [16]}}, "models[0].dynamic_batching.preferred_batch_sizes"),
        ({"max_batch_size": 0}, "models[0].dynamic_batching"),
        ({"outputs": [{"name": "features", "data_type": "FP32", "dims": [1]}]}, "models[0].outputs"),
    ],
)
def test_malformed_model_spec_is_a_config_error(change, path):
    values = stack_values("dev")
    values["models"][0].update(change)
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", values, set(), allow_missing_secrets=True)
    assert path in [i.path for i in caught.value.issues], caught.value


def test_dev_deployment(shipped):
    result = shipped["dev"]
    deployment = objects(result, "Deployment")["triton-fraud-detector"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"mlops.platform/gpu-pool": "l4-shared"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "triton-fraud-detector"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (triton,) = pod["containers"]
    assert triton["image"] == "nvcr.io/nvidia/tritonserver:24.10-py3"
    assert (
        triton["resources"]["requests"]
        == triton["resources"]["limits"]
        == {
            "cpu": "2",
            "memory": "8Gi",
            "nvidia.com/gpu": "1",
            "ephemeral-storage": "52Gi",  # the 50 GiB model cache and 1 GiB /tmp emptyDirs, and logs
        }
    )
    assert {
        "--model-control-mode=explicit",
        "--load-model=fraud-detector",
        "--disable-auto-complete-config",
        "--model-repository=/models",
    } <= set(triton["args"])
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["startupProbe"]["failureThreshold"] * triton["startupProbe"]["periodSeconds"] >= 600
    for container in [*pod["containers"], *pod["initContainers"]]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert container["resources"]["limits"] and container["resources"]["requests"]
    (fetch,) = pod["initContainers"]
    assert fetch["args"] == ["copy", "--checksum", "repo:acme-ml-models-dev/triton/fraud-detector/7", "/models/fraud-detector/7"]
    env = {e["name"]: e["value"] for e in fetch["env"]}
    assert env["RCLONE_CONFIG_REPO_TYPE"] == "s3" and env["RCLONE_CONFIG_REPO_ENV_AUTH"] == "true"
    config_mount = next(m for m in triton["volumeMounts"] if m["name"] == "model-config")
    assert config_mount == {
        "name": "model-config",
        "mountPath": "/models/fraud-detector/config.pbtxt",
        "subPath": "config.pbtxt",
        "readOnly": True,
    }
    zone = pod["topologySpreadConstraints"][0]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone" and zone["whenUnsatisfiable"] == "ScheduleAnyway"
    assert "triton-fraud-detector-canary" not in objects(result, "Deployment")


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure"])
def test_prod_replicas_spread_disruption_budget_and_autoscaling(shipped, stack):
    result = shipped[stack]
    for model in result.config.models:
        name = f"triton-{model.name}"
        deployment = objects(result, "Deployment")[name]
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
        assert "@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        pdb = objects(result, "PodDisruptionBudget")[name]["spec"]
        assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"] == {
            "app.kubernetes.io/instance": model.name,
            "mlops.platform/track": "stable",
        }
        scaler = objects(result, "ScaledObject")[name]["spec"]
        assert (scaler["minReplicaCount"], scaler["maxReplicaCount"]) == (model.replicas.min, model.replicas.max)
        assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        signal, cpu = scaler["triggers"]
        assert signal["type"] == "prometheus" and "nv_inference" in signal["metadata"]["query"]
        assert cpu == {"type": "cpu", "name": "cpu", "metricType": "Utilization", "metadata": {"value": "80"}}


def test_azure_pods_carry_the_workload_identity_label(shipped):
    deployment = objects(shipped["prod-azure"], "Deployment")["triton-fraud-detector"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    fetch = deployment["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["args"][2] == "repo:triton/models/fraud-detector/8"
    assert {e["name"]: e["value"] for e in fetch["env"]}["RCLONE_CONFIG_REPO_ACCOUNT"] == "acmemlmodelsprod"


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_admit_only_gateway_and_monitoring(shipped, stack):
    result = shipped[stack]
    policies = objects(result, "NetworkPolicy")
    for model in result.config.models:
        ingress = policies[f"triton-{model.name}-ingress"]["spec"]["ingress"]
        sources = {
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: rule["ports"]
            for rule in ingress
            if "namespaceSelector" in rule["from"][0]
        }
        expected = {"envoy-gateway-system": [{"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": 8001}]}
        if result.config.monitoring.enabled:
            expected[result.config.namespaces.monitoring] = [{"protocol": "TCP", "port": 8002}]
        assert sources == expected
        # the capture service of the drift monitor asks the stable version for predictions, on HTTP only
        pods = [rule for rule in ingress if "podSelector" in rule["from"][0]]
        drift = result.config.monitoring.drift
        captured = drift.enabled and drift.capture_predictions and model.name in drift.scored([m.name for m in result.config.models])
        assert pods == (
            [
                {
                    "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "inference-capture"}}}],
                    "ports": [{"protocol": "TCP", "port": 8000}],
                }
            ]
            if captured
            else []
        )
        egress = policies[f"triton-{model.name}-egress"]["spec"]["egress"]
        metadata = [
            {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
            for cidr, port in (GKE_METADATA if result.config.cloud.provider == "gcp" else ())
        ]
        assert egress == [{"ports": [{"protocol": "TCP", "port": store_port(result.config.cloud)}]}, *metadata]


@pytest.mark.parametrize(
    ("stack", "model", "weights"),
    [
        ("dev", "fraud-detector", [100]),
        ("staging", "fraud-detector", [80, 20]),
        ("canary", "fraud-detector", [90, 10]),
        ("prod", "fraud-detector", [100]),
    ],
)
def test_route_weights_per_stack(shipped, stack, model, weights):
    route = objects(shipped[stack], "HTTPRoute")[f"triton-{model}"]["spec"]
    assert route["parentRefs"] == [{"name": "inference", "sectionName": "https"}]
    main = route["rules"][0]
    assert main["matches"] == [{"path": {"type": "PathPrefix", "value": f"/v2/models/{model}"}}]
    assert [b["weight"] for b in main["backendRefs"]] == weights
    if len(weights) == 2:
        cfg = next(m for m in shipped[stack].config.models if m.name == model)
        assert cfg.canary is not None
        pinned = {r["matches"][0]["path"]["value"]: r["backendRefs"][0]["name"] for r in route["rules"][1:]}
        assert pinned == {
            f"/v2/models/{model}/versions/{cfg.version}": f"triton-{model}",
            f"/v2/models/{model}/versions/{cfg.canary.version}": f"triton-{model}-canary",
        }


def test_canary_stack_runs_the_candidate_beside_stable(shipped):
    deployments = objects(shipped["canary"], "Deployment")
    stable, candidate = deployments["triton-fraud-detector"], deployments["triton-fraud-detector-canary"]
    assert stable["metadata"]["labels"]["mlops.platform/model-version"] == "8"
    assert candidate["metadata"]["labels"]["mlops.platform/model-version"] == "9"
    assert candidate["spec"]["replicas"] == 2  # the environment's replica minimum holds for the candidate too
    configs = objects(shipped["canary"], "ConfigMap")
    assert "versions: [ 9 ]" in configs["triton-fraud-detector-canary-config"]["data"]["config.pbtxt"]


def test_gateway_auth_limits_and_tls(shipped):
    result = shipped["prod"]
    gateway = objects(result, "Gateway")["inference"]["spec"]
    listener = gateway["listeners"][0]
    assert (listener["protocol"], listener["port"], listener["hostname"]) == ("HTTPS", 443, "inference.ml.acme.example")
    assert listener["tls"] == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "inference-tls"}]}
    target = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference"}]
    jwt = objects(result, "SecurityPolicy")["inference-auth"]["spec"]
    assert jwt["targetRefs"] == target
    (provider,) = jwt["jwt"]["providers"]
    assert provider["issuer"] == "https://login.acme.example/realms/ml" and provider["remoteJWKS"]["uri"].endswith("/certs")
    assert provider["claimToHeaders"] == [{"claim": "sub", "header": "x-client-id"}]
    limits = objects(result, "BackendTrafficPolicy")["inference-limits"]["spec"]
    per_client, *per_ip = limits["rateLimit"]["global"]["rules"]
    assert per_client == {
        "clientSelectors": [{"headers": [{"name": "x-client-id", "type": "Distinct"}]}],
        "limit": {"requests": 50, "unit": "Second"},
    }
    # a token without the claim, or a client rotating tokens, still meets a per-address ceiling
    assert [(r["clientSelectors"], r["limit"]["requests"]) for r in per_ip] == [
        ([{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}], 500),
        ([{"sourceCIDR": {"type": "Distinct", "value": "::/0"}}], 500),
    ]
    assert limits["timeout"] == {"http": {"requestTimeout": "30s"}}
    client = objects(result, "ClientTrafficPolicy")["inference-client"]["spec"]
    assert client["connection"] == {"bufferLimit": "16Mi"}
    assert client["headers"] == {"earlyRequestHeaders": {"remove": ["x-client-id"]}}, "a client cannot pick its own rate-limit key"
    assert "SecurityPolicy" not in {m["kind"] for m in shipped["dev"].manifests()}  # dev: auth none
    dev = objects(shipped["dev"], "BackendTrafficPolicy")["inference-limits"]["spec"]["rateLimit"]["global"]["rules"]
    assert [r["clientSelectors"][0]["sourceCIDR"]["value"] for r in dev] == ["0.0.0.0/0", "::/0"], "without auth: per client IP"
    assert all(r["limit"]["requests"] == 50 for r in dev)


def test_the_rate_limit_claim_and_ip_ceiling_are_configurable_with_jwt_only():
    values = stack_values("prod")
    values["serving"]["gateway"].update(rate_limit_claim="azp", rate_limit_ip_rps=2000)
    result = synth_values(values, stack="prod")
    (provider,) = objects(result, "SecurityPolicy")["inference-auth"]["spec"]["jwt"]["providers"]
    assert provider["claimToHeaders"] == [{"claim": "azp", "header": "x-client-id"}]
    rules = objects(result, "BackendTrafficPolicy")["inference-limits"]["spec"]["rateLimit"]["global"]["rules"]
    assert [r["limit"]["requests"] for r in rules] == [50, 2000, 2000]
    dev = stack_values("dev")
    dev["serving"]["gateway"].update(rate_limit_claim="azp", rate_limit_ip_rps=10)
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", dev, set(), allow_missing_secrets=True)
    assert {"serving.gateway.rate_limit_claim", "serving.gateway.rate_limit_ip_rps"} <= {i.path for i in caught.value.issues}


def test_prod_requires_digests_and_gateway_auth():
    values = stack_values("prod")
    del values["serving"]["triton_image"]
    values["serving"]["gateway"] = {"enabled": True, "hostname": "x.example.com", "auth": "none"}
    with pytest.raises(ConfigError) as caught:
        validate_platform("prod", values, set(), allow_missing_secrets=True)
    paths = {i.path for i in caught.value.issues}
    assert {"serving.triton_image.digest", "serving.gateway.auth"} <= paths


def test_scaled_objects_query_the_signal_of_each_scaling_model(shipped):
    result = shipped["prod-gcp"]
    scalers = objects(result, "ScaledObject")
    signals = {m.name: m.autoscaling.metric for m in result.config.models if m.autoscales}
    assert set(signals.values()) == {"queue_time", "inference_rate"}
    for model, signal in signals.items():
        query = scalers[f"triton-{model}"]["spec"]["triggers"][0]["metadata"]["query"]
        series = {"queue_time": "nv_inference_queue_duration_us{", "inference_rate": "nv_inference_count{"}[signal]
        assert series in query and 'namespace="ml-serving"' in query


def _fake(tmp: Path, name: str, body: str) -> None:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_rollback(tmp_path: Path, firing: list[str], weight: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The real rollback script against a fake Prometheus (curl) and API server (kubectl)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    answer = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"model": m}, "value": [0, "1"]} for m in firing]},
    }
    _fake(bin_dir, "curl", f"echo \"curl $*\" >> {calls}\ncat <<'EOF'\n{json.dumps(answer)}\nEOF\n")
    _fake(bin_dir, "kubectl", f'echo "kubectl $*" >> {calls}\ncase "$*" in *" get "*) printf "{weight}";; esac\n')
    os.symlink(shutil.which("jq") or "/usr/bin/jq", bin_dir / "jq")
    for tool in ("sort", "sh", "cat", "printf", "echo"):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            os.symlink(found, bin_dir / tool)
    env = {"PATH": str(bin_dir), "PROMETHEUS_URL": "http://prometheus-operated.monitoring.svc:9090", "NAMESPACE": "ml-serving"}
    done = subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True)
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_rollback_zeroes_the_candidate_of_a_firing_model(tmp_path):
    done, calls = run_rollback(tmp_path, ["fraud-detector"], "10")
    assert done.returncode == 0, done.stderr
    assert "TritonCanaryRegression" in calls[0] and 'namespace="ml-serving"' in calls[0]
    assert calls[1] == "kubectl -n ml-serving get httproute triton-fraud-detector -o jsonpath={.spec.rules[0].backendRefs[1].weight}"
    patch = calls[2]
    assert patch.startswith("kubectl -n ml-serving patch httproute triton-fraud-detector --type=json -p ")
    ops = json.loads(patch.split(" -p ", 1)[1])
    assert ops == [
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 100},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 0},
    ]
    assert "rolled back fraud-detector: candidate weight 10 -> 0" in done.stdout


def test_rollback_leaves_routes_alone_without_firing_alerts(tmp_path):
    done, calls = run_rollback(tmp_path, [], "10")
    assert done.returncode == 0 and [c for c in calls if c.startswith("kubectl")] == []


def test_rollback_is_idempotent(tmp_path):
    done, calls = run_rollback(tmp_path, ["fraud-detector"], "0")
    assert done.returncode == 0 and not any(" patch " in c for c in calls)


def test_rollback_job_is_least_privilege(shipped):
    result = shipped["canary"]
    role = objects(result, "Role")["canary-rollback"]
    assert role["rules"] == [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": ["get", "patch"]}]
    cron = objects(result, "CronJob")["canary-rollback"]["spec"]
    assert cron["schedule"] == "* * * * *" and cron["concurrencyPolicy"] == "Forbid"
    container = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PROMETHEUS_URL"] == "http://prometheus-operated.monitoring-canary.svc:9090"


PROMTOOL = shutil.which("promtool")


def _promtool_suite(tmp_path: Path, series: list[dict[str, str]], alerts: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    values = stack_values("canary")
    platform, _ = validate_platform("canary", values, set(), allow_missing_secrets=True)
    group = canary_rule_group(list(platform.models), "ml-serving-canary")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [group]}))
    suite = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": series, "alert_rule_test": alerts}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    assert PROMTOOL is not None, "promtool is installed by `make test`"
    return subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)


SEL = 'namespace="ml-serving-canary",model="fraud-detector",version="9"'


def test_canary_regression_fires_within_five_minutes_of_errors(tmp_path):
    series = [
        # healthy for 10 minutes, then 5 % of requests fail (limit 0.5 %); must fire by 15m
        {"series": f"nv_inference_request_success{{{SEL}}}", "values": "0+100x20 2000+95x20"},
        {"series": f"nv_inference_request_failure{{{SEL}}}", "values": "0+0x20 0+5x20"},
    ]
    expected = [
        {
            "exp_labels": {
                "namespace": "ml-serving-canary",
                "model": "fraud-detector",
                "severity": "ticket",
                "category": "canary",
                "rollback": "true",
                "candidate_version": "9",
            }
        }
    ]
    alerts: list[dict[str, Any]] = [
        {"eval_time": "9m", "alertname": CANARY_ALERT, "exp_alerts": []},
        {"eval_time": "15m", "alertname": CANARY_ALERT, "exp_alerts": expected},
    ]
    for rule in alerts[1:]:
        rule["exp_alerts"][0]["exp_annotations"] = {
            "summary": "candidate version 9 of fraud-detector regresses",
            "description": "error ratio above 0.005 or p99 above 500 ms for 2 minutes; the rollback job sets its traffic weight to 0",
        }
    done = _promtool_suite(tmp_path, series, alerts)
    assert done.returncode == 0, done.stdout + done.stderr


def test_canary_regression_stays_quiet_on_healthy_traffic(tmp_path):
    series = [
        {"series": f"nv_inference_request_success{{{SEL}}}", "values": "0+100x40"},
        {"series": f"nv_inference_request_failure{{{SEL}}}", "values": "0+0x40"},
        {"series": f'nv_inference_request_summary_us{{{SEL},quantile="0.99"}}', "values": "90000x40"},
    ]
    done = _promtool_suite(tmp_path, series, [{"eval_time": "20m", "alertname": CANARY_ALERT, "exp_alerts": []}])
    assert done.returncode == 0, done.stdout + done.stderr


def test_canary_regression_fires_on_latency(tmp_path):
    series = [
        {"series": f"nv_inference_request_success{{{SEL}}}", "values": "0+100x40"},
        {"series": f"nv_inference_request_failure{{{SEL}}}", "values": "0+0x40"},
        {"series": f'nv_inference_request_summary_us{{{SEL},quantile="0.99"}}', "values": "90000x10 900000x30"},
    ]
    expected_labels = {
        "namespace": "ml-serving-canary",
        "model": "fraud-detector",
        "severity": "ticket",
        "category": "canary",
        "rollback": "true",
        "candidate_version": "9",
    }
    annotations = {
        "summary": "candidate version 9 of fraud-detector regresses",
        "description": "error ratio above 0.005 or p99 above 500 ms for 2 minutes; the rollback job sets its traffic weight to 0",
    }
    # latency regresses at 5m; the alert must fire within 5 minutes of that
    alerts: list[dict[str, Any]] = [
        {"eval_time": "4m", "alertname": CANARY_ALERT, "exp_alerts": []},
        {"eval_time": "9m", "alertname": CANARY_ALERT, "exp_alerts": [{"exp_labels": expected_labels, "exp_annotations": annotations}]},
    ]
    done = _promtool_suite(tmp_path, series, alerts)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_rollback_job_reaches_prometheus_and_the_api_server(shipped, stack):
    """The job's pod passes its own egress policy and the monitoring namespace's ingress, where nothing else of serving does."""
    result = shipped[stack]
    cfg = result.config
    manifests = result.manifests()
    jobs = [m for m in manifests if m["kind"] == "CronJob" and m["metadata"]["name"] == "canary-rollback"]
    deploys = cfg.serving.auto_rollback and cfg.monitoring.enabled and cfg.serving.gateway.enabled and any(m.canary for m in cfg.models)
    assert len(jobs) == int(deploys)
    if not deploys:
        return
    serving, monitoring = cfg.namespaces.serving, cfg.namespaces.monitoring
    assert jobs[0]["metadata"]["namespace"] == serving
    job = Peer(serving, pod_template(jobs[0])["metadata"]["labels"], "10.1.0.7")
    prometheus = Peer(monitoring, PROMETHEUS_POD_LABELS, "10.1.0.9")
    assert reachable(manifests, job, prometheus, 9090)
    assert reachable(manifests, job, API_SERVER, 443) and reachable(manifests, job, API_SERVER, 6443)
    assert not reachable(manifests, job, prometheus, 9093) and not reachable(manifests, job, Peer(None, {}, "192.0.2.1"), 80)
    triton = Peer(serving, pod_template(objects(result, "Deployment")[f"triton-{cfg.models[0].name}"])["metadata"]["labels"], "10.1.0.8")
    assert not reachable(manifests, triton, prometheus, 9090)  # the monitoring namespace stays closed to the rest of serving


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("http://prometheus-operated.monitoring.svc:9090", True),
        ("http://prometheus-operated.monitoring.svc.cluster.local:9090", True),
        ("http://prometheus.monitoring-other.svc:9090", False),
        ("https://prometheus.example.com/", False),
    ],
)
def test_rollback_policies_follow_the_prometheus_url(pulumi_mocks, run_pulumi, url, own):
    args = CanaryRollbackArgs(
        namespace="ml-serving", prometheus_url=url, image=ImageRef(repository="alpine/k8s", tag="1.31.4"), monitoring_namespace="monitoring"
    )
    run_pulumi(lambda: CanaryRollback("rollback", args))
    policies = {
        r["name"]: wire_form(r["inputs"]) for r in pulumi_mocks.records if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    prometheus, api_server = policies["rollback-egress"]["spec"]["egress"]
    assert api_server == {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
    port = 9090 if url.endswith(":9090") else 443
    assert prometheus["ports"] == [{"protocol": "TCP", "port": port}]
    if own:
        assert prometheus["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
        ingress = policies["rollback-prometheus-ingress"]
        assert ingress["metadata"]["namespace"] == "monitoring" and ingress["spec"]["ingress"][0]["ports"] == prometheus["ports"]
    else:  # not the platform's Prometheus: nothing to open in the monitoring namespace, and the port alone narrows egress
        assert "to" not in prometheus and set(policies) == {"rollback-egress"}


def test_the_gateway_mirrors_scored_models_to_the_capture_service(shipped):
    """prod mirrors 5 % of fraud-detector's requests (every rule: weighted and per-version paths) and nothing else."""
    result = shipped["prod"]
    routes = objects(result, "HTTPRoute")
    mirror = {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "inference-capture", "port": 8080}, "percent": 5},
    }
    assert all(rule["filters"] == [mirror] for rule in routes["triton-fraud-detector"]["spec"]["rules"])
    assert all("filters" not in rule for name, r in routes.items() if name != "triton-fraud-detector" for rule in r["spec"]["rules"])
    deployment = objects(result, "Deployment")["inference-capture"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2 and pod["serviceAccountName"] == "inference-capture"
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and container["resources"]["limits"]["cpu"] == "1"
    settings = json.loads({e["name"]: e["value"] for e in container["env"]}["CAPTURE_CONFIG"])
    assert settings["capture_uri"] == "s3://acme-ml-monitoring-prod/capture" and settings["sampling_percent"] == 100
    assert settings["models"] == {"fraud-detector": {"version": "8", "predict_url": "http://triton-fraud-detector.ml-serving.svc:8000"}}
    policy = objects(result, "NetworkPolicy")["inference-capture"]["spec"]
    assert policy["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
