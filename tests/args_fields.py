"""The types the fields of component args name, walked through the dataclasses they hold: for the tests that check what
a component's args may be typed with (no provider, no section of the stack's config tree)."""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Iterable, Iterator
from typing import Any


def named_types(annotation: Any) -> Iterator[Any]:
    """The annotation and every type it names (Union, Optional, list, dict, Input arguments), recursively."""
    yield annotation
    for argument in typing.get_args(annotation):
        yield from named_types(argument)


def field_types(roots: Iterable[type]) -> Iterator[tuple[type, str, Any]]:
    """(dataclass, field name, a type its annotation names) for every field of ``roots`` and of every dataclass a field
    names, each dataclass once. A ``typing.ForwardRef`` is a name the annotation left unresolved (pulumi.Input's own)."""
    todo = list(roots)
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        module = vars(sys.modules[cls.__module__])
        for field in dataclasses.fields(cls):
            # the annotation as the module names it (`from __future__ import annotations` keeps it a string)
            annotation = eval(field.type, module) if isinstance(field.type, str) else field.type
            for named in named_types(annotation):
                yield cls, field.name, named
                if isinstance(named, type) and dataclasses.is_dataclass(named):
                    todo.append(named)
