"""The benchmark's scaling verdict rests on its exponent fit; check the fit on exact power laws."""

from __future__ import annotations

import pytest

from tools.bench_platforms import fit_exponent


def test_fit_exponent_recovers_exact_power_laws() -> None:
    sizes = [10, 100, 500]
    for scale, power in [(0.003, 1.0), (2e-6, 2.0), (0.5, 0.0), (0.01, 0.5)]:
        assert fit_exponent(sizes, [scale * n**power for n in sizes]) == pytest.approx(power, abs=1e-9)
    with pytest.raises(ValueError):
        fit_exponent([100, 100], [1.0, 2.0])  # one distinct size: no slope to fit


def test_generated_platform_config_is_valid():
    """The scaling series' generated models must pass the same validation as a stack file."""
    from mlops_platform.config import validate_platform
    from tools.bench_platforms import generated_config

    values, _ = generated_config(10).platform_inputs()
    platform, _ = validate_platform("bench", values, set(), allow_missing_secrets=True)
    assert len(platform.models) == 10


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 | marshal
import time:      2000 |       2500 |   pulumi_aws.ec2._inputs
import time:       500 |       3000 | pulumi_aws.ec2
import time:       700 |        700 |     nt
import time:      1000 |       1000 | components.config.base
"""


def test_import_seconds_sum_self_time_by_top_level_package() -> None:
    from tools.bench_profile import import_seconds, imported_modules

    seconds = import_seconds(IMPORTTIME)
    assert list(seconds) == ["pulumi_aws", "components", "nt", "marshal"]  # largest first
    assert seconds["pulumi_aws"] == pytest.approx(0.0025) and seconds["components"] == pytest.approx(0.001)
    assert imported_modules(IMPORTTIME) == ["marshal", "pulumi_aws.ec2._inputs", "pulumi_aws.ec2", "nt", "components.config.base"]


def test_synth_records_the_seconds_of_each_step(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from tools.synthesis import ROOT

    timings = tmp_path / "timings.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.synth", "local", "--out", str(tmp_path), "--timings", str(timings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    recorded = json.loads(timings.read_text())
    assert set(recorded["steps"]) == {"read", "validate", "program", "policy_pack", "write"}
    assert all(seconds > 0 for seconds in recorded["steps"].values()) and recorded["main_entered"] > 0


def test_the_engine_series_stacks_render_to_files_and_are_valid() -> None:
    """pulumi.sh runs only stacks that render to files; each generated one renders into its own folder."""
    import yaml

    from mlops_platform.config import validate_platform
    from tools.bench_engine import stack_file
    from tools.release.common import local_only
    from tools.synthesis import PROJECT

    data = stack_file(10)
    assert local_only(yaml.safe_dump(data))
    prefix = f"{PROJECT}:"
    values = {k[len(prefix) :]: v for k, v in data["config"].items()}
    platform, _ = validate_platform("bench-10", values, set(), allow_missing_secrets=True)
    assert len(platform.models) == 10 and platform.cluster.render_directory == "build/engine/bench-10"
    assert all(m.gpus_per_replica == 0 for m in platform.models)  # Kubernetes-only: no GPU pool to put them on


def test_the_probe_tells_the_program_from_the_other_python_processes(tmp_path) -> None:
    import json

    from tools.bench_engine import _program

    project = tmp_path / "project"
    probe = tmp_path / "probe.jsonl"
    lines = [
        {"argv": ["-c"], "wall": 0.03, "cpu": 0.04},
        {"argv": [str(project / "tools" / "engine" / "policy_config.py"), "local"], "wall": 0.3, "cpu": 0.3},
        {"argv": [str(project)], "wall": 4.2, "cpu": 1.3, "config_bytes": 1646},
    ]
    probe.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert _program(probe, project) == lines[2]
    probe.write_text(json.dumps(lines[0]) + "\n")
    assert _program(probe, project) is None  # no program line: the caller reports it rather than guessing


def test_the_program_freezes_the_import_heap_once_and_collects_less_often() -> None:
    """The garbage-collector setting the bench measured (prod synth 3.5 s -> 2.5 s) stays in the program."""
    import gc

    from tools.synthesis import synthesize

    synthesize("local")
    assert gc.get_threshold() == (100_000, 50, 100)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    synthesize("local")
    # once per process: a second run freezes nothing more (a frozen object the second run lets go of is freed all the
    # same, so the count may drop, never grow)
    assert 0 < gc.get_freeze_count() <= frozen
