"""Running the real engine (tools/engine/pulumi.sh) on a copy of the project, for the engine and cluster tests.

The engine is built by `make engine` (Go modules, cached); `make test` passes its bin directory as
MLOPS_ENGINE_BIN when it exists. Without it the tests that need it skip, except under
MLOPS_REQUIRE_ENGINE=1 (.ci/run), where a missing engine fails them. Each run works on its own copy
of the project, so the repository's build/ and stack files are never touched.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools.engine.project import copy_project, run
from tools.synthesis import ROOT

__all__ = ["copy_project", "describe", "require_engine", "run"]

ENGINE_BIN = os.environ.get("MLOPS_ENGINE_BIN", "")
REQUIRED = os.environ.get("MLOPS_REQUIRE_ENGINE") == "1"


def require_engine() -> str:
    """The engine's bin directory; skips (or, under MLOPS_REQUIRE_ENGINE=1, fails) when it is not built. With the
    engine built, a missing policy pack virtualenv fails: every preview and up runs the pack."""
    if not ENGINE_BIN or not (Path(ENGINE_BIN) / "pulumi").is_file():
        if REQUIRED:
            pytest.fail(f"MLOPS_REQUIRE_ENGINE=1 but no engine at MLOPS_ENGINE_BIN={ENGINE_BIN!r}; run make engine")
        pytest.skip("the engine is not built (make engine)")
    if not (ROOT / "policies" / ".venv" / "bin" / "python").exists():
        pytest.fail("the policy pack's virtualenv policies/.venv is missing; run make policy-env")
    return ENGINE_BIN


def describe(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-3000:]}"
