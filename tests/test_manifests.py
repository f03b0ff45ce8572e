"""Kubernetes objects validate against the official OpenAPI schemas (strict) and start closed."""

from __future__ import annotations

import math

import kubernetes_validate
import pytest

from tools.crd_schemas import is_custom

from .conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_validate_strictly_against_the_cluster_version(shipped, stack):
    """Built-in kinds against Kubernetes' own schemas; custom resources against their CRDs in test_crds."""
    result = shipped[stack]
    version = result.config.cluster.kubernetes_version
    manifests = result.manifests()
    built_in = [m for m in manifests if not is_custom(m)]
    assert built_in
    for manifest in built_in:
        kubernetes_validate.validate(manifest, version, strict=True)


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
    """The quota admits a release at its peak, read from the objects: the primary at the ScaledObject's maximum with its
    surge pod at promotion, and the candidate at the share of traffic its Canary gives it (at least the minimum)."""
    result = shipped[stack]
    manifests = result.manifests()
    quotas = [m for m in manifests if m["kind"] == "ResourceQuota"]
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s["spec"] for s in manifests if s["kind"] == "ScaledObject"}
    canaries = {c["spec"]["targetRef"]["name"]: c["spec"] for c in manifests if c["kind"] == "Canary"}
    needed = 0
    for deployment in (
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["namespace"] == result.config.namespaces.serving
    ):
        name, spec = deployment["metadata"]["name"], deployment["spec"]
        gpus = sum(int(c["resources"].get("requests", {}).get("nvidia.com/gpu", 0)) for c in spec["template"]["spec"]["containers"])
        if not gpus:
            continue
        low, high = scaled[name]["minReplicaCount"], scaled[name]["maxReplicaCount"]
        analysis = canaries[name]["analysis"]
        share = max([*analysis.get("stepWeights", []), analysis.get("maxWeight", 0)]) / 100
        if analysis.get("mirror") or analysis.get("match"):
            share = 1.0
        candidate = max(low, 1, math.ceil(high * share))
        surge = spec["strategy"]["rollingUpdate"]["maxSurge"]
        needed += gpus * (high + surge + candidate)
    assert [q["spec"]["hard"]["requests.nvidia.com/gpu"] for q in quotas] == ([str(needed)] if needed else [])
    for quota in quotas:
        assert quota["metadata"]["namespace"] == result.config.namespaces.serving


def _floats(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _floats(v, f"{path}[{i}]")
    elif isinstance(value, float) and value.is_integer():
        yield path, value


@pytest.mark.parametrize("stack", STACKS)
def test_whole_numbers_are_integers_in_every_manifest(shipped, stack):
    """The mocks carry numbers as floats; the synthesized manifests hold `replicas: 2`, not `2.0`."""
    floats = [f"{m['kind']}/{m['metadata']['name']}{path}" for m in shipped[stack].manifests() for path, _ in _floats(m)]
    assert floats == []
    for m in shipped[stack].manifests():
        if m["kind"] == "Deployment":
            assert type(m["spec"].get("replicas", 0)) is int
            context = m["spec"]["template"]["spec"].get("securityContext", {})
            assert all(type(context[k]) is int for k in ("runAsUser", "runAsGroup", "fsGroup") if k in context)
