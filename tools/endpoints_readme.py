"""Keeps the README's endpoint capability matrix generated from ``components/catalog/endpoint_capabilities.py``, the
table validation enforces. Regenerate with ``python -m tools.endpoints_readme``; a test fails while the README's copy
is stale.
"""

from __future__ import annotations

from mlops_platform.catalog.endpoint_capabilities import AUTOSCALING_HOW, CLOUDS, FEATURES, MATRIX, SERVICES

from .readme_blocks import README, with_block

BEGIN = (
    "<!-- endpoint capability matrix: generated from components/catalog/endpoint_capabilities.py by `python -m tools.endpoints_readme` -->"
)
END = "<!-- end of the generated endpoint capability matrix -->"


def matrix_markdown() -> str:
    """The README's capability matrix, generated from MATRIX."""
    lines = ["| | " + " | ".join(f"{SERVICES[c]} ({c})" for c in CLOUDS) + " |", "|---|" + "---|" * len(CLOUDS)]
    for key, title in FEATURES.items():
        cells = []
        for cloud in CLOUDS:
            s = MATRIX[cloud][key]
            cells.append(f"yes: {s.how}" if s.supported else f"**no**: {s.how}; use {s.instead}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("| autoscaling | " + " | ".join(AUTOSCALING_HOW[c] for c in CLOUDS) + " |")
    return "\n".join(lines) + "\n"


def with_matrix(readme: str) -> str:
    """The README text with the generated matrix between its markers, which must each appear exactly once."""
    return with_block(readme, BEGIN, END, matrix_markdown())


if __name__ == "__main__":
    README.write_text(with_matrix(README.read_text()))
