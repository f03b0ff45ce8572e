"""Running the real engine (tools/engine/pulumi.sh) on a copy of the project, for the engine and cluster tests.

The engine is built by `make engine` (Go modules, cached); `make test` passes its bin directory as
MLOPS_ENGINE_BIN when it exists. Without it the tests that need it skip, except under
MLOPS_REQUIRE_ENGINE=1 (.ci/run), where a missing engine fails them. Each run works on its own copy
of the project, so the repository's build/ and stack files are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.synthesis import ROOT

ENGINE_BIN = os.environ.get("MLOPS_ENGINE_BIN", "")
REQUIRED = os.environ.get("MLOPS_REQUIRE_ENGINE") == "1"
COPIED = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "policies", "stacks", "tools")
# The engine's and the control plane's Go sources stay behind: the tests pass the built binaries.
IGNORED = shutil.ignore_patterns("node_modules", "__pycache__", "*-embed.json", "go.mod", "go.sum", "*.go")


def require_engine() -> str:
    """The engine's bin directory; skips (or, under MLOPS_REQUIRE_ENGINE=1, fails) when it is not built."""
    if not ENGINE_BIN or not (Path(ENGINE_BIN) / "pulumi").is_file():
        if REQUIRED:
            pytest.fail(f"MLOPS_REQUIRE_ENGINE=1 but no engine at MLOPS_ENGINE_BIN={ENGINE_BIN!r}; run make engine")
        pytest.skip("the engine is not built (make engine)")
    return ENGINE_BIN


def copy_project(dest: Path) -> Path:
    """A copy of the project that shares the repository's virtualenv."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def run(project: Path, engine: str, stack: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """tools/engine/pulumi.sh in ``project``; the output is kept for assertion messages."""
    env = {**os.environ, "MLOPS_PROJECT_DIR": str(project), "MLOPS_ENGINE_BIN": engine}
    return subprocess.run(
        [str(project / "tools" / "engine" / "pulumi.sh"), stack, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-3000:]}"
