"""Blocks of the README generated from code: replaced between a begin and an end marker line."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def with_block(readme: str, begin: str, end: str, body: str) -> str:
    """``readme`` with ``body`` between its markers, which must each appear exactly once, begin first."""
    if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
        raise ValueError(f"{README.name} needs one '{begin}' line followed by one '{end}' line")
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}{end}{tail}"
