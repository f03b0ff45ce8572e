"""Configuration errors: every problem at once, each with its path, bad value and expectation."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import COMBINATION_ERROR

_MISSING = object()


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One configuration problem: where it is and what is wrong, with the bad value when there is one."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def expected(path: str, what: str, value: Any = _MISSING) -> ConfigIssue:
    """An issue saying what was expected at ``path``, and what was found."""
    what = what[len("expected ") :] if what.startswith("expected ") else what
    if value is _MISSING:
        return ConfigIssue(path, f"expected {what}")
    if value is None:
        return ConfigIssue(path, f"missing; expected {what}")
    return ConfigIssue(path, f"got {_show(value)}; expected {what}")


class ConfigError(Exception):
    """Raised with every problem found in a stack's configuration; never shown as a traceback."""

    def __init__(self, stack: str, issues: list[ConfigIssue]) -> None:
        self.stack = stack
        self.issues = sorted(set(issues))
        noun = "problem" if len(self.issues) == 1 else "problems"
        lines = [f"invalid configuration for stack '{stack}' ({len(self.issues)} {noun}):"]
        lines += [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)  # `ränker` as typed, not `r\u00e4nker`
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(loc: tuple[int | str, ...] | list[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (for listing its known keys)."""
    import typing

    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = current.model_fields[part].annotation
        for _ in range(3):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            current = args[0] if args else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


REMOVED = {
    "serving.metrics_adapter": "removed: KEDA scales the autoscaling models now (serving.keda, installed by default); "
    "delete this section, and where the adapter was off because another stack's serves the cluster, set serving.keda.install: false",
    "serving.rollback_image": "removed: Flagger rolls a failing model version back (serving.flagger); delete this key",
    "serving.auto_rollback": "removed: Flagger rolls every failing model version back; a model's release.threshold sets how many "
    "failed checks it takes; delete this key",
    "serving.prometheus_url": "moved to serving.flagger.prometheus_url (the Prometheus the release checks query)",
    "models[].canary": "removed: set the model's version to the candidate and describe how it reaches traffic in the model's "
    "release (mode, steps, max_error_rate, max_p99_latency_ms); Flagger runs it beside the serving version and promotes or rolls it back",
    "budget.monthly_usd": "renamed to budget.gpu_monthly_usd: the estimate it is checked against covers GPU node pools and managed "
    "endpoint instances only (not databases, volumes, load balancers or traffic)",
}
"""Keys of earlier releases, with what to do instead."""


def _removed_key(path: str) -> str:
    """A path as REMOVED spells it: list indices dropped (`models[2].canary` -> `models[].canary`)."""
    return re.sub(r"\[\d+\]", "[]", path)


PATTERN_WORDS: dict[str, str] = {
    r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$": "a GitHub repository as owner/name, e.g. acme/ml-models",
    r"^[A-Za-z0-9][-A-Za-z0-9_.]*\.ya?ml$": "a workflow file name ending in .yml or .yaml, e.g. retrain.yml",
    r"^[A-Za-z0-9_./][-A-Za-z0-9_./]*$": "a file path of letters, digits, '_', '.', '/' and '-'",
    r"^[A-Za-z0-9_.][-A-Za-z0-9_./]*$": "a relative directory path of letters, digits, '_', '.', '/' and '-'",
    r"^1\.(2[5-9]|3[0-7])$": 'a Kubernetes minor version from 1.25 to 1.37, quoted, e.g. "1.31"',
    r"^[a-z0-9][-a-z0-9_]{0,62}$": "at most 63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    r"^v?\d+\.\d+\.\d+$": "a release version such as 1.2.3 or v1.2.3",
    r"^\d+\.\d+\.\d+$": "a release version such as 3.17.2",
    r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$": "a tensor name: a letter or '_', then up to 127 letters, digits, '_', '.', ':', '/' or '-'",
    r"^[a-z0-9][a-z0-9.-]*(:\d+)?(/[a-z0-9._-]+)+$|^[a-z0-9._-]+(/[a-z0-9._-]+)*$": "an image repository in lower case "
    "without a tag, such as nvcr.io/nvidia/tritonserver",
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$": "an image tag: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
    r"^sha256:[a-f0-9]{64}$": "an image digest: 'sha256:' and 64 lowercase hexadecimal digits",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$": "a fully qualified host name in lower case, "
    "such as inference.ml.example.com",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit",
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$": "a StorageClass name: lowercase letters, digits, '-' and '.'",
    r"^https://": "an https:// URL",
    r"^https?://": "an http:// or https:// URL",
    r"^https?://[^/:]+(:\d+)?/?$": "an http:// or https:// URL of a host and an optional port, without a path",
    r"^https?://[^\s/]+/?$": "an http:// or https:// URL of a host (and port), without a path",
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$": "a claim name, with dots for a nested claim, such as sub or realm.client",
    r"^[^\s]+:[^\s:@/]+(@sha256:[0-9a-f]{64})?$": "an image with its tag, such as ghcr.io/mlflow/mlflow:v3.1.0, "
    "optionally followed by @sha256:<digest>",
    r"^/subscriptions/.+/subnets/[^/]+$": "an Azure subnet resource ID: /subscriptions/.../subnets/<name>",
    r"^/subscriptions/.+/privateDnsZones/[^/]+\.postgres\.database\.azure\.com$": "an Azure private DNS zone ID ending "
    "in .postgres.database.azure.com",
    r"^[A-Za-z][A-Za-z0-9_]{0,63}$": "a config key name: a letter, then up to 63 letters, digits or '_'",
    r"^#[a-z0-9][-_a-z0-9]{0,79}$": "a Slack channel such as #ml-alerts",
    r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$": "an HTTP header or cookie name: letters, digits and !#$%&'*+.^_`|~-",
    r"^[^\s\\\"]+$": "a value without spaces, quotes or backslashes",
}
"""What each pattern of the config models means, in words: a message never shows a regular expression."""


def issues_from_validation(root: type[BaseModel], error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[ConfigIssue]:
    """Translate pydantic's errors into config issues with config-file paths."""
    issues: list[ConfigIssue] = []
    for err in error.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind == COMBINATION_ERROR:
            for field, value, what in ctx["issues"]:
                base = _join(loc)
                path = f"{base}.{field}" if base and not field.startswith("[") else f"{base}{field}"
                issues.append(expected(path, what, value))
        elif kind == "extra_forbidden" and _removed_key(_join(loc)) in REMOVED:
            issues.append(ConfigIssue(_join(loc), REMOVED[_removed_key(_join(loc))]))
        elif kind == "extra_forbidden":
            model = _model_at(root, tuple(err["loc"][:-1]))
            known = sorted(model.model_fields) if model else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            issues.append(ConfigIssue(_join(loc), f"unknown key; {hint}known keys: {', '.join(known)}"))
        elif kind == "missing":
            issues.append(ConfigIssue(_join(loc), "missing; this key is required"))
        else:
            message = err["msg"]
            if kind == "string_pattern_mismatch":
                message = PATTERN_WORDS.get(ctx["pattern"], "a value of the form docs/config.md describes for this key")
            for lead in ("Input should be ", "Value error, "):
                if message.startswith(lead):
                    message = message[len(lead) :]
            value = err.get("input")
            if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
                message += f' (quote it in the stack file, "{value}": YAML reads an unquoted {value} as a number)'
            issues.append(expected(_join(loc), message, err.get("input")))
    return issues
