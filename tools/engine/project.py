"""A copy of the project to run the real engine on (tools/engine/pulumi.sh), for the tests and the bench.

Each run works on its own copy, so the repository's build/ and stack files are never touched; the
copy shares the repository's virtualenvs: the program's (.venv) and the policy pack's (policies/.venv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from tools.synthesis import ROOT

COPIED = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "mlops_platform", "policies", "stacks", "tools")
VENVS = (".venv", "policies/.venv")
"""The program's virtualenv and the policy pack's (policies/PulumiPolicy.yaml; make policy-env builds it)."""
# The engine's and the control plane's Go sources stay behind: the callers pass the built binaries; the
# virtualenvs are linked, not copied.
IGNORED = shutil.ignore_patterns("node_modules", "__pycache__", "*-embed.json", "go.mod", "go.sum", "*.go", ".venv")


def copy_paths(names: Iterable[str], dest: Path, ignore: Callable[[str, list[str]], Iterable[str]]) -> None:
    """Copy each of the repository's top-level ``names`` (files or folders) into ``dest``."""
    for name in names:
        src = ROOT / name
        if src.is_symlink():  # mlops_platform -> components: the copy links to its own copy
            (dest / name).symlink_to(src.readlink())
        elif src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


def copy_project(dest: Path) -> Path:
    """A copy of the project in ``dest`` that shares the repository's virtualenvs."""
    copy_paths(COPIED, dest, IGNORED)
    for venv in VENVS:
        (dest / venv).symlink_to(ROOT / venv)
    return dest


def run(
    project: Path, engine: str, stack: str, *args: str, timeout: int = 900, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """tools/engine/pulumi.sh in ``project`` with the engine in ``engine``; the output is kept for messages."""
    environment = {**os.environ, **(env or {}), "MLOPS_PROJECT_DIR": str(project), "MLOPS_ENGINE_BIN": engine}
    return subprocess.run(
        [str(project / "tools" / "engine" / "pulumi.sh"), stack, *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
