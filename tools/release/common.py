"""Shared pieces of the release commands: errors, git, stack files."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_platform.config.platform import PlatformConfig

PROJECT = "mlops-platform"
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ReleaseError(Exception):
    """Bad input or refused operation: printed as ``<command>: <message>``, exit status 2."""


def run_cli(command: str, body: Callable[[], int]) -> int:
    """Run a command body; a ReleaseError becomes one line on stderr and exit status 2 (never a traceback)."""
    try:
        return body()
    except ReleaseError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in ``root``; a failure (when ``check``) is a ReleaseError with git's own message."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise ReleaseError("git is not installed") from error
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise ReleaseError(f"git {' '.join(args)} failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done


def repo_root(start: Path) -> Path:
    """The top level of the git work tree containing ``start``."""
    if not start.is_dir():
        raise ReleaseError(f"{start} is not a directory")
    done = git(start, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise ReleaseError(f"{start} is not inside a git work tree")
    return Path(done.stdout.strip())


def require_clean_tree(root: Path) -> None:
    """Refuse to run when the work tree has uncommitted changes or untracked files (ignored files do not count)."""
    status = git(root, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    if status:
        shown = ", ".join(line[3:] for line in status[:5]) + (f" and {len(status) - 5} more" if len(status) > 5 else "")
        raise ReleaseError(f"the work tree has uncommitted changes ({shown}); commit or stash them first")


def resolve_commit(root: Path, ref: str) -> str:
    """The full commit SHA a ref names; a ReleaseError for anything that is not a commit."""
    if not ref or ref.startswith("-"):
        raise ReleaseError(f"invalid git ref {ref!r}")
    done = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0:
        raise ReleaseError(f"unknown git ref {ref!r}: not a commit in this repository")
    return done.stdout.strip()


def show_file(root: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``, or None when the file does not exist there."""
    done = git(root, "show", f"{commit}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None


def stack_file(stack: str) -> str:
    """The repository path of a stack's file."""
    return f"stacks/Pulumi.{stack}.yaml"


LOCAL_CLUSTER_DIR = "build/cluster/"
"""Where `make cluster-up` keeps the local control plane's state and kubeconfig."""


def local_only(stack_file_text: str) -> bool:
    """Whether a stack only ever reaches this machine: it renders to files (`cluster.source: render`) or
    deploys to the local control plane (a `kubeconfig_file` under build/cluster/). These are the offline
    engine's stacks, which the engine and cluster tests run and no release workflow deploys."""
    import yaml

    data = yaml.safe_load(stack_file_text) or {}
    cluster = (data.get("config") or {}).get(f"{PROJECT}:cluster")
    if not isinstance(cluster, dict):
        return False
    if cluster.get("source") == "render":
        return True
    path = cluster.get("kubeconfig_path")
    return cluster.get("source") == "kubeconfig_file" and isinstance(path, str) and path.startswith(LOCAL_CLUSTER_DIR) and ".." not in path


def local_cluster_issue(project: Path, stack_file_text: str) -> str | None:
    """Why a local-control-plane stack cannot run now, or None: its kubeconfig must exist and name only
    API servers on 127.0.0.1 (a copied or linked kubeconfig under build/cluster/ could reach a real cluster)."""
    import yaml

    data = yaml.safe_load(stack_file_text) or {}
    cluster = (data.get("config") or {}).get(f"{PROJECT}:cluster") or {}
    if cluster.get("source") != "kubeconfig_file":
        return None
    path = project / cluster["kubeconfig_path"]
    if not path.is_file():
        return f"{cluster['kubeconfig_path']} does not exist: start the local control plane first (make cluster-up STACK=<stack>)"
    servers = [c.get("cluster", {}).get("server", "") for c in (yaml.safe_load(path.read_text()) or {}).get("clusters", [])]
    if not servers or not all(re.match(r"^https://127\.0\.0\.1:\d+$", server) for server in servers):
        return f"{cluster['kubeconfig_path']} names API servers other than the local control plane's: {', '.join(servers) or 'none'}"
    return None


def stack_names(root: Path) -> list[str]:
    """The deployed stacks of the work tree, from ``stacks/Pulumi.<name>.yaml``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml") if not local_only(p.read_text()))


def stacks_at(root: Path, commit: str) -> list[str]:
    """The deployed stacks at a commit."""
    listing = git(root, "ls-tree", "--name-only", commit, "stacks/").stdout.split()
    files = [n for n in listing if n.startswith("stacks/Pulumi.") and n.endswith(".yaml")]
    return sorted(n[len("stacks/Pulumi.") : -len(".yaml")] for n in files if not local_only(git(root, "show", f"{commit}:{n}").stdout))


def require_stack(root: Path, stack: str) -> None:
    """Refuse a malformed stack name or one without a stack file in the work tree."""
    known = stack_names(root)
    if not STACK_NAME.match(stack or "") or stack not in known:
        raise ReleaseError(f"unknown stack {stack!r}; stacks: {', '.join(known) or '(none)'}")


def platform_config(stack: str, text: str, context: str) -> PlatformConfig:
    """A stack file's text validated by the project's own loader; a ReleaseError (``context``: every problem) if invalid.

    Secrets the file names but does not hold are allowed (they live in the Pulumi backend, not in git).
    """
    from mlops_platform.config import ConfigError
    from mlops_platform.config.loader import validate_platform
    from tools.synthesis import read_stack_file

    with tempfile.TemporaryDirectory(prefix="release-config-") as tmp:
        path = Path(tmp) / f"Pulumi.{stack}.yaml"
        path.write_text(text)
        config = read_stack_file(stack, path=path)
    values, secrets = config.platform_inputs()
    try:
        platform, _ = validate_platform(stack, values, secrets, allow_missing_secrets=True)
    except ConfigError as error:
        raise ReleaseError(f"{context}:\n{error}") from None
    return platform
