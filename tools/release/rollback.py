"""`make rollback STACK=<stack> TO=<git ref>`: restore a stack's pinned model versions from an earlier commit.

The stack file as it was at ``TO`` is the source and the work tree's stack file the target of the same
rewrite as ``promote`` (see ``tools.release.pins``): every model's ``version``, every managed endpoint's
``model_uri``/``image`` and the endpoints' ``canary`` candidates go back to what that commit pinned; everything else in
the file (capacity, the models' ``release`` blocks, alerting, comments) stays as it is now, so the restored
``version`` is released by Flagger the way the stack releases any version. Refuses a dirty work tree, an unknown stack, a ref
that is not a commit, a commit without that stack file and a rewrite the config loader would reject.

The rollback workflow runs this on main, applies the result with ``pulumi up`` and opens a pull request
with the rewritten file so that main keeps describing what runs.

Exit codes: 0 written (or nothing to change); 2 refused, with the reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ReleaseError, git, repo_root, require_clean_tree, require_stack, resolve_commit, run_cli, show_file, stack_file
from .pins import copy_pins, write_pins


def rollback(root: Path, stack: str, ref: str) -> list[str]:
    """Rewrite the stack file with the versions pinned at ``ref``; returns the lines to print."""
    root = repo_root(root)
    require_clean_tree(root)
    require_stack(root, stack)
    commit = resolve_commit(root, ref)
    old = show_file(root, commit, stack_file(stack))
    if old is None:
        raise ReleaseError(f"stack {stack!r} has no stack file at {ref} ({commit[:12]})")
    subject = git(root, "log", "-1", "--format=%s", commit).stdout.strip()
    label = f"{stack}@{commit[:12]}"
    path = root / stack_file(stack)
    result = copy_pins(path.read_text(), old, label, stack)
    return write_pins(
        "rollback",
        f"rollback: {stack} to the versions pinned at {ref} ({commit[:12]} {subject}) ({stack_file(stack)})",
        path,
        stack,
        result,
        unchanged=f"{stack} already pins the versions of {commit[:12]}",
        next_steps="apply with `pulumi up`, commit, open a pull request",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="stack to roll back (e.g. prod)")
    parser.add_argument("--to", dest="ref", required=True, help="git ref (commit, tag, branch) whose pinned versions to restore")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    args = parser.parse_args(argv)

    def body() -> int:
        print("\n".join(rollback(args.root, args.stack, args.ref)))
        return 0

    return run_cli("rollback", body)


if __name__ == "__main__":
    sys.exit(main())
