"""Which stacks a change affects, for the CI matrices.

A changed ``stacks/Pulumi.<name>.yaml`` affects that stack; a change to the program or what it runs on
(``PROGRAM_PATHS``: ``__main__.py``, ``Pulumi.yaml``, ``components/``, ``policies/``, the requirement pins)
affects every stack; anything else (docs, tests, tools, workflows) affects none. ``--all`` (or no base, or a base of
all zeros, as GitHub sends for a new branch) selects every stack; ``--only <stack>`` just that one. A stack whose file the change deletes is
not listed: removing a stack is done by hand.

Prints one JSON object and, with ``--github-output FILE``, appends these step outputs to FILE:
``matrix`` (``{"include": [{"stack", "environment", "cloud", "budget", "region"}, ...]}``, stages in release order), ``stacks``
(a JSON list of names), ``any`` (``true``/``false``) and one JSON list of entries per environment
(``dev``, ``staging``, ``canary``, ``prod``).

Exit codes: 0; 2 bad input (unknown ref, not a git repository).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from .common import PROJECT, ReleaseError, git, repo_root, require_stack, resolve_commit, run_cli, stack_file, stack_names

PROGRAM_PATHS = ("__main__.py", "Pulumi.yaml", "requirements.txt", "constraints.txt", "components/", "policies/")
ENVIRONMENTS = ("dev", "staging", "canary", "prod")
_ZERO = "0" * 40


def changed_files(root: Path, base: str, head: str) -> list[str]:
    """Paths changed between the merge base of ``base`` and ``head``, and ``head``."""
    return sorted(set(git(root, "diff", "--name-only", "--no-renames", f"{base}...{head}").stdout.split("\n")) - {""})


def affected(paths: list[str], stacks: list[str]) -> list[str]:
    """The stacks the changed paths affect."""
    if any(p == prefix or (prefix.endswith("/") and p.startswith(prefix)) for p in paths for prefix in PROGRAM_PATHS):
        return list(stacks)
    return [s for s in stacks if stack_file(s) in paths]


def describe(root: Path, stack: str) -> dict[str, str]:
    """A matrix entry: the stack, its environment, cloud, monthly budget and region (for the policy pack), read from the stack
    file."""
    data = yaml.safe_load((root / stack_file(stack)).read_text()) or {}
    config = data.get("config") or {}

    def get(key: str) -> Any:
        return config.get(f"{PROJECT}:{key}", config.get(key))

    environment = get("environment")
    cloud = get("cloud").get("provider") if isinstance(get("cloud"), dict) else None
    budget = get("budget").get("gpu_monthly_usd") if isinstance(get("budget"), dict) else None
    if environment not in ENVIRONMENTS or cloud not in ("aws", "gcp", "azure") or not isinstance(budget, int | float):
        raise ReleaseError(
            f"{stack_file(stack)}: environment {environment!r}, cloud.provider {cloud!r} or budget.gpu_monthly_usd {budget!r} "
            "is missing or unknown"
        )
    region = get("cloud").get("region") or ""
    return {"stack": stack, "environment": str(environment), "cloud": str(cloud), "budget": f"{budget:g}", "region": str(region)}


def plan(root: Path, base: str | None, head: str, everything: bool, only: str | None = None) -> dict[str, Any]:
    """The affected stacks as matrix entries, in release order (environment, then name)."""
    root = repo_root(root)
    stacks = stack_names(root)
    if only is not None:
        require_stack(root, only)
        chosen = [only]
    elif everything or base is None or base == _ZERO:
        chosen = stacks
    else:
        chosen = affected(changed_files(root, resolve_commit(root, base), resolve_commit(root, head)), stacks)
    entries = sorted((describe(root, s) for s in chosen), key=lambda e: (ENVIRONMENTS.index(e["environment"]), e["stack"]))
    return {"include": entries, **{env: [e for e in entries if e["environment"] == env] for env in ENVIRONMENTS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="affected", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="base commit (pull request base, or the commit before a push)")
    parser.add_argument("--head", default="HEAD", help="head commit (default HEAD)")
    parser.add_argument("--all", action="store_true", help="every stack, whatever changed")
    parser.add_argument("--only", help="just this stack (the rollback workflow)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    parser.add_argument("--github-output", type=Path, help="append the step outputs to this file ($GITHUB_OUTPUT)")
    args = parser.parse_args(argv)

    def body() -> int:
        result = plan(args.root, args.base, args.head, args.all, args.only)
        print(json.dumps(result, sort_keys=True))
        if args.github_output is not None:
            outputs = {
                "matrix": json.dumps({"include": result["include"]}, sort_keys=True),
                "stacks": json.dumps([e["stack"] for e in result["include"]]),
                "any": "true" if result["include"] else "false",
                **{env: json.dumps(result[env], sort_keys=True) for env in ENVIRONMENTS},
            }
            with args.github_output.open("a") as handle:
                handle.writelines(f"{key}={value}\n" for key, value in outputs.items())
        return 0

    return run_cli("affected", body)


if __name__ == "__main__":
    sys.exit(main())
