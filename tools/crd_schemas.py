"""Strict validation of custom resources against the openAPIV3Schema of their official CRDs.

The CRDs come from the projects' published Go modules at the versions pinned in ``MODULES``,
fetched into the Go module cache by ``go mod download`` (nothing is copied into this repository).
A real API server prunes fields its structural schema does not declare; here such a field is an
error, because the object would silently not do what the code meant. Types, enums, required
fields, patterns, bounds and integer formats are checked too; ``x-kubernetes-preserve-unknown-fields``
is honoured. CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the pinned dev set
import yaml

from .wire import wire_form

GO_FALLBACK = Path("/usr/local/go/bin/go")


@dataclass(frozen=True)
class CrdModule:
    """A Go module that publishes CRD YAMLs, pinned to the release the manifests target."""

    path: str
    version: str
    crd_globs: tuple[str, ...]
    """CRD files inside the module; earlier globs win when two define the same kind and version."""
    why: str


MODULES: tuple[CrdModule, ...] = (
    CrdModule(
        "sigs.k8s.io/gateway-api",
        "v1.3.0",
        ("config/crd/standard/*.yaml", "config/crd/experimental/*.yaml"),
        "Gateway API v1.3.0: the release Envoy Gateway v1.5 bundles; the standard channel wins over experimental",
    ),
    CrdModule(
        "github.com/envoyproxy/gateway",
        "v1.5.0",
        ("charts/gateway-helm/crds/generated/*.yaml",),
        "Envoy Gateway v1.5.0: SecurityPolicy, BackendTrafficPolicy and ClientTrafficPolicy v1alpha1 with targetRefs",
    ),
    CrdModule(
        "github.com/kedacore/keda/v2",
        "v2.20.2",
        ("config/crd/bases/*.yaml",),
        "KEDA v2.20.2: ScaledObject keda.sh/v1alpha1 and the rest of its CRDs, as its 2.20.2 chart installs them",
    ),
    CrdModule(
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        ("example/prometheus-operator-crd/*.yaml",),
        "prometheus-operator v0.85.0: monitoring.coreos.com/v1 as kube-prometheus-stack 79.x installs it",
    ),
    CrdModule(
        "github.com/fluxcd/flagger",
        "v1.36.1",
        ("artifacts/flagger/crd.yaml",),
        "Flagger v1.36.1: Canary, MetricTemplate and AlertProvider flagger.app/v1beta1, the release tools/cluster/flagger builds",
    ),
)

BUILT_IN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
"""API groups the Kubernetes API server serves itself; everything else needs a CRD."""


class GoMissingError(RuntimeError):
    """The go command is needed to fetch the pinned CRD modules."""


def group_of(api_version: str) -> str:
    """The API group of an apiVersion (`""` for the core group)."""
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_custom(manifest: dict[str, Any]) -> bool:
    """A manifest of a kind the API server only knows through a CRD."""
    return group_of(manifest["apiVersion"]) not in BUILT_IN_GROUPS


def go_binary() -> str:
    """The go command, or a clear error naming what is missing."""
    found = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.exists() else None)
    if found is None:
        raise GoMissingError(
            "the go command is not installed: custom resources are validated against CRDs fetched with "
            "`go mod download` from the Go module proxy (install Go, e.g. the golang-go package)"
        )
    return found


def module_dir(module: CrdModule) -> Path:
    """The module's directory in the Go module cache, downloading it through the Go module proxy if needed."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    env.setdefault("GOPROXY", "https://proxy.golang.org")
    done = subprocess.run(
        [go_binary(), "mod", "download", "-json", f"{module.path}@{module.version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent,
        timeout=600,
    )
    info = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    if done.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or done.stderr.strip() or f"exit status {done.returncode}"
        raise RuntimeError(f"go mod download {module.path}@{module.version} failed: {reason}")
    return Path(info["Dir"])


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a bare `=` (an operator enum value in some CRDs) as the `value` tag; it is a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD: its scope, schema and where it came from."""

    kind: str
    scope: str
    served: bool
    schema: dict[str, Any]
    source: str


def _crds_in(module: CrdModule, root: Path) -> dict[tuple[str, str, str], CrdVersion]:
    found: dict[tuple[str, str, str], CrdVersion] = {}
    for pattern in module.crd_globs:
        for path in sorted(root.glob(pattern)):
            for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    found.setdefault(
                        key,
                        CrdVersion(
                            kind=spec["names"]["kind"],
                            scope=spec["scope"],
                            served=bool(version.get("served")),
                            schema=version["schema"]["openAPIV3Schema"],
                            source=f"{module.path}@{module.version}/{path.relative_to(root)}",
                        ),
                    )
    return found


@functools.cache
def load_crds() -> dict[tuple[str, str, str], CrdVersion]:
    """(group, version, kind) to its CRD version, from every pinned module."""
    crds: dict[tuple[str, str, str], CrdVersion] = {}
    for module in MODULES:
        crds.update({k: v for k, v in _crds_in(module, module_dir(module)).items() if k not in crds})
    return crds


def crd_documents(kinds: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The whole CRDs that define ``kinds`` ((group, kind) pairs), from the pinned modules, to install in a cluster.

    Earlier modules and globs win, as in ``load_crds`` (Gateway API's standard channel over experimental).
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for module in MODULES:
        root = module_dir(module)
        for pattern in module.crd_globs:
            for path in sorted(root.glob(pattern)):
                for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):
                    if doc and doc.get("kind") == "CustomResourceDefinition":
                        found.setdefault((doc["spec"]["group"], doc["spec"]["names"]["kind"]), doc)
    missing = sorted(kinds - set(found))
    if missing:
        raise RuntimeError(f"no pinned CRD defines {', '.join(f'{g}/{k}' for g, k in missing)}")
    return [found[key] for key in sorted(kinds)]


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields forbidden wherever a structural schema would prune them.

    An object node with declared properties and neither ``additionalProperties`` nor
    ``x-kubernetes-preserve-unknown-fields`` keeps only those properties on the API server;
    ``nullable`` admits null as the API server does.
    """
    node = copy.copy(schema)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {name: strict_schema(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = strict_schema(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [strict_schema(sub) for sub in node[key]]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("type") == "object" and not preserve and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.get("nullable") is True and "type" in node:
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}
"""The ObjectMeta fields a rendered object may set (the API server validates metadata itself, strictly)."""

FORMATS = jsonschema.FormatChecker(["ipv4", "ipv6"])


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value) is not None


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@FORMATS.checks("byte", raises=(binascii.Error, ValueError))
def _byte(value: object) -> bool:
    return not isinstance(value, str) or base64.b64decode(value, validate=True) is not None


@functools.cache
def _validator(group: str, version: str, kind: str) -> jsonschema.Draft4Validator:
    crd = load_crds()[(group, version, kind)]
    schema = strict_schema(crd.schema)
    schema["properties"] = {**schema["properties"], "metadata": METADATA_SCHEMA}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return jsonschema.Draft4Validator(schema, format_checker=FORMATS)


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        return f"unknown field(s) {', '.join(map(repr, unknown))}: the API server would prune them; known: {', '.join(sorted(known))}"
    if error.validator == "enum":
        return f"got {error.instance!r}; expected one of {error.validator_value}"
    return error.message


def validate(manifest: dict[str, Any]) -> list[str]:
    """Every problem of one custom resource, each with its path; empty when the object is valid."""
    manifest = wire_form(manifest)
    group = group_of(manifest.get("apiVersion", ""))
    version = manifest.get("apiVersion", "").rsplit("/", 1)[-1]
    kind = manifest.get("kind", "")
    crd = load_crds().get((group, version, kind))
    if crd is None:
        served = sorted(f"{g}/{v}" for g, v, k in load_crds() if k == kind)
        hint = f"; the pinned CRDs serve it as {', '.join(served)}" if served else ""
        return [f"no pinned CRD defines {manifest.get('apiVersion')} {kind}{hint}"]
    problems = []
    if not crd.served:
        problems.append(f"{manifest['apiVersion']} {kind} is not served by {crd.source}")
    namespaced = "namespace" in manifest.get("metadata", {})
    if crd.scope == "Namespaced" and not namespaced:
        problems.append("metadata.namespace: required for a namespaced kind")
    if crd.scope == "Cluster" and namespaced:
        problems.append("metadata.namespace: not allowed for a cluster-scoped kind")
    errors = sorted(_validator(group, version, kind).iter_errors(manifest), key=lambda e: (_path(e), e.message))
    problems += [f"{_path(e)}: {_message(e)}" for e in errors]
    return problems


def describe(manifest: dict[str, Any]) -> str:
    """`Kind namespace/name`, for reports."""
    meta = manifest.get("metadata", {})
    return f"{manifest.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}".replace(" /", " ")
