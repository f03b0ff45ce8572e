"""Keeps the README's cold-start table generated from ``components.catalog.coldstart.PHASES``.

Regenerate with ``python -m tools.coldstart_readme``; a test fails while the README's copy is stale.
"""

from __future__ import annotations

from mlops_platform.catalog.coldstart import MODEL_LOAD_SOURCE, PHASES, READ_ON

from .readme_blocks import README, with_block

BEGIN = "<!-- cold-start budget: generated from components/catalog/coldstart.py by `python -m tools.coldstart_readme` -->"
END = "<!-- end of the generated cold-start budget -->"


def budget_markdown() -> str:
    """The README's table of cold-start phases per cloud."""
    lines = [
        "| cloud | phase | up to | source |",
        "|---|---|---:|---|",
    ]
    for p in PHASES:
        lines.append(f"| {p.cloud} | {p.phase} | {p.seconds // 60} min | [{p.basis}]({p.source}) |")
    load = f"[seconds to over 12 minutes by backend]({MODEL_LOAD_SOURCE})"
    lines.append(f"| any | model download and load | the model's `load_timeout_seconds` | {load} |")
    lines.append("")
    lines.append(f"Figures read {READ_ON}, not measured by this project.")
    return "\n".join(lines) + "\n"


def with_budget(readme: str) -> str:
    """The README text with the generated table between its markers, which must each appear exactly once."""
    return with_block(readme, BEGIN, END, budget_markdown())


if __name__ == "__main__":
    README.write_text(with_budget(README.read_text()))
