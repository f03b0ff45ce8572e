"""Keeps the README's cold-start table generated from ``components.catalog.coldstart.PHASES``.

Regenerate with ``python -m tools.coldstart_readme``; a test fails while the README's copy is stale.
"""

from __future__ import annotations

from components.catalog.coldstart import budget_markdown
from components.readme_blocks import README, with_block

BEGIN = "<!-- cold-start budget: generated from components/catalog/coldstart.py by `python -m tools.coldstart_readme` -->"
END = "<!-- end of the generated cold-start budget -->"


def with_budget(readme: str) -> str:
    """The README text with the generated table between its markers, which must each appear exactly once."""
    return with_block(readme, BEGIN, END, budget_markdown())


if __name__ == "__main__":
    README.write_text(with_budget(README.read_text()))
