"""`make promote FROM=<stack> TO=<stack>`: copy the source stack's pinned model versions into the target stack file.

Only pinned versions change (see ``tools.release.pins``): each model's ``version`` and each managed
endpoint's ``model_uri``/``image`` present in both stacks, and the endpoint's ``canary`` candidate mirrored
from the source. A model's ``release`` block stays the target's own: the new ``version`` reaches the target's
traffic the way the target releases it (Flagger). Comments and formatting of the target file are kept.
Refuses a dirty work tree, an unknown stack, the same stack twice and a rewrite the config loader would
reject. Nothing is committed: review the change with ``git diff``, commit it and open a pull request, whose
merge deploys it through the release flow.

Exit codes: 0 written (or nothing to change); 2 refused, with the reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ReleaseError, repo_root, require_clean_tree, require_stack, run_cli, stack_file
from .pins import copy_pins, write_pins


def promote(root: Path, source: str, target: str) -> list[str]:
    """Rewrite the target stack file; returns the lines to print."""
    root = repo_root(root)
    require_clean_tree(root)
    require_stack(root, source)
    require_stack(root, target)
    if source == target:
        raise ReleaseError(f"FROM and TO are both {source!r}; promote copies versions from one stack to another")
    path = root / stack_file(target)
    result = copy_pins(path.read_text(), (root / stack_file(source)).read_text(), source, target)
    return write_pins(
        "promote",
        f"promote: {source} -> {target} ({stack_file(target)})",
        path,
        target,
        result,
        unchanged=f"{target} already pins the versions of {source}",
        next_steps="review with `git diff`, commit, open a pull request",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promote", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="stack to copy the pinned versions from (e.g. canary)")
    parser.add_argument("--to", dest="target", required=True, help="stack whose file is rewritten (e.g. prod)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    args = parser.parse_args(argv)

    def body() -> int:
        print("\n".join(promote(args.root, args.source, args.target)))
        return 0

    return run_cli("promote", body)


if __name__ == "__main__":
    sys.exit(main())
