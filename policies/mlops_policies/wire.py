"""Reading resource properties in their wire form (camelCase), as the engine and the synth records give them.

The engine hands policies read-only ``Mapping``/``Sequence`` proxies, not ``dict``/``list``, so every
helper here tests against the abstract types. Provider configuration that is not a string arrives
JSON-encoded (``defaultTags: '{"tags": {...}}'``); ``decoded`` undoes that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping (after JSON decoding), else an empty one."""
    value = decoded(value)
    return value if isinstance(value, Mapping) else EMPTY


def items(value: Any) -> list[Any]:
    """``value`` as a list if it is a sequence other than a string (after JSON decoding), else []."""
    value = decoded(value)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return list(value)


def get(value: Any, *path: str | int) -> Any:
    """The value at ``path`` (keys and list indices), or None when any step is missing."""
    for step in path:
        if isinstance(step, int):
            seq = items(value)
            if not -len(seq) <= step < len(seq):
                return None
            value = seq[step]
        else:
            value = mapping(value).get(step)
        if value is None:
            return None
    return value


def decoded(value: Any) -> Any:
    """A JSON-encoded object or array (provider config, traffic splits) as data; anything else unchanged."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def flag(value: Any) -> bool | None:
    """A boolean from a bool or its string form ("true"/"false"); None when absent or not a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def number(value: Any) -> float | None:
    """A number from an int, float or numeric string (the wire carries ints as floats); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def text(value: Any) -> str:
    """A string value, or "" when absent or not a string."""
    return value if isinstance(value, str) else ""


def string_map(value: Any) -> dict[str, str]:
    """A map of strings (tags, labels, annotations), keeping only string keys; values stringified."""
    return {str(k): "" if v is None else str(v) for k, v in mapping(value).items()}


def walk_strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside ``value``."""
    value = decoded(value)
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from walk_strings(inner)
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        for inner in value:
            yield from walk_strings(inner)


def find_key(value: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere inside ``value``."""
    found: list[Any] = []
    value = decoded(value)
    if isinstance(value, Mapping):
        for k, inner in value.items():
            if k == key:
                found.append(inner)
            found.extend(find_key(inner, key))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for inner in value:
            found.extend(find_key(inner, key))
    return found


def cloud_of(resource_type: str) -> str | None:
    """The cloud a resource type belongs to: "aws", "gcp", "azure", or None."""
    package = resource_type.split(":", 1)[0]
    return {"aws": "aws", "gcp": "gcp", "azure-native": "azure"}.get(package)


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity ("500m", "2Gi", 1) as a number; None when it cannot be parsed."""
    direct = number(value)
    if direct is not None:
        return direct
    match = _QUANTITY.match(text(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    try:
        return float(match.group(1)) * _SUFFIX[match.group(2)]
    except ValueError:
        return None
