"""Test harness: fresh Pulumi mocks per test, and helpers to synthesize stacks from edited config."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import settings

from mlops_platform.testing import PlatformMocks, RecordingMonitor
from tools.synthesis import PROJECT, ROOT, StackConfig, Synthesis, stack_names, synthesize

STACKS = stack_names()
"""Every stack file under stacks/: the shipped ones and any a team adds; each must pass the generic checks."""
SHIPPED_STACKS = ("dev", "staging", "canary", "prod", "prod-azure", "prod-gcp", "local", "kwok")
"""The stacks this repository ships, deployed ones in release order: tests about these name this set, so a team's
own stack file beside them changes no expectation."""


def shipped_stack_files(directory: str, names: list[str]) -> list[str]:
    """A `shutil.copytree` ignore that leaves out every stack file but the shipped ones."""
    return [n for n in names if n.startswith("Pulumi.") and n.endswith(".yaml") and n[len("Pulumi.") : -len(".yaml")] not in SHIPPED_STACKS]


def stack_values(stack: str) -> dict[str, Any]:
    """The project-namespace config of a shipped stack file, as plain data (keys without namespace)."""
    data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: copy.deepcopy(v) for k, v in data["config"].items() if k.startswith(f"{PROJECT}:")}


def as_stack_config(values: dict[str, Any], secrets: dict[str, str] | None = None) -> StackConfig:
    """Project config values (and secret values) in the form the engine passes them."""
    flat = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    flat.update({f"{PROJECT}:{k}": v for k, v in (secrets or {}).items()})
    return StackConfig(values=flat, secret_keys=sorted(f"{PROJECT}:{k}" for k in secrets or {}))


def synth_values(values: dict[str, Any], stack: str = "test", secrets: dict[str, str] | None = None) -> Synthesis:
    """Synthesize the real program with the given config."""
    return synthesize(stack, as_stack_config(values, secrets))


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMonitor]:
    """Fresh mocks and a recording monitor for one test (never installed at module level)."""
    settings.ROOT.set(None)
    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="unit", monitor=monitor, preview=False)
    pulumi.runtime.set_all_config({}, [])
    yield monitor


@pytest.fixture
def run_pulumi() -> Callable[[Callable[[], Any]], None]:
    """Run a function that declares resources and wait for every registration."""

    def run(fn: Callable[[], Any]) -> None:
        pulumi.runtime.test(fn)()

    return run


@pytest.fixture(scope="session")
def shipped() -> dict[str, Synthesis]:
    """Every shipped stack, synthesized once per test session."""
    return {stack: synthesize(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built from this checkout as `make dist` builds it (no network: setuptools is pinned here)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("mlops_platform-*.whl")
    return found


def run_tests_against_the_wheel(wheel: Path, directory: Path, venv: Path, *tests: str) -> subprocess.CompletedProcess[str]:
    """pytest in ``directory`` by a fresh virtualenv that has only the wheel installed: the package comes from the wheel,
    its dependencies from this repository's pinned environment (on PYTHONPATH; no download). Fails unless the tests pass."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": sysconfig.get_paths()["purelib"], "HOME": str(venv.parent)}
    where = subprocess.run(
        [str(python), "-c", "import mlops_platform; print(mlops_platform.__file__)"], cwd=directory, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=directory, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done
