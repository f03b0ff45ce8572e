"""Every shipped stack synthesizes, and the environments differ the way real ones do."""

from __future__ import annotations

import re
from typing import Any

import pytest

from policies.mlops_policies.runner import MANDATORY
from tools.synth import policy_results
from tools.synthesis import ROOT, Synthesis

from .conftest import STACKS, stack_values, synth_values


def test_the_shipped_stacks():
    assert {"dev", "staging", "canary", "prod", "prod-gcp", "prod-azure"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_synthesizes_with_unique_urns_and_component_parents(shipped, stack):
    result: Synthesis = shipped[stack]
    urns = [r["urn"] for r in result.records]
    assert len(urns) == len(set(urns))
    components = {r["urn"]: r for r in result.records if not r["custom"]}
    for record in result.records:
        if record["type"] == "mlops:platform:MlopsPlatform":
            assert record["parent"] is None
            continue
        assert record["parent"] in components, record["urn"]
        assert components[record["parent"]]["type"].startswith("mlops:"), record["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_child_names_are_prefixed_by_their_component(shipped, stack):
    names = {r["urn"]: r["name"] for r in shipped[stack].records}
    for record in shipped[stack].records:
        if record["parent"]:
            assert record["name"].startswith(names[record["parent"]] + "-"), record["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_objects_use_the_stack_provider(shipped, stack):
    result = shipped[stack]
    provider = next(r["urn"] for r in result.records if r["type"] == "pulumi:providers:kubernetes")
    objects = [r for r in result.records if r["custom"] and r["type"].startswith("kubernetes:")]
    assert objects and all(r["provider"] == provider for r in objects)
    inputs = result.one("pulumi:providers:kubernetes", "mlops-cluster-k8s")["inputs"]
    if result.config.cluster.source == "render":
        assert "kubeconfig" not in inputs and inputs["renderYamlToDirectory"] == "build/engine/local"
    else:
        assert inputs["kubeconfig"] == "[secret]"


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_resources_use_the_stack_cloud_provider(shipped, stack):
    """The components take the cloud provider from their opts and every cloud child inherits it: none falls back to
    the default provider (the ambient account and region). Dynamic resources run in Pulumi's Python host."""
    result = shipped[stack]
    cloud = result.config.cloud.provider
    package = {"aws": "aws", "gcp": "gcp", "azure": "azure-native"}.get(cloud)
    resources = [r for r in result.records if r["custom"] and not r["type"].startswith(("pulumi:", "pulumi-python:dynamic", "random:"))]
    if package is None:  # provider `kubernetes`: no cloud account, no cloud resource
        assert not result.of_type("pulumi:providers:aws") and all(r["type"].startswith("kubernetes:") for r in resources)
        return
    provider = result.one(f"pulumi:providers:{package}", f"mlops-cluster-{cloud}")["urn"]
    cloud_resources = [r for r in resources if not r["type"].startswith("kubernetes:")]
    assert cloud_resources and {r["type"].split(":", 1)[0] for r in cloud_resources} == {package}
    assert [r["urn"] for r in cloud_resources if r["provider"] != provider] == []


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_no_plaintext_secret(stack):
    text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    values = stack_values(stack)
    from mlops_platform.config import validate_platform

    platform, _ = validate_platform(stack, values, set(), allow_missing_secrets=True)
    for key in platform.secret_keys():
        assert key not in values, f"{key} must be set with --secret, not in the stack file"
    assert not re.search(r"(password|token|webhook_url|private_key)\s*:", text, re.IGNORECASE)
    assert "hooks.slack.com" not in text and "BEGIN" not in text


def test_dev_is_cheap(shipped):
    cfg = shipped["dev"].config
    assert all(p.capacity == "spot" and p.min_nodes == 0 for p in cfg.gpu_pools)
    # GPU models hold nothing when idle outside working hours
    assert all(m.scales_to_zero for m in cfg.models if m.gpus_per_replica > 0)
    assert cfg.mlflow.database.size == "small" and not cfg.mlflow.database.high_availability
    assert not cfg.guardrails.protect_stateful
    assert not any("page" in r.severities for r in cfg.monitoring.receivers)
    # managed endpoints: the smallest option that exists, SageMaker serverless (nothing billed while idle)
    assert cfg.managed_endpoints and all(e.serverless is not None and e.instance_type is None for e in cfg.managed_endpoints)
    (config,) = shipped["dev"].of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert all("serverlessConfig" in v and "instanceType" not in v for v in config["inputs"]["productionVariants"])
    assert shipped["dev"].of_type("aws:appautoscaling/target:Target") == []


def test_prod_releases_its_sagemaker_endpoint_by_canary_with_alarm_rollback(shipped):
    result = shipped["prod"]
    assert any(
        e.traffic_shift and e.traffic_shift.mode == "canary" and e.traffic_shift.auto_rollback for e in result.config.managed_endpoints
    )
    (endpoint,) = result.of_type("aws:sagemaker/endpoint:Endpoint")
    policy = endpoint["inputs"]["deploymentConfig"]
    assert policy["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]["type"] == "CANARY"
    alarms = result.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(policy["autoRollbackConfiguration"]["alarms"]) == len(alarms) == 2
    assert {a["inputs"].get("metricName", "5xx") for a in alarms} == {"ModelLatency", "5xx"}


def test_prod_gcp_and_prod_azure_declare_the_closest_counterparts(shipped):
    # Vertex AI: the same canary shift through the deployment resource, without alarm rollback (not offered).
    (deployment,) = shipped["prod-gcp"].of_type("pulumi-python:dynamic/vertex:ModelDeployment")
    assert deployment["inputs"]["shift"] == {"mode": "canary", "step_percent": 10, "wait_seconds": 900}
    shift = shipped["prod-gcp"].config.managed_endpoints[0].traffic_shift
    assert shift is not None and not shift.auto_rollback
    # Azure ML: no progressive shift; the candidate is a green deployment holding its share of live traffic.
    (traffic,) = shipped["prod-azure"].of_type("pulumi-python:dynamic/azureml:EndpointTraffic")
    assert traffic["inputs"]["traffic"] == {"blue": 90, "green": 10}
    slots = {r["inputs"]["deploymentName"] for r in shipped["prod-azure"].of_type("azure-native:machinelearningservices:OnlineDeployment")}
    assert slots == {"blue", "green"}


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure"])
def test_prod_is_highly_available_and_protected(shipped, stack):
    cfg = shipped[stack].config
    assert cfg.environment == "prod"
    assert all(p.capacity == "on_demand" for p in cfg.gpu_pools)
    assert all(len(p.zones) >= 2 for p in cfg.gpu_pools)
    assert all(m.replicas.min >= 2 for m in cfg.models)
    assert cfg.mlflow.replicas >= 2 and cfg.mlflow.database.high_availability
    assert cfg.mlflow.auth.mode == "oidc"
    assert cfg.guardrails.protect_stateful and cfg.guardrails.require_image_digest
    assert any("page" in r.severities for r in cfg.monitoring.receivers)


def test_every_cloud_is_exercised(shipped):
    providers = {result.config.cloud.provider for result in shipped.values()}
    assert providers == {"aws", "gcp", "azure", "kubernetes"}
    assert {r["type"] for result in shipped.values() for r in result.records} >= {
        "pulumi:providers:aws",
        "pulumi:providers:gcp",
        "pulumi:providers:azure-native",
    }


def test_each_cluster_source_is_used(shipped):
    sources = {result.config.cluster.source for result in shipped.values()}
    assert sources == {"existing", "kubeconfig_secret", "kubeconfig_file", "stack_reference", "render"}


def test_only_the_stack_cloud_sdk_is_imported():
    import subprocess
    import sys

    code = (
        "import sys; from tools.synthesis import synthesize; synthesize('prod-gcp'); "
        "print(sorted(m for m in ('pulumi_aws', 'pulumi_gcp', 'pulumi_azure_native') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pulumi_gcp']"


OPTIONAL_FEATURES: dict[str, Any] = {
    "drift monitor": (
        "monitoring",
        "drift",
        {
            "enabled": True,
            "image": "ghcr.io/acme/drift@sha256:" + "0" * 64,
            "reference_data_uri": "s3://acme-ml-reference/fraud/",
            "capture_uri": "s3://acme-ml-reference/capture",
        },
    ),
}
"""Features a stack turns on, each with only the fields it requires: its documented defaults must hold in prod."""


@pytest.mark.parametrize("stack", ["prod", "prod-gcp", "prod-azure", "staging", "dev"])
@pytest.mark.parametrize("feature", sorted(OPTIONAL_FEATURES))
def test_an_optional_feature_with_its_defaults_passes_every_policy(stack, feature):
    """Turned on with its defaults, each optional feature synthesizes and meets every mandatory policy of the
    environment (the drift monitor's default resources once lacked the CPU limit prod requires)."""
    section, key, value = OPTIONAL_FEATURES[feature]
    values = stack_values(stack)
    scheme = {"prod-gcp": "gs://", "prod-azure": "as://acmeml/"}.get(stack)
    if scheme and isinstance(value, dict) and "reference_data_uri" in value:
        value = {**value, **{k: value[k].replace("s3://", scheme) for k in ("reference_data_uri", "capture_uri")}}
    values.setdefault(section, {})[key] = value
    result = synth_values(values, stack=stack)
    mandatory = [f"{r.policy}: {r.message}" for r in policy_results(result) if r.level == MANDATORY]
    assert mandatory == []
