"""Every example under examples/ is a project of its own (Pulumi.yaml, README, requirements naming the package's
extra, a test) and its test passes from a fresh virtualenv that has only the wheel of this checkout installed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import run_tests_against_the_wheel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/Pulumi.yaml"))
EXTRA = {"eks-gpu-serving": "aws", "gke-gpu-mlflow": "gcp", "eks-cluster-in-program": "aws"}


def test_the_three_examples_are_there():
    assert sorted(p.name for p in EXAMPLES) == sorted(EXTRA)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_is_a_project(example: Path):
    project = yaml.safe_load((example / "Pulumi.yaml").read_text())
    assert project["name"] == example.name and project["runtime"]["name"] == "python"
    assert f"mlops-platform[{EXTRA[example.name]}]" in (example / "requirements.txt").read_text()
    readme = (example / "README.md").read_text()
    assert readme.startswith("# Example: ") and "pytest test_example.py" in readme


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_passes_its_tests_from_the_wheel(example: Path, wheel: Path, tmp_path: Path):
    done = run_tests_against_the_wheel(wheel, example, tmp_path / "venv", "test_example.py")
    assert done.stdout.count(".") >= 1 and "F" not in done.stdout.split("[")[0]
