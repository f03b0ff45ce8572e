"""Pinned versions of a stack file, and copying them from one stack file to another with comments kept.

What counts as a pinned version (and nothing else is ever touched):

- ``models[]`` (Triton): ``version``, the one version the model runs. There is no candidate to copy: a new
  ``version`` is released by Flagger as the target's ``release`` block says, and that block (like every other
  key) is the target environment's own configuration, never copied.
- ``managed_endpoints[]``: ``model_uri`` and ``image``; and the ``canary`` candidate's ``model_uri`` and ``image``.

``copy_pins(target, source)`` matches entries by ``name``. For every entry present in both files:

1. each pinned key of the entry takes the source's value;
2. a managed endpoint's ``canary`` block mirrors the source: if the source entry has no canary, the target's
   canary block is removed (the candidate is either promoted already or abandoned); if the source has one
   and the target has one too, only the candidate's pinned keys change (a pinned key the source candidate
   leaves out is removed) and the target keeps its own percent and instances; if only the source has one, a
   canary block holding just the candidate's pinned keys is added after the entry's last pinned key, so the
   target environment's defaults (10 %, one instance) apply. A model's entry never gains or loses a block:
   a ``canary`` key under ``models[]`` (the removed candidate block, which the config loader refuses) is
   neither copied nor removed.

Entries only in the target are left as they are; entries only in the source are not added (adding a model
is a configuration change for review, not a promotion). Everything else in the file (other keys, comments,
quoting, key order, blank lines) is kept byte for byte: the file goes through a ruamel.yaml round trip whose
settings are chosen so that the untouched file comes back identical, and the rewrite is refused otherwise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from .common import PROJECT, ReleaseError

PINNED_KEYS: dict[str, tuple[str, ...]] = {
    "models": ("version",),
    "managed_endpoints": ("model_uri", "image"),
}
"""Per list section of the config: the keys of an entry (and of its candidate block) that pin a version."""

CANDIDATE = "canary"

CANDIDATE_SECTIONS: tuple[str, ...] = ("managed_endpoints",)
"""The list sections whose entries carry a ``canary`` candidate block with pinned keys of its own; a model has none."""

# (mapping, sequence, offset) indentations tried, the project's own style first.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 4, 0), (4, 4, 0))


@dataclass
class PinChanges:
    """The outcome of copying pins: the new text, one line per change, one line per entry left alone."""

    text: str
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def show(value: Any) -> str:
    """A value as it reads in YAML: numbers bare, strings quoted, mappings in flow style."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yaml(indent: tuple[int, int, int]) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def load(text: str, label: str) -> tuple[YAML, Any]:
    """Parse a stack file for a round trip; the YAML instance is the one that reproduces ``text`` exactly."""
    for indent in _INDENTS:
        yaml = _yaml(indent)
        try:
            data = yaml.load(text)
        except YAMLError as error:
            raise ReleaseError(f"{label} is not valid YAML: {str(error).splitlines()[0]}") from error
        if not isinstance(data, CommentedMap) or not isinstance(data.get("config"), CommentedMap):
            raise ReleaseError(f"{label} has no 'config' mapping")
        if _dump(yaml, data) == text:
            return yaml, data
    raise ReleaseError(f"{label}: its formatting cannot be kept by a YAML round trip; edit its versions by hand")


def _section(config: CommentedMap, name: str, label: str) -> CommentedSeq | None:
    for key in (f"{PROJECT}:{name}", name):
        if key in config:
            value = config[key]
            if value is None:
                return None
            if not isinstance(value, CommentedSeq):
                raise ReleaseError(f"{label}: {key} is not a list")
            return value
    return None


def _entries(section: CommentedSeq | None, name: str, label: str) -> Iterator[tuple[str, CommentedMap]]:
    seen: set[str] = set()
    for index, entry in enumerate(section or []):
        if not isinstance(entry, CommentedMap) or not isinstance(entry.get("name"), str):
            raise ReleaseError(f"{label}: {name}[{index}] has no name")
        if entry["name"] in seen:
            raise ReleaseError(f"{label}: two entries of {name} are named {entry['name']!r}")
        seen.add(entry["name"])
        yield entry["name"], entry


def pinned_versions(text: str, label: str) -> dict[str, Any]:
    """Every pinned value of a stack file by path (``models[fraud-detector].version``), for display and tests."""
    _, data = load(text, label)
    found: dict[str, Any] = {}
    for section, keys in PINNED_KEYS.items():
        for name, entry in _entries(_section(data["config"], section, label), section, label):
            for key in keys:
                if key in entry:
                    found[f"{section}[{name}].{key}"] = entry[key]
            candidate = entry.get(CANDIDATE) if section in CANDIDATE_SECTIONS else None
            if isinstance(candidate, dict):
                for key in keys:
                    if key in candidate:
                        found[f"{section}[{name}].{CANDIDATE}.{key}"] = candidate[key]
    return found


def _copy_candidate(target: CommentedMap, source: CommentedMap, keys: tuple[str, ...], where: str, labels: tuple[str, str]) -> list[str]:
    changes: list[str] = []
    wanted = source.get(CANDIDATE)
    current = target.get(CANDIDATE)
    if wanted is None:
        if current is not None:
            was = {k: current[k] for k in keys if isinstance(current, dict) and k in current}
            del target[CANDIDATE]
            changes.append(f"{where}.{CANDIDATE}: removed (was {show(was)}; {labels[0]} runs no canary for it)")
        return changes
    if not isinstance(wanted, dict):
        raise ReleaseError(f"{labels[0]}: {where}.{CANDIDATE} is not a mapping")
    if current is None:
        block = CommentedMap((k, wanted[k]) for k in keys if k in wanted)
        position = max(i for i, k in enumerate(target) if k in keys or k == "name") + 1
        target.insert(position, CANDIDATE, block)
        changes.append(f"{where}.{CANDIDATE}: added {show(dict(block))}")
        return changes
    if not isinstance(current, dict):
        raise ReleaseError(f"{labels[1]}: {where}.{CANDIDATE} is not a mapping")
    for key in keys:
        if key in wanted:
            if key not in current or current[key] != wanted[key]:
                old = show(current[key]) if key in current else "(unset)"
                current[key] = wanted[key]
                changes.append(f"{where}.{CANDIDATE}.{key}: {old} -> {show(wanted[key])}")
        elif key in current:
            changes.append(f"{where}.{CANDIDATE}.{key}: removed (was {show(current[key])})")
            del current[key]
    return changes


def copy_pins(target_text: str, source_text: str, source_label: str, target_label: str) -> PinChanges:
    """Copy the source stack file's pinned versions into the target stack file (see the module doc)."""
    yaml, target = load(target_text, target_label)
    _, source = load(source_text, source_label)
    result = PinChanges(text=target_text)
    for section, keys in PINNED_KEYS.items():
        wanted = dict(_entries(_section(source["config"], section, source_label), section, source_label))
        current = dict(_entries(_section(target["config"], section, target_label), section, target_label))
        for name, entry in current.items():
            where = f"{section}[{name}]"
            if name not in wanted:
                result.notes.append(f"{where}: not in {source_label}, left as it is")
                continue
            for key in keys:
                if key not in wanted[name]:
                    raise ReleaseError(f"{source_label}: {where} has no {key}")
                if entry.get(key) != wanted[name][key]:
                    old = show(entry[key]) if key in entry else "(unset)"
                    entry[key] = wanted[name][key]
                    result.changes.append(f"{where}.{key}: {old} -> {show(wanted[name][key])}")
            if section in CANDIDATE_SECTIONS:
                result.changes += _copy_candidate(entry, wanted[name], keys, where, (source_label, target_label))
        for name in wanted:
            if name not in current:
                result.notes.append(f"{section}[{name}]: only in {source_label}, not added (adding an entry is a config change)")
    if result.changes:
        result.text = _dump(yaml, target)
    return result


def validate(stack: str, text: str) -> None:
    """Refuse a rewritten stack file that the project's config loader rejects (every problem listed)."""
    from .common import platform_config

    platform_config(stack, text, "refusing to write: the rewritten stack would be invalid")


def write_pins(tool: str, header: str, path: Path, stack: str, result: PinChanges, unchanged: str, next_steps: str) -> list[str]:
    """Report ``result`` under ``header`` and, when it changes anything, validate and write the stack file."""
    from .common import stack_file

    lines = [header, *(f"  {change}" for change in result.changes), *(f"  {note}" for note in result.notes)]
    if not result.changes:
        lines.append(f"{tool}: nothing to change; {unchanged}")
        return lines
    validate(stack, result.text)
    path.write_text(result.text)
    noun = "change" if len(result.changes) == 1 else "changes"
    lines.append(f"{tool}: {len(result.changes)} {noun} written to {stack_file(stack)}; {next_steps}")
    return lines
