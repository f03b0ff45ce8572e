"""Kubernetes objects validate against the official OpenAPI schemas (strict) and start closed."""

from __future__ import annotations

import json
import subprocess

import kubernetes_validate
import pytest

from tools.synthesis import ROOT

from .conftest import STACKS

CRD_GROUPS = ("gateway.networking.k8s.io/", "monitoring.coreos.com/")
"""Custom resources checked against the models generated from their official CRDs (tools/crd_validate)."""
ENVOY_GATEWAY = "gateway.envoyproxy.io/"
"""Envoy Gateway policies: no published schema package; their shapes are asserted in test_serving."""


def validate_custom_resources(manifests: list[dict]) -> list[str]:
    """Run the CRD validator over the manifests; the lines it printed."""
    lines = "\n".join(json.dumps(m, sort_keys=True) for m in manifests) + "\n"
    done = subprocess.run(["node", str(ROOT / "tools" / "crd_validate" / "validate.mjs")], input=lines, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_validate_strictly_against_the_cluster_version(shipped, stack):
    result = shipped[stack]
    version = result.config.cluster.kubernetes_version
    manifests = result.manifests()
    assert manifests
    custom = []
    for manifest in manifests:
        if manifest["apiVersion"].startswith(CRD_GROUPS):
            custom.append(manifest)
        elif not manifest["apiVersion"].startswith(ENVOY_GATEWAY):
            kubernetes_validate.validate(manifest, version, strict=True)
    if custom:
        report = validate_custom_resources(custom)
        assert [line for line in report if not line.startswith("ok ")] == []
        assert len(report) == len(custom)


def test_crd_validation_catches_a_bad_route():
    bad = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "bad"},
        "spec": {"rules": [{"backendRefs": [{"name": "s", "port": "http", "weight": -1}]}]},
    }
    (line,) = validate_custom_resources([bad])
    assert line.startswith("error HTTPRoute/bad:") and "weight must be >= 0" in line


def test_strict_validation_catches_a_typo():
    bad = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.31", strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_namespaces_enforce_pod_security_and_default_deny(shipped, stack):
    result = shipped[stack]
    manifests = result.manifests()
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    version = f"v{result.config.cluster.kubernetes_version}"
    system = {result.config.namespaces.monitoring, result.config.gpu_operator.namespace}
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        expected = "privileged" if ns["metadata"]["name"] in system else "restricted"
        assert labels["pod-security.kubernetes.io/enforce"] == expected
        assert labels["pod-security.kubernetes.io/enforce-version"] == version
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["mlops.platform/environment"] == result.config.environment
        policies = [m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["namespace"] == ns["metadata"]["name"]]
        deny = [p for p in policies if p["metadata"]["name"] == "default-deny-all"]
        if ns["metadata"]["name"] == result.config.gpu_operator.namespace:
            assert deny == []  # its pods must reach the API server, whose address differs per cluster
            continue
        assert deny and deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_quota_covers_the_models_at_full_scale(shipped, stack):
    result = shipped[stack]
    quotas = [m for m in result.manifests() if m["kind"] == "ResourceQuota"]
    needed = sum(m.max_gpus for m in result.config.models)
    assert [q["spec"]["hard"]["requests.nvidia.com/gpu"] for q in quotas] == ([str(needed)] if needed else [])
    for quota in quotas:
        assert quota["metadata"]["namespace"] == result.config.namespaces.serving
