"""Run the real program of a stack under Pulumi's mocks and collect what it declares.

No cloud account and no Pulumi CLI are involved: the stack file is read the way the CLI
passes it to the program (project-namespaced keys, JSON for structured values, secrets
marked secret), and the recording mock monitor keeps every registration.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as _settings

from mlops_platform.config.errors import ConfigError
from mlops_platform.config.loader import validate_platform
from mlops_platform.config.platform import PlatformConfig
from mlops_platform.testing import REDACTED, PlatformMocks, RecordingMonitor, redact

from .engine_limits import config_size_issues
from .stack_file import load_stack_file
from .wire import wire_form

PROJECT = "mlops-platform"
ROOT = Path(__file__).resolve().parents[1]
SECRET_PLACEHOLDER = "synth-placeholder-secret"


@dataclass
class StackConfig:
    """A stack file as the engine hands it to the program."""

    values: dict[str, str]
    """Namespaced keys to string values (structured values as JSON), as in ``PULUMI_CONFIG``."""
    secret_keys: list[str]

    def decoded(self) -> dict[str, Any]:
        """Every value as the stack file wrote it: structured values parsed back from their JSON."""
        return {key: json.loads(value) if value[:1] in "[{" else value for key, value in self.values.items()}

    def platform_inputs(self) -> tuple[dict[str, Any], set[str]]:
        """The project's keys without their namespace, decoded, and which of them are secrets: what
        ``validate_platform`` takes."""
        prefix = f"{PROJECT}:"
        values = {key[len(prefix) :]: value for key, value in self.decoded().items() if key.startswith(prefix)}
        return values, {key[len(prefix) :] for key in self.secret_keys if key.startswith(prefix)}


@dataclass
class Synthesis:
    """Everything a stack declares."""

    stack: str
    config: PlatformConfig
    records: list[dict[str, Any]]
    outputs: dict[str, Any]
    placeholder_secrets: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of the steps, ``validate`` and ``program`` (the bench's profile reads them)."""

    def of_type(self, type_token: str) -> list[dict[str, Any]]:
        """Records of one resource type, in URN order."""
        return [r for r in self.records if r["type"] == type_token]

    def one(self, type_token: str, name: str) -> dict[str, Any]:
        """The record of one resource, by type and logical name."""
        found = [r for r in self.records if r["type"] == type_token and r["name"] == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_token} named {name}")
        return found[0]

    def manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object, as the manifest the provider would apply."""
        return [to_manifest(r) for r in self.records if is_kubernetes_object(r)]


def is_kubernetes_object(record: dict[str, Any]) -> bool:
    """A record that becomes an object in the cluster (not a provider, not a Helm component)."""
    return record["custom"] and record["type"].startswith("kubernetes:")


def to_manifest(record: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a Kubernetes record: apiVersion, kind, then its fields, numbers as the API encodes them."""
    inputs = wire_form(dict(record["inputs"]))
    return {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind"), **inputs}


def _mark_secrets(value: Any) -> tuple[Any, bool]:
    """Replace ``secure:`` values (which only the CLI can decrypt) by placeholders."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], inner = _mark_secrets(v)
            found |= inner
        return out, found
    if isinstance(value, list):
        items = [_mark_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def stack_names(root: Path = ROOT) -> list[str]:
    """The shipped stacks, from ``stacks/Pulumi.<name>.yaml``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml"))


def read_stack_file(stack: str, root: Path = ROOT, path: Path | None = None) -> StackConfig:
    """Read ``stacks/Pulumi.<stack>.yaml`` (or ``path``) into the engine's config form; a YAML mistake raises
    ConfigError with its line and column."""
    path = path or root / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path}; stacks: {', '.join(stack_names(root))}")
    data = load_stack_file(path, stack)
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, raw in (data.get("config") or {}).items():
        name = key if ":" in key else f"{PROJECT}:{key}"
        value, secret = _mark_secrets(raw)
        values[name] = value if isinstance(value, str) else json.dumps(value)
        if secret:
            secret_keys.append(name)
    return StackConfig(values=values, secret_keys=sorted(secret_keys))


def validate_stack(stack: str, config: StackConfig, *, engine_limits: bool = True) -> tuple[PlatformConfig, list[str]]:
    """The validated platform config of a stack file, and the secret keys it references but lacks.

    With ``engine_limits`` a config too large for the engine to start the program with is a problem too,
    reported with the others.
    """
    ours, secrets = config.platform_inputs()
    too_large = config_size_issues(config.values) if engine_limits else []
    try:
        result = validate_platform(stack, ours, secrets, allow_missing_secrets=True)
    except ConfigError as error:
        raise ConfigError(stack, error.issues + too_large) from None
    if too_large:
        raise ConfigError(stack, too_large)
    return result


def synthesize(
    stack: str, config: StackConfig | None = None, root: Path = ROOT, *, engine_limits: bool = True, preview: bool = False
) -> Synthesis:
    """Run the stack's program under mocks; raises ConfigError on invalid configuration.

    ``engine_limits=False`` lets the mocks run a platform larger than the engine could start (the bench's
    scaling series). ``preview=True`` runs it as `pulumi preview` would: every computed output unknown.
    """
    config = config or read_stack_file(stack, root)
    prefix = f"{PROJECT}:"
    started = time.perf_counter()
    platform, missing = validate_stack(stack, config, engine_limits=engine_limits)
    validated = time.perf_counter()
    values = dict(config.values)
    values.update({f"{prefix}{key}": SECRET_PLACEHOLDER for key in missing})
    secret_keys = sorted(set(config.secret_keys) | {f"{prefix}{key}" for key in missing})

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _settings.ROOT.set(None)  # a fresh root Stack resource for every synthesis
    mocks = PlatformMocks(preview=preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, monitor=monitor, preview=preview)
    pulumi.runtime.set_all_config(values, secret_keys)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    async def run() -> None:
        runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        stack_resource = _settings.get_root_resource()
        for name, value in sorted(getattr(stack_resource, "outputs", {}).items()):
            output = pulumi.Output.from_input(value)
            outputs[name] = REDACTED if await output.is_secret() else await output.future()

    run()
    seconds = {"validate": validated - started, "program": time.perf_counter() - validated}
    stack_urn = next((r["urn"] for r in monitor.records if r["type"] == "pulumi:pulumi:Stack"), None)
    records = []
    for record in monitor.records:
        if record["type"] == "pulumi:pulumi:Stack":
            continue
        if record["parent"] == stack_urn or (record["parent"] or "").endswith("::pulumi:pulumi:Stack::" + f"{PROJECT}-{stack}"):
            record = {**record, "parent": None}
        records.append(record)
    records.sort(key=lambda r: r["urn"])
    duplicates = sorted(urn for urn, count in Counter(r["urn"] for r in records).items() if count > 1)
    if duplicates:
        raise RuntimeError(f"duplicate URNs (the engine would reject them): {duplicates}")
    return Synthesis(
        stack=stack, config=platform, records=records, outputs=redact(outputs), placeholder_secrets=sorted(missing), seconds=seconds
    )
