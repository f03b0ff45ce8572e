"""The real engine's side of `make bench`: `pulumi preview` and `pulumi up` timed end to end.

Runs tools/engine/pulumi.sh (the engine `make engine` builds, the policy pack, file state) on a copy of
the project: the shipped `local` stack and Kubernetes-only platforms of 10, 100 and 200 generated models
on the same base, all rendering to files. 500 would pass PULUMI_CONFIG's limit (tools/engine_limits.py);
400 fit, but its `up` ran engine-bound for over 20 minutes before it was stopped (README, Benchmarks).
Each command's wall time is split into the program's CPU time
(measured inside the Python program's process by a probe) and the rest: the CLI, the Kubernetes provider,
the policy pack, the state, pulumi.sh's checks and the waits between them. The program's own wall time
is kept beside it; it includes the program waiting for the engine's answers, so it is not the program's
cost. An exponent is fitted to the generated sizes as in the mocks' scaling series.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .bench_platforms import fit_exponent, generated_config
from .engine.project import copy_project, run
from .engine_limits import engine_config_bytes
from .synthesis import PROJECT, ROOT, read_stack_file

BASE_STACK = "local"
ENGINE_SIZES = (10, 100, 200)
"""The mocks' series goes to 500; about 435 generated models fill the 128 KiB the engine can pass the program."""
TIMEOUT_SECONDS = 1800

# Imported by every Python process the command starts (PYTHONPATH), the program among them; writes one
# line per process that exits normally (the engine stops the policy pack's, which writes none). Its start
# is the moment `site` runs, a few milliseconds after exec.
PROBE = """\
import atexit, json, os, sys, time
_started = time.time()


def _record():
    with open(os.environ["MLOPS_BENCH_PROBE"], "a") as out:
        config = len(("PULUMI_CONFIG=" + os.environ.get("PULUMI_CONFIG", "")).encode()) + 1
        line = {"argv": sys.argv, "wall": time.time() - _started, "cpu": time.process_time(), "config_bytes": config}
        out.write(json.dumps(line) + "\\n")


if os.environ.get("MLOPS_BENCH_PROBE"):
    atexit.register(_record)
"""


def engine_bin() -> str | None:
    """The bin directory of a built engine, or None (make engine builds it)."""
    done = subprocess.run([str(ROOT / "tools" / "engine" / "build.sh"), "--cached"], capture_output=True, text=True, check=False)
    found = done.stdout.strip().splitlines()
    return found[-1] if done.returncode == 0 and found else None


def stack_file(models: int) -> dict[str, Any]:
    """A stack file of the base stack with ``models`` generated models, rendering to its own directory."""
    values = generated_config(models, base=BASE_STACK).decoded()
    cluster = values[f"{PROJECT}:cluster"]
    cluster["render_directory"] = f"build/engine/bench-{models}"
    return {"config": values}


def _program(probe: Path, project: Path) -> dict[str, Any] | None:
    """The probe's line of the program (wall and CPU seconds, config bytes): the runner leaves the program's
    directory as its only argument (the policy pack's is policies/, the helpers' are scripts)."""
    lines = [json.loads(line) for line in probe.read_text().splitlines()] if probe.exists() else []
    programs = [line for line in lines if line["argv"] == [str(project)]]
    if len(programs) != 1:
        return None
    return programs[0]


def install_probe(project: Path) -> None:
    """Put the probe where the commands of ``timed_command`` in ``project`` load it."""
    (project / "build" / "bench-probe").mkdir(parents=True, exist_ok=True)
    (project / "build" / "bench-probe" / "sitecustomize.py").write_text(PROBE)


def timed_command(project: Path, engine: str, stack: str, *args: str) -> dict[str, Any]:
    """One pulumi.sh command in a project with the probe: its wall seconds, the program's share, and the
    bytes of the PULUMI_CONFIG string the program was started with."""
    probe = project / "build" / "bench-probe.jsonl"
    probe.unlink(missing_ok=True)
    env = {"PYTHONPATH": str(project / "build" / "bench-probe"), "MLOPS_BENCH_PROBE": str(probe)}
    started = time.perf_counter()
    done = run(project, engine, stack, *args, timeout=TIMEOUT_SECONDS, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pulumi.sh {stack} {' '.join(args)} exited {done.returncode}: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    program = _program(probe, project)
    if program is None:
        seen = probe.read_text() if probe.exists() else "(no probe file)"
        raise RuntimeError(f"pulumi.sh {stack} {args[0]}: the probe did not record exactly one program process: {seen[-1500:]}")
    return {
        "seconds": round(seconds, 3),
        "program_seconds": round(program["cpu"], 3),
        "program_wall_seconds": round(program["wall"], 3),
        "engine_seconds": round(seconds - program["cpu"], 3),
        "config_bytes": program["config_bytes"],
    }


def _resources(project: Path, engine: str, stack: str) -> int:
    """Resources in the stack's state after `up` (the Stack itself and providers included)."""
    done = run(project, engine, stack, "stack", "export", timeout=TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"pulumi.sh {stack} stack export exited {done.returncode}: {done.stderr[-1500:]}")
    return len(json.loads(done.stdout)["deployment"].get("resources", []))


def bench_engine(engine: str, sizes: Sequence[int] = ENGINE_SIZES) -> dict[str, Any]:
    """preview then up of the base stack and of each generated platform, each in a fresh state."""
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        copy_project(project)
        install_probe(project)
        for n in sizes:
            (project / "stacks" / f"Pulumi.bench-{n}.yaml").write_text(yaml.safe_dump(stack_file(n), sort_keys=False))
        rows: dict[str, Any] = {}
        for stack in [BASE_STACK, *(f"bench-{n}" for n in sizes)]:
            print(f"bench: real engine, {stack}: preview and up ...", file=sys.stderr, flush=True)
            preview = timed_command(project, engine, stack, "preview")
            up = timed_command(project, engine, stack, "up", "--yes", "--skip-preview")
            up.pop("config_bytes")  # the same string as the preview's
            rows[stack] = {
                "resources": _resources(project, engine, stack),
                "config_bytes": preview.pop("config_bytes"),
                "config_bytes_estimated": engine_config_bytes(read_stack_file(stack, root=project).values),
                "preview": preview,
                "up": up,
            }
    generated = [(n, rows[f"bench-{n}"]) for n in sizes]
    return {
        "engine": "tools/engine/pulumi.sh (make engine), policy pack on, file state, rendering to files",
        "split": (
            "program: the Python program's CPU seconds; engine: the rest of the wall time (CLI, provider, policy pack, "
            "state, pulumi.sh's checks, and the waits between them); program_wall: the program's process, start to exit, "
            "which includes waiting for the engine's answers"
        ),
        "platforms": rows,
        "exponent": {
            command: round(fit_exponent([n for n, _ in generated], [row[command]["seconds"] for _, row in generated]), 3)
            for command in ("preview", "up")
        },
    }
