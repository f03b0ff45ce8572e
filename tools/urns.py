"""The resource URNs of every shipped stack, committed under tests/urns/ so a change to any of them is reviewed.

A URN that changes is a delete and a create in every stack that has the resource (a replacement for stateful
ones). ``tests/test_urns.py`` fails on any difference; a resource moved on purpose keeps its old URN as an alias
(``pulumi.ResourceOptions(aliases=[...])``), which the test accepts. ``python -m tools.urns`` rewrites the files
after a reviewed change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .synthesis import ROOT, stack_names, synthesize

URNS = ROOT / "tests" / "urns"


def stack_urns(stack: str) -> tuple[list[str], set[str]]:
    """The stack's URNs (sorted) and the old URNs its resources name as aliases."""
    records = synthesize(stack).records
    return sorted(r["urn"] for r in records), {alias for r in records for alias in r.get("aliases", [])}


def urn_file(stack: str) -> Path:
    return URNS / f"{stack}.txt"


def main() -> int:
    URNS.mkdir(parents=True, exist_ok=True)
    for stack in stack_names():
        urns, _ = stack_urns(stack)
        urn_file(stack).write_text("\n".join(urns) + "\n")
        print(f"{urn_file(stack).relative_to(ROOT)}: {len(urns)} URNs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
