"""`make synth`: the files it writes, determinism, and clean failure on bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.synthesis import ROOT

from .conftest import STACKS, stack_values


def run_synth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.synth", *args], cwd=ROOT, capture_output=True, text=True)


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-azure"])
def test_two_runs_are_byte_identical(tmp_path, stack):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_synth(stack, "--out", str(first)).returncode == 0
    assert run_synth(stack, "--out", str(second)).returncode == 0
    assert tree(first / stack) == tree(second / stack)


@pytest.mark.parametrize("stack", STACKS)
def test_synth_writes_the_stack_artifacts(tmp_path, stack):
    done = run_synth(stack, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    out = tmp_path / stack
    resources = json.loads((out / "resources.json").read_text())
    assert resources == sorted(resources, key=lambda r: r["urn"])
    assert all({"urn", "type", "name", "parent", "inputs"} <= set(r) for r in resources)
    manifests = list((out / "manifests").rglob("*.yaml"))
    assert len(manifests) == sum(1 for r in resources if r["custom"] and r["type"].startswith("kubernetes:"))
    for path in manifests:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1 and {"apiVersion", "kind", "metadata"} <= set(docs[0])
    report = (out / "report.md").read_text()
    assert f"stack `{stack}`" in report and "## Resources by type" in report
    everything = b"".join(tree(out).values())
    assert b"synth-placeholder-secret" not in everything
    assert b"mock.invalid" not in everything  # the kubeconfig never leaves the secret


def test_default_stack_is_dev():
    done = run_synth("--help")
    assert "default dev" in done.stdout


def test_invalid_config_exits_2_with_every_problem_and_no_traceback(tmp_path):
    values = stack_values("dev")
    values["models"][0]["version"] = "latest"
    values["gpu_pools"][0]["max_nodes"] = 0
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"mlops-platform:{k}": v for k, v in values.items()}}))
    done = run_synth("broken", "--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "invalid configuration for stack 'broken'" in done.stderr
    assert "models[0].version" in done.stderr and "gpu_pools[0].max_nodes" in done.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_stack_is_a_clear_error():
    done = run_synth("nope")
    assert done.returncode == 2 and "no stack file" in done.stderr and "Traceback" not in done.stderr


def test_program_raises_run_error_without_traceback_under_the_engine(pulumi_mocks):
    """Under `pulumi up`, a config error is a RunError: the CLI prints its message, not a traceback."""
    import runpy

    import pulumi

    pulumi.runtime.set_all_config({"mlops-platform:environment": "qa"}, [])
    with pytest.raises(pulumi.RunError) as caught:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    assert 'environment: got "qa"' in str(caught.value)


def test_mandatory_policy_violation_fails_synth_with_policy_urn_and_fix(tmp_path):
    values = stack_values("prod")
    values["gpu_pools"][0]["capacity"] = "spot"
    values["guardrails"] = {"allow_spot": True}  # the config allows it; the prod policy pack does not
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"mlops-platform:{k}": v for k, v in values.items()}}))
    done = run_synth("prod", "--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    assert "mandatory policy violation" in done.stderr and "Traceback" not in done.stderr
    line = next(x for x in done.stderr.splitlines() if "[no-spot-gpu-pools]" in x)
    assert "aws:eks/nodeGroup:NodeGroup::mlops-gpu-a10g-serving-ng" in line and "Fix:" in line
    report = (tmp_path / "out" / "prod" / "report.md").read_text()
    assert "no-spot-gpu-pools" in report


def test_the_readme_lists_everything_synth_writes(tmp_path):
    """The README's table of `build/synth/<stack>/` names every file and folder the synthesis writes."""
    assert run_synth("prod", "--out", str(tmp_path)).returncode == 0
    written = sorted(p.name for p in (tmp_path / "prod").iterdir())
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| file | content |") : readme.index("An invalid configuration exits")]
    listed = {row.split("`")[1].split("/")[0] for row in table.splitlines() if row.startswith("| `")}
    assert sorted(listed) == written


def test_the_readme_example_request_sends_the_inputs_dev_declares():
    from tools.synthesis import synthesize

    (model,) = [m for m in synthesize("dev").config.models if m.name == "fraud-detector"]
    (tensor,) = model.inputs
    readme = (ROOT / "README.md").read_text()
    example = readme[readme.index("/v2/models/fraud-detector/infer") :][:400]
    assert f'\\"name\\": \\"{tensor.name}\\", \\"datatype\\": \\"{tensor.data_type}\\", \\"shape\\": [1, {tensor.dims[0]}]' in example
    assert f"[0.0] * {tensor.dims[0]}" in example
