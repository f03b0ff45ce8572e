"""Triton serving: pods, autoscaling, disruption budget, network policies and routes (releases: test_release.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import text_format

from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.identity import GKE_METADATA
from mlops_platform.serving.deployment import store_port
from mlops_platform.serving.model_config import parse, render
from tools.synthesis import Synthesis

from .conftest import STACKS, stack_values, synth_values


def objects(result: Synthesis, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in result.manifests() if m["kind"] == kind}


@pytest.mark.parametrize("stack", STACKS)
def test_every_config_pbtxt_parses_with_tritons_protobuf(shipped, stack):
    for model in shipped[stack].config.models:
        versions = [model.version]
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
    assert "replicas" not in spec and spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
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
    # one Deployment per model: Flagger makes the primaries
    assert {n for n in objects(result, "Deployment") if n.startswith("triton-")} == {"triton-fraud-detector", "triton-text-embedder"}


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure"])
def test_prod_replicas_spread_disruption_budget_and_autoscaling(shipped, stack):
    result = shipped[stack]
    for model in result.config.models:
        name = f"triton-{model.name}"
        deployment = objects(result, "Deployment")[name]
        assert "replicas" not in deployment["spec"]  # KEDA's HPAs and Flagger own every replica count
        assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
        assert "@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        for pods in (name, f"{name}-primary"):
            pdb = objects(result, "PodDisruptionBudget")[pods]["spec"]
            assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"] == {"app": pods}
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
def test_network_policies_admit_only_gateway_monitoring_and_the_load_tester(shipped, stack):
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
        if model.release.acceptance_test:
            # Flagger's load tester (its pods only) sends the acceptance test
            expected[result.config.serving.flagger.namespace] = [{"protocol": "TCP", "port": 8000}]
            tester = next(
                r
                for r in ingress
                if r["from"][0].get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == result.config.serving.flagger.namespace
            )
            assert tester["from"][0]["podSelector"] == {"matchLabels": {"app": "loadtester"}}
        assert sources == expected
        # the capture service of the drift monitor asks the stable version for predictions, on HTTP only
        pods = [rule for rule in ingress if "namespaceSelector" not in rule["from"][0]]
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
        assert egress == [{"ports": [{"protocol": "TCP", "port": store_port(CloudTarget.of(result.config.cloud))}]}, *metadata]


@pytest.mark.parametrize("stack", ["dev", "staging", "canary", "prod"])
def test_the_configured_version_has_its_own_path_and_flagger_owns_the_model_route(shipped, stack):
    """Pulumi routes `/versions/<version>` to the pods serving that version; the weighted model route is Flagger's."""
    result = shipped[stack]
    routes, services = objects(result, "HTTPRoute"), objects(result, "Service")
    for model in result.config.models:
        assert f"triton-{model.name}" not in routes and f"triton-{model.name}" not in services
        route = routes[f"triton-{model.name}-version"]["spec"]
        assert route["parentRefs"] == [{"name": "inference", "sectionName": "https"}]
        (rule,) = route["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": f"/v2/models/{model.name}/versions/{model.version}"}}]
        assert rule["backendRefs"] == [{"name": f"triton-{model.name}-v{model.version}", "port": 8000}]
        selector = services[f"triton-{model.name}-v{model.version}"]["spec"]["selector"]
        assert selector == {"app.kubernetes.io/instance": model.name, "mlops.platform/model-version": str(model.version)}


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


def test_the_gateway_mirrors_scored_models_to_the_capture_service(shipped):
    """prod mirrors fraud-detector's requests (Flagger's route and the version path) and nothing else; the service keeps 5 %."""
    result = shipped["prod"]
    routes, canaries = objects(result, "HTTPRoute"), objects(result, "Canary")
    backend = {"name": "inference-capture", "port": 8080}
    assert canaries["triton-fraud-detector"]["spec"]["service"]["mirror"] == [{"backendRef": backend}]
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": backend}}
    assert routes["triton-fraud-detector-version"]["spec"]["rules"][0]["filters"] == [mirror]
    assert all("mirror" not in c["spec"]["service"] for name, c in canaries.items() if name != "triton-fraud-detector")
    others = [rule for name, r in routes.items() if name != "triton-fraud-detector-version" for rule in r["spec"]["rules"]]
    assert all("filters" not in rule for rule in others)
    deployment = objects(result, "Deployment")["inference-capture"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2 and pod["serviceAccountName"] == "inference-capture"
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and container["resources"]["limits"]["cpu"] == "1"
    settings = json.loads({e["name"]: e["value"] for e in container["env"]}["CAPTURE_CONFIG"])
    assert settings["capture_uri"] == "s3://acme-ml-monitoring-prod/capture" and settings["sampling_percent"] == 5
    assert settings["models"] == {"fraud-detector": {"version": "8", "predict_url": "http://triton-fraud-detector.ml-serving.svc:8000"}}
    policy = objects(result, "NetworkPolicy")["inference-capture"]["spec"]
    assert policy["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
