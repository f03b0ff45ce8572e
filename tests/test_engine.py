"""The real engine on the `local` stack: preview, up, a no-op second up, the manifests the real
Kubernetes provider rendered, a policy rejection and the stack outputs (how the engine is found and
run: tests/realengine.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.synthesis import ROOT, synthesize

from .realengine import copy_project, describe, require_engine, run


@pytest.fixture(scope="module")
def engine() -> str:
    return require_engine()


@pytest.fixture(scope="module")
def deployed(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """preview, up, up again and the outputs of the local stack, run once for the module."""
    project = copy_project(tmp_path_factory.mktemp("engine-project"))
    runs = {"preview": run(project, engine, "local", "preview")}
    runs["up"] = run(project, engine, "local", "up", "--yes", "--skip-preview")
    runs["up-again"] = run(project, engine, "local", "up", "--yes", "--expect-no-changes")
    runs["outputs"] = run(project, engine, "local", "stack", "output", "--json")
    yield {"project": project, **runs}


def test_preview_runs_the_program_and_the_policy_pack(deployed: dict[str, Any]) -> None:
    done = deployed["preview"]
    assert done.returncode == 0, describe(done)
    assert re.search(r"mlops-platform@v\d+\.\d+\.\d+", done.stdout), "the policy pack ran\n" + describe(done)
    assert re.search(r"\+ \d+ to create", done.stdout) and "kubernetes:apps/v1:Deployment" in done.stdout, describe(done)


def test_up_creates_the_stack_and_a_second_up_changes_nothing(deployed: dict[str, Any]) -> None:
    assert deployed["up"].returncode == 0, describe(deployed["up"])
    assert re.search(r"\+ \d+ created", deployed["up"].stdout), describe(deployed["up"])
    again = deployed["up-again"]
    assert again.returncode == 0, "--expect-no-changes failed: the second up would change something\n" + describe(again)
    assert re.search(r"\d+ unchanged", again.stdout) and "created" not in again.stdout, describe(again)


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Key order, numbers (the mocks see JSON numbers as floats) and what the provider adds on its own."""
    text = json.dumps(obj, sort_keys=True)
    data: dict[str, Any] = json.loads(text, parse_float=lambda v: int(float(v)) if float(v).is_integer() else float(v))
    metadata = data.get("metadata", {})
    for field in ("labels", "annotations"):
        values = {k: v for k, v in metadata.get(field, {}).items() if not k.startswith("pulumi.com/")}
        if values:
            metadata[field] = values
        else:
            metadata.pop(field, None)
    return data


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def test_rendered_manifests_are_the_objects_synth_produced(deployed: dict[str, Any]) -> None:
    assert deployed["up"].returncode == 0, describe(deployed["up"])
    rendered_dir = deployed["project"] / "build" / "engine" / "local"
    files = sorted(rendered_dir.rglob("*.yaml"))
    assert files, f"the provider rendered nothing into {rendered_dir}"
    rendered = {}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                rendered[_key(doc)] = _normalise(doc)
    synthesized = {_key(m): _normalise(m) for m in synthesize("local").manifests()}
    assert sorted(rendered) == sorted(synthesized), "the same objects (apiVersion, kind, namespace, name)"
    for key, obj in synthesized.items():
        assert rendered[key] == obj, f"{key} differs between the real provider and synth"


def test_outputs_are_the_documented_ones(deployed: dict[str, Any]) -> None:
    done = deployed["outputs"]
    assert done.returncode == 0, describe(done)
    outputs = json.loads(done.stdout)
    documented = documented_outputs()
    assert set(outputs) == documented - {"mlflow"}, "the local stack exports every documented output but mlflow (disabled)"
    assert outputs["environment"] == "dev"
    assert outputs["cloud"]["provider"] == "kubernetes"
    assert outputs["cluster"] == "render/build/engine/local"
    assert outputs["model_versions"] == {"fraud-detector": 7}
    assert outputs["model_releases"] == {"fraud-detector": "canary 10/25/50% every 60s, rollback after 5 failed checks"}


def documented_outputs() -> set[str]:
    """The output names of the README's "Stack outputs" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Stack outputs", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_a_stack_that_loosens_its_guardrails_is_stopped_by_the_policy_pack(engine: str, tmp_path: Path) -> None:
    """Config validation accepts per-stack guardrail overrides; the pack, configured from the
    environment alone, still holds a prod stack to prod's rules, through the real engine."""
    project = copy_project(tmp_path)
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["mlops-platform:environment"] = "prod"
    data["config"]["mlops-platform:guardrails"] = {"require_image_digest": False, "min_replicas": 1, "require_auth": True}
    (project / "stacks" / "Pulumi.local-unsafe.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    done = run(project, engine, "local-unsafe", "preview")
    assert done.returncode != 0, "the preview must fail\n" + describe(done)
    assert "mandatory" in done.stdout and "k8s-image-pinned" in done.stdout, describe(done)


def _go_mod_version(module_dir: str, module: str) -> str:
    text = (ROOT / "tools" / "engine" / module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, flags=re.MULTILINE)
    assert match, f"{module} is not required by tools/engine/{module_dir}/go.mod"
    return match.group(1)


def _pip_pin(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def test_engine_versions_match_the_python_packages() -> None:
    """The CLI and language host speak the `pulumi` package's protocol; the provider binary is the
    release the `pulumi-kubernetes` SDK was generated from."""
    assert _go_mod_version("cli", "github.com/pulumi/pulumi/pkg/v3") == "v" + _pip_pin("pulumi")
    assert _go_mod_version("cli", "github.com/pulumi/pulumi/sdk/v3") == "v" + _pip_pin("pulumi")
    assert _go_mod_version("kubernetes", "github.com/pulumi/pulumi-kubernetes/sdk/v4") == "v" + _pip_pin("pulumi-kubernetes")


def test_language_host_is_formatted_vetted_and_its_go_tests_pass(engine: str) -> None:
    """The language host is this repository's Go code: gofmt, go vet and its unit tests."""
    go = shutil.which("go")
    assert go, "go is on PATH wherever the engine was built (make test adds it)"
    engine_dir = ROOT / "tools" / "engine"
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    unformatted = subprocess.run(["gofmt", "-l", "cli", "kubernetes"], cwd=engine_dir, capture_output=True, text=True, check=True)
    assert unformatted.stdout == "", f"gofmt -w these files: {unformatted.stdout}"
    for command in (["go", "vet", "./cmd/..."], ["go", "test", "./cmd/..."]):
        done = subprocess.run(command, cwd=engine_dir / "cli", env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


def test_the_runner_refuses_deployed_stacks_and_config_overrides(engine: str, tmp_path: Path) -> None:
    """Only render-to-file stacks run offline, and never with config the pack config was not derived from."""
    project = copy_project(tmp_path)
    before = (project / "stacks" / "Pulumi.dev.yaml").read_text()
    done = run(project, engine, "dev", "preview")
    assert done.returncode == 2 and "neither renders to files" in done.stderr, describe(done)
    assert (project / "stacks" / "Pulumi.dev.yaml").read_text() == before, "the deployed stack's file is untouched"
    done = run(project, engine, "local", "preview", "--config", "mlops-platform:environment=prod")
    assert done.returncode == 2 and "config overrides are refused" in done.stderr, describe(done)


def test_engine_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make test installs it)"
    scripts = [*sorted(str(p) for p in (ROOT / "tools").glob("*/*.sh")), str(ROOT / ".ci" / "run")]
    done = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_synth_measures_the_config_exactly_as_the_engine_passes_it(engine: str, tmp_path: Path) -> None:
    """The size synth checks (tools/engine_limits.py) is the size of the PULUMI_CONFIG string the real engine
    started the program with, read inside the program."""
    from tools.bench_engine import install_probe, timed_command
    from tools.engine_limits import engine_config_bytes
    from tools.synthesis import read_stack_file

    project = copy_project(tmp_path)
    install_probe(project)
    measured = timed_command(project, engine, "local", "preview")["config_bytes"]
    assert measured == engine_config_bytes(read_stack_file("local", root=project).values)


def test_a_stack_config_over_the_limit_cannot_start_the_program_and_synth_says_so(engine: str, tmp_path: Path) -> None:
    """Past 128 KiB of config the engine fails before the program's first line; synth reports that as a config
    problem, with every other problem, before anything runs."""
    from tools.bench_engine import stack_file

    project = copy_project(tmp_path)
    path = project / "stacks" / "Pulumi.bench-500.yaml"
    path.write_text(yaml.safe_dump(stack_file(500), sort_keys=False))
    done = run(project, engine, "bench-500", "preview")
    assert done.returncode != 0 and "fork/exec" in done.stdout and "argument list too long" in done.stdout, describe(done)
    synth = subprocess.run(
        [sys.executable, "-m", "tools.synth", "bench-500", "--stack-file", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert synth.returncode == 2 and "argument list too long" in synth.stderr and "Traceback" not in synth.stderr, synth.stderr
