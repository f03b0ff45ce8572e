"""Keeps the README's endpoint capability matrix generated from ``capabilities.MATRIX``, the table validation enforces.

Regenerate with ``python -m components.endpoints.readme``; a test fails while the README's copy is stale.
"""

from __future__ import annotations

from pathlib import Path

from .capabilities import matrix_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = (
    "<!-- endpoint capability matrix: generated from components/endpoints/capabilities.py by `python -m components.endpoints.readme` -->"
)
END = "<!-- end of the generated endpoint capability matrix -->"


def with_matrix(readme: str) -> str:
    """The README text with the generated matrix between its markers, which must each appear exactly once."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"{README.name} needs one '{BEGIN}' line followed by one '{END}' line")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{matrix_markdown()}{END}{tail}"


if __name__ == "__main__":
    README.write_text(with_matrix(README.read_text()))
