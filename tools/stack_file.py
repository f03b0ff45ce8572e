"""Reading a stack file as strictly as validation reads its values: every YAML problem is a config problem.

A syntax error is reported with file, line and column and one sentence of what to fix, never a parser
traceback; a key given twice in one mapping is an error (YAML keeps the last one silently); a number that
YAML 1.1 reads differently from how it looks (`044455556666` is octal, `1.30` is 1.3) must be quoted.
The Pulumi CLI's YAML parser reads those numbers the same way, so the rule holds for `pulumi up` too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mlops_platform.config import ConfigError
from mlops_platform.config.errors import ConfigIssue

_HINTS: tuple[tuple[str, str], ...] = (
    ("cannot start any token", "indent with spaces: YAML does not allow tabs"),
    ("expected ',' or '}'", "a '{' is not closed, or an item inside it lacks its comma"),
    ("expected ',' or ']'", "a '[' is not closed, or an item inside it lacks its comma"),
    ("mapping values are not allowed here", "a key is indented differently from its siblings, or a value holds an unquoted ': '"),
    ("expected <block end>", "a line is indented differently from the lines of its block"),
    ("found undefined alias", "an alias (*name) names no anchor (&name)"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("while scanning a quoted scalar", "a quoted string is not closed"),
)
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_LOSSY_FLOAT = re.compile(r"^[-+]?\d+\.\d*0$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys and numbers whose text YAML reads as another value."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[tuple[yaml.Mark, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                first = seen[key].start_mark.line + 1
                self.problems.append((key_node.start_mark, f"key '{key}' is given twice in this mapping (first on line {first})"))
            else:
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        value: int = super().construct_yaml_int(node)
        if node.style is None and _OCTAL.match(node.value):
            self.problems.append((node.start_mark, f'{node.value} reads as the octal number {value}: quote it ("{node.value}")'))
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value: float = super().construct_yaml_float(node)
        if node.style is None and _LOSSY_FLOAT.match(node.value):
            self.problems.append(
                (node.start_mark, f'{node.value} reads as the number {value:g}: quote it if it is a version ("{node.value}")')
            )
        return value


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)


def _where(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def load_stack_file(path: Path, stack: str) -> dict[str, Any]:
    """The stack file's top-level mapping, which holds a `config:` mapping; raises ConfigError otherwise."""
    shown = path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path
    loader = _StrictLoader(path.read_text())
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        problem = error.problem or str(error)
        hint = next((h for needle, h in _HINTS if needle in problem or needle in (error.context or "")), "")
        text = f"{problem}; {hint}" if hint else problem
        mark = error.problem_mark
        if error.context and error.context_mark is not None:
            # where the unclosed bracket, quote or block began says more than the end of the file does
            text += f" ({error.context} on line {error.context_mark.line + 1})"
            if "<stream end>" in problem or "end of stream" in problem:
                mark = error.context_mark
        raise ConfigError(stack, [ConfigIssue(_where(shown, mark), text)]) from None
    except yaml.YAMLError as error:
        raise ConfigError(stack, [ConfigIssue(str(shown), f"not YAML: {error}")]) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise ConfigError(stack, [ConfigIssue(_where(shown, mark), text) for mark, text in loader.problems])
    if data is None:
        raise ConfigError(stack, [ConfigIssue(str(shown), "the file is empty; expected a 'config:' mapping of the stack's settings")])
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        found = "no 'config' key" if isinstance(data, dict) and "config" not in data else "something else"
        raise ConfigError(
            stack, [ConfigIssue(str(shown), f"holds {found}; expected a top-level 'config:' mapping of the stack's settings")]
        )
    return data
