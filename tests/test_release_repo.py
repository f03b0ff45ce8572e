"""Real temporary git repositories holding a copy of the project, for the release command tests; and tests of the shared git checks.

``make_repo`` copies what the program, the synthesis and the release commands need (program, components,
tools, policies, stacks, the Makefile with the release targets of ``MAKE_TARGETS`` appended, the
requirement files) into a new repository and commits it. The commands run there as subprocesses, with this
virtualenv's interpreter, exactly as ``make`` runs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.engine.project import copy_paths
from tools.release.common import ReleaseError, require_clean_tree, resolve_commit, stack_names, stacks_at
from tools.synthesis import ROOT

from .conftest import shipped_stack_files

PY = sys.executable

MAKE_TARGETS = """
.PHONY: diff promote rollback

## diff: review text of STACK between the git ref BASE and the work tree (resources, policies, cost)
diff: $(STAMP)
\t@test -n "$(BASE)" || { echo "make diff: BASE=<git ref> is required" >&2; exit 2; }
\t$(PY) -m tools.release.diff --base "$(BASE)" --stack "$(STACK)"

## promote: copy the pinned model versions of stack FROM into stack TO's file (e.g. FROM=canary TO=prod)
promote: $(STAMP)
\t@test -n "$(FROM)" -a -n "$(TO)" || { echo "make promote: FROM=<stack> TO=<stack> are required" >&2; exit 2; }
\t$(PY) -m tools.release.promote --from "$(FROM)" --to "$(TO)"

## rollback: restore STACK's pinned model versions from the git ref TO
rollback: $(STAMP)
\t@case "$(origin STACK)" in "command line"|environment) ;; *) echo "make rollback: STACK=<stack> is required" >&2; exit 2;; esac
\t@test -n "$(TO)" || { echo "make rollback: TO=<git ref> is required" >&2; exit 2; }
\t$(PY) -m tools.release.rollback --stack "$(STACK)" --to "$(TO)"
"""
"""The Makefile targets the integration adds (verbatim), tested here through a copy of the Makefile."""

COPIED = (
    "__main__.py",
    "Pulumi.yaml",
    ".gitignore",
    "requirements.txt",
    "requirements-dev.txt",
    "constraints.txt",
    "components",
    "mlops_platform",
    "tools",
    "stacks",
    "policies",
)
_COMMON = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", "node_modules", "build")


def _IGNORE(directory: str, names: list[str]) -> list[str]:  # noqa: N802 - a copytree ignore, used like ignore_patterns
    """Build outputs, and every stack file but the shipped ones (a team's own stack changes no expectation here)."""
    return [*_COMMON(directory, names), *(shipped_stack_files(directory, names) if directory.endswith("stacks") else [])]


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release@example.invalid",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    """Run git in the test repository; fails the test on error."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def commit(repo: Path, message: str) -> str:
    """Commit everything; returns the new commit's SHA."""
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: Path) -> Path:
    """A new repository at ``path`` holding the project copy, committed once ("initial")."""
    path.mkdir(parents=True)
    copy_paths(COPIED, path, _IGNORE)
    makefile = (ROOT / "Makefile").read_text()
    # Until the Makefile carries the release targets, the copy gets them from MAKE_TARGETS; then the real ones are tested.
    (path / "Makefile").write_text(makefile if "tools.release.diff" in makefile else makefile + MAKE_TARGETS)
    git(path, "init", "--quiet", "--initial-branch=main")
    commit(path, "initial")
    # The Makefile's install stamp, newer than the requirement files: make uses PY below and installs nothing.
    (path / ".venv").mkdir()
    (path / ".venv" / ".installed").touch()
    return path


def run(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A release command (``tools.release.<name> args``) run in the repository as make runs it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([PY, "-m", *argv], cwd=repo, capture_output=True, text=True, env=env, check=False)


def make(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``make -s <target> VAR=...`` in the repository, with this virtualenv's interpreter as PY."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAKEFLAGS", "STACK")}
    return subprocess.run(
        ["make", "-s", "--no-print-directory", f"PY={PY}", *argv], cwd=repo, capture_output=True, text=True, env=env, check=False
    )


def assert_refused(done: subprocess.CompletedProcess[str], command: str, *fragments: str) -> None:
    """Exit status 2, one clear message naming the command, no traceback."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"{command}: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with only stack files (enough for the git checks)."""
    repo = tmp_path_factory.mktemp("small") / "repo"
    (repo / "stacks").mkdir(parents=True)
    for stack in ("dev", "prod"):
        shutil.copy2(ROOT / "stacks" / f"Pulumi.{stack}.yaml", repo / "stacks")
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "initial")
    return repo


def test_clean_tree_check_sees_modified_and_untracked_files(small_repo: Path) -> None:
    require_clean_tree(small_repo)
    (small_repo / "notes.txt").write_text("draft\n")
    with pytest.raises(ReleaseError, match=r"uncommitted changes \(notes.txt\)"):
        require_clean_tree(small_repo)
    (small_repo / "notes.txt").unlink()
    stack = small_repo / "stacks" / "Pulumi.dev.yaml"
    original = stack.read_text()
    stack.write_text(original + "# edited\n")
    with pytest.raises(ReleaseError, match=r"stacks/Pulumi.dev.yaml"):
        require_clean_tree(small_repo)
    stack.write_text(original)
    require_clean_tree(small_repo)


def test_refs_and_stacks(small_repo: Path) -> None:
    head = resolve_commit(small_repo, "HEAD")
    assert len(head) == 40 and resolve_commit(small_repo, "main") == head
    for bad in ("no-such-branch", "--all", "", "HEAD~5"):
        with pytest.raises(ReleaseError, match="git ref"):
            resolve_commit(small_repo, bad)
    assert stack_names(small_repo) == ["dev", "prod"] == stacks_at(small_repo, head)
