"""Reads the stack's configuration: the one place the program touches Pulumi config."""

from __future__ import annotations

import contextlib
import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import ValidationError

from .checks import Sections, cross_section_issues
from .errors import ConfigError, ConfigIssue, expected, issues_from_validation
from .guardrails import GUARDRAIL_DEFAULTS, Guardrails
from .platform import PlatformConfig

_SINGLE = {"cloud", "cluster", "mlflow", "monitoring", "serving"}
_LISTS = {"gpu_pools", "models", "managed_endpoints"}


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration with the secrets it references, as Pulumi secret outputs."""

    platform: PlatformConfig
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)


def _raw_values(namespace: str) -> tuple[dict[str, Any], set[str]]:
    """Every config key of the project namespace, JSON-decoded, and which of them are secret."""
    prefix = f"{namespace}:"
    keys = {k for k in runtime_config.CONFIG.get() if k.startswith(prefix)}
    keys |= {k for k in runtime_config.get_config_env() if k.startswith(prefix)}
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key in sorted(keys):
        raw = runtime_config.get_config(key)
        name = key[len(prefix) :]
        if isinstance(raw, str) and raw[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                raw = json.loads(raw)
        values[name] = raw
        if runtime_config.is_config_secret(key) or key in runtime_config.get_config_secret_keys_env():
            secret.add(name)
    return values, secret


def validate_platform(
    stack: str, values: dict[str, Any], secret_keys: set[str], *, allow_missing_secrets: bool = False
) -> tuple[PlatformConfig, list[str]]:
    """Validate raw config values; raise ConfigError listing every problem.

    Returns the model and the referenced secret keys that are absent (only when allowed).
    """
    fields = set(PlatformConfig.model_fields)
    model_values = {k: v for k, v in values.items() if k in fields}
    issues: list[ConfigIssue] = []
    try:
        platform = PlatformConfig.model_validate(model_values)
    except ValidationError as err:
        issues += issues_from_validation(PlatformConfig, err)
        issues += [expected(path, what, value) for path, value, what in cross_section_issues(_valid_sections(model_values))]
        platform = None
    referenced = platform.secret_keys() if platform else {}
    for key in sorted(set(values) - fields):
        if key in referenced:
            continue
        if platform is None and key in secret_keys:
            continue  # may be referenced by a section that failed validation
        close = difflib.get_close_matches(key, sorted(fields), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        issues.append(
            ConfigIssue(key, f"unknown config key; {hint}known keys: {', '.join(sorted(fields))}, or a secret key the config names")
        )
    missing: list[str] = []
    for key, path in sorted(referenced.items()):
        if key in values and key not in secret_keys:
            issues.append(
                ConfigIssue(key, f"holds plaintext; expected a secret (named by {path}): set it with `pulumi config set --secret {key}`")
            )
        elif key not in values:
            if allow_missing_secrets:
                missing.append(key)
            else:
                issues.append(
                    ConfigIssue(key, f"missing; expected a secret (named by {path}): set it with `pulumi config set --secret {key}`")
                )
    if any(i.path == "environment" for i in issues):
        # guardrails default from the environment; with no valid environment, say that only once
        issues = [i for i in issues if not (i.path == "guardrails" and i.message.startswith("missing"))]
    if issues or platform is None:
        raise ConfigError(stack, issues)
    return platform, missing


def _valid_sections(values: dict[str, Any]) -> Sections:
    """The individually valid sections and list items of a configuration that failed as a whole."""
    fields = PlatformConfig.model_fields
    sections = Sections()
    env = values.get("environment")
    if isinstance(env, str) and env in GUARDRAIL_DEFAULTS:
        sections.environment = env
        given = values.get("guardrails", {})
        with contextlib.suppress(ValidationError):
            sections.guardrails = Guardrails.model_validate({**GUARDRAIL_DEFAULTS[env], **(given if isinstance(given, dict) else {})})
    for name in _SINGLE:
        model = fields[name].annotation
        with contextlib.suppress(ValidationError):
            setattr(sections, name, model.model_validate(values.get(name, {})))  # type: ignore[union-attr]
    for name in _LISTS:
        items = values.get(name, [])
        item_model = fields[name].annotation.__args__[0]  # type: ignore[union-attr]
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                getattr(sections, name).append((i, item_model.model_validate(item)))
            except ValidationError:
                if name == "gpu_pools" and isinstance(item, dict) and isinstance(item.get("name"), str):
                    sections.invalid_pools.add(item["name"])
    return sections


def load_platform_config() -> LoadedConfig:
    """Read and validate the current stack's configuration before any resource is created."""
    namespace = pulumi.get_project()
    values, secret_keys = _raw_values(namespace)
    platform, _ = validate_platform(pulumi.get_stack(), values, secret_keys)
    config = pulumi.Config(namespace)
    secrets = {key: config.require_secret(key) for key in platform.secret_keys()}
    return LoadedConfig(platform=platform, secrets=secrets)
