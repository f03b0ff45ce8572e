"""Generate docs/config.md, the configuration reference, from the pydantic models.

`python -m tools.config_docs` rewrites the file; `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mlops_platform.config.guardrails import GUARDRAIL_DEFAULTS, Guardrails
from mlops_platform.config.platform import PlatformConfig

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "config.md"

_NAMES = {"DnsLabel": "name", "PinnedVersion": "int"}


def headings(models: list[type[BaseModel]]) -> dict[type[BaseModel], str]:
    """Each model's section heading: its class name, and the module it comes from where two share a name
    (the serving and the endpoint `Autoscaling`), so that every heading, and so every anchor, is unique."""
    names = [m.__name__ for m in models]
    return {m: m.__name__ if names.count(m.__name__) == 1 else f"{m.__name__} ({m.__module__.rsplit('.', 1)[-1]})" for m in models}


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, spaces to hyphens, other punctuation dropped."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _type_name(annotation: Any, labels: dict[type[BaseModel], str]) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0], labels)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        named = " \\| ".join(_type_name(a, labels) for a in args if a is not type(None))
        return named + (" \\| null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0], labels)}"
    if origin is dict:
        return f"map of {_type_name(args[0], labels)} to {_type_name(args[1], labels)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        label = labels.get(annotation, annotation.__name__)
        return f"[{label}](#{anchor(label)})"
    return getattr(annotation, "__name__", str(annotation))


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def _walk(model: type[BaseModel], seen: list[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.append(model)
    for info in model.model_fields.values():
        for child in _models(info.annotation):
            _walk(child, seen)


def _row(name: str, info: FieldInfo, from_environment: bool, labels: dict[type[BaseModel], str]) -> str:
    description = (info.description or "").replace("|", "\\|")
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    required = "no (per environment)" if from_environment or extra.get("default_from") else ("yes" if info.is_required() else "no")
    return f"| `{name}` | {_type_name(info.annotation, labels)} | {required} | {description} |"


def _guardrail_table() -> list[str]:
    fields = list(Guardrails.model_fields)
    lines = ["Defaults per environment:", "", "| environment | " + " | ".join(f"`{f}`" for f in fields) + " |"]
    lines.append("|---|" + "---|" * len(fields))
    for env, values in GUARDRAIL_DEFAULTS.items():
        lines.append(f"| `{env}` | " + " | ".join(str(values[f]).lower() for f in fields) + " |")
    return [*lines, ""]


def render() -> str:
    """The configuration reference as Markdown."""
    models: list[type[BaseModel]] = []
    _walk(PlatformConfig, models)
    lines = [
        "# Configuration reference",
        "",
        "Generated from `components/config/` by `make docs`; a test fails when this file is stale.",
        "",
        "Each top-level key of `PlatformConfig` is a stack config key in the project namespace, e.g.",
        "`mlops-platform:models`. Unknown keys are errors at every level. Secret values (kubeconfigs,",
        "webhook URLs, client secrets) never appear here or in stack files: the config names a key",
        "that is set with `pulumi config set --secret <key>`.",
        "",
    ]
    labels = headings(models)
    for model in models:
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += [f"## {labels[model]}", "", doc, "", "| key | type | required | description and default |", "|---|---|---|---|"]
        from_environment = bool((model.model_config.get("json_schema_extra") or {}).get("default_from"))  # type: ignore[union-attr]
        lines += [_row(name, info, from_environment, labels) for name, info in model.model_fields.items()]
        lines.append("")
        if model is Guardrails:
            lines += _guardrail_table()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/config.md differs from the models")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text() != text:
            print("docs/config.md is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
