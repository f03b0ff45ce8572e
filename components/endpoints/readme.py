"""Keeps the README's endpoint capability matrix generated from ``capabilities.MATRIX``, the table validation enforces.

Regenerate with ``python -m components.endpoints.readme``; a test fails while the README's copy is stale.
"""

from __future__ import annotations

from ..readme_blocks import README, with_block
from .capabilities import matrix_markdown

BEGIN = (
    "<!-- endpoint capability matrix: generated from components/endpoints/capabilities.py by `python -m components.endpoints.readme` -->"
)
END = "<!-- end of the generated endpoint capability matrix -->"


def with_matrix(readme: str) -> str:
    """The README text with the generated matrix between its markers, which must each appear exactly once."""
    return with_block(readme, BEGIN, END, matrix_markdown())


if __name__ == "__main__":
    README.write_text(with_matrix(README.read_text()))
