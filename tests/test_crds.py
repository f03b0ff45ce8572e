"""Custom resources validate strictly against the official CRDs of the pinned releases (tools/crd_schemas)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools import crd_schemas
from tools.crd_schemas import GoMissingError, is_custom, validate

from .conftest import STACKS


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str, str], crd_schemas.CrdVersion]:
    """The pinned CRDs, fetched into the Go module cache; a missing `go` fails with the reason."""
    try:
        return crd_schemas.load_crds()
    except GoMissingError as missing:
        pytest.fail(str(missing))


def route(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "parentRefs": [{"name": "inference", "sectionName": "https"}],
        "hostnames": ["inference.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v2/models/m"}}],
                "backendRefs": [{"name": "triton-m", "port": 8000, "weight": 100}],
            }
        ],
    }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "triton-m", "namespace": "ml-serving"},
        "spec": {**base, **spec},
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_of_every_stack_validates(shipped, crds, stack):
    custom = [m for m in shipped[stack].manifests() if is_custom(m)]
    assert custom, f"{stack} renders no custom resources"
    problems = {crd_schemas.describe(m): validate(m) for m in custom}
    assert {k: v for k, v in problems.items() if v} == {}


def test_every_rendered_kind_has_a_pinned_crd(shipped, crds):
    kinds = {(m["apiVersion"], m["kind"]) for s in STACKS for m in shipped[s].manifests() if is_custom(m)}
    pinned = {(f"{g}/{v}", k) for g, v, k in crds}
    assert (
        kinds <= pinned
        and {
            ("gateway.networking.k8s.io/v1", "Gateway"),
            ("gateway.networking.k8s.io/v1", "HTTPRoute"),
            ("monitoring.coreos.com/v1", "ServiceMonitor"),
            ("monitoring.coreos.com/v1", "PrometheusRule"),
            ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
        }
        <= kinds
    )


def test_a_valid_route_passes(crds):
    assert validate(route()) == []


@pytest.mark.parametrize(
    ("doc_path", "field"),
    [
        (("spec",), "retries"),
        (("spec", "rules", 0), "timeout"),
        (("spec", "rules", 0, "backendRefs", 0), "wieght"),
        ((), "specs"),
        (("metadata",), "lables"),
    ],
)
def test_an_unknown_field_is_rejected(crds, doc_path, field):
    doc = route()
    node: Any = doc
    for step in doc_path:
        node = node[step]
    node[field] = 1
    problems = validate(doc)
    assert len(problems) == 1 and f"unknown field(s) '{field}'" in problems[0], problems
    assert problems[0].startswith(".".join(str(p) for p in doc_path).replace(".0", "[0]") or "<root>")


def test_a_wrong_enum_is_rejected(crds):
    doc = route()
    doc["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    assert validate(doc) == [
        "spec.rules[0].matches[0].path.type: got 'Prefix'; expected one of ['Exact', 'PathPrefix', 'RegularExpression']"
    ]


def test_a_missing_required_field_is_rejected(crds):
    doc = route()
    del doc["spec"]["rules"][0]["backendRefs"][0]["name"]
    assert validate(doc) == ["spec.rules[0].backendRefs[0]: 'name' is a required property"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"weight": -1}, "spec.rules[0].backendRefs[0].weight: -1 is less than the minimum of 0"),
        ({"port": "http"}, "spec.rules[0].backendRefs[0].port: 'http' is not of type 'integer'"),
        ({"port": 70000}, "spec.rules[0].backendRefs[0].port: 70000 is greater than the maximum of 65535"),
        ({"name": ""}, "spec.rules[0].backendRefs[0].name: '' should be non-empty"),
    ],
)
def test_types_and_bounds_are_checked(crds, change, expected):
    doc = route()
    doc["spec"]["rules"][0]["backendRefs"][0].update(change)
    (problem,) = validate(doc)
    assert problem.startswith(expected)


def test_patterns_are_checked(crds):
    assert validate(route(hostnames=["Inference_API.example.com"])) == [
        "spec.hostnames[0]: 'Inference_API.example.com' does not match "
        "'^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"
    ]


def test_a_service_monitor_with_a_misspelt_endpoint_field_is_rejected(crds):
    monitor: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "triton", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "triton"}}, "endpoints": [{"port": "metrics", "intervall": "30s"}]},
    }
    (problem,) = validate(monitor)
    assert problem.startswith("spec.endpoints[0]: unknown field(s) 'intervall'")
    monitor["spec"]["endpoints"][0]["scheme"] = "ftp"
    assert any(p.startswith("spec.endpoints[0].scheme: got 'ftp'") for p in validate(monitor))


def test_preserve_unknown_fields_is_respected(crds):
    patch: dict[str, Any] = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyPatchPolicy",
        "metadata": {"name": "p", "namespace": "ml-serving"},
        "spec": {
            "type": "JSONPatch",
            "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference"},
            "jsonPatches": [
                {
                    "type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                    "name": "listener",
                    "operation": {"op": "add", "path": "/a", "value": {"any": {"nested": ["shape", 1]}}},
                }
            ],
        },
    }
    assert validate(patch) == []
    broken = copy.deepcopy(patch)
    broken["spec"]["jsonPatches"][0]["operation"]["extra"] = True
    assert validate(broken) == [
        "spec.jsonPatches[0].operation: unknown field(s) 'extra': the API server would prune them; known: from, jsonPath, op, path, value"
    ]


def test_scope_version_and_kind_are_checked(crds):
    doc = route()
    del doc["metadata"]["namespace"]
    assert validate(doc) == ["metadata.namespace: required for a namespaced kind"]
    doc = route()
    doc["apiVersion"] = "gateway.networking.k8s.io/v2"
    (problem,) = validate(doc)
    assert problem.startswith("no pinned CRD defines gateway.networking.k8s.io/v2 HTTPRoute; the pinned CRDs serve it as")
    assert validate({**route(), "kind": "HTTPRoutes"})[0].startswith("no pinned CRD defines")


def test_numbers_are_checked_in_their_wire_form(crds):
    doc = route()
    doc["spec"]["rules"][0]["backendRefs"][0].update(port=8000.0, weight=100.0)  # Pulumi carries numbers as doubles
    assert validate(doc) == []
    doc["spec"]["rules"][0]["backendRefs"][0]["weight"] = 0.5
    assert validate(doc) == ["spec.rules[0].backendRefs[0].weight: 0.5 is not of type 'integer'"]


def test_custom_means_not_served_by_the_api_server_itself():
    assert is_custom({"apiVersion": "gateway.networking.k8s.io/v1"}) and is_custom({"apiVersion": "monitoring.coreos.com/v1"})
    assert not any(is_custom({"apiVersion": v}) for v in ("v1", "apps/v1", "networking.k8s.io/v1", "autoscaling/v2", "policy/v1"))


def test_a_missing_go_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(crd_schemas, "GO_FALLBACK", tmp_path / "go")
    with pytest.raises(GoMissingError, match="the go command is not installed"):
        crd_schemas.module_dir(crd_schemas.MODULES[0])


def test_modules_are_pinned_to_exact_releases():
    for module in crd_schemas.MODULES:
        assert module.version.startswith("v") and module.version.count(".") == 2 and "-" not in module.version, module
