"""Where a fresh-process synth spends its time, for `make bench`.

Interpreter start and imports before the first line of the command, then each step (read, validate,
program, policy pack, write), the import time of each top-level package (``python -X importtime``,
lazy imports during the program included), and the floor: a process that imports only the
third-party modules the synth imported, which no change in this repository can go below.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .bench_platforms import RUNS
from .synthesis import ROOT

PROJECT_PACKAGES = frozenset({"mlops_platform", "components", "policies", "tools", "__main__"})
PROFILE_STACK = "prod"
PROFILE_PACKAGES = 12
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|\s*([\w.]+)\s*$")


def import_seconds(importtime: str) -> dict[str, float]:
    """Self import time per top-level package from ``python -X importtime`` output, largest first."""
    totals: dict[str, float] = {}
    for line in importtime.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            package = match[2].split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match[1]) / 1e6
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def imported_modules(importtime: str) -> list[str]:
    """Every module ``python -X importtime`` reports, in import order."""
    return [match[2] for match in map(_IMPORT_LINE.match, importtime.splitlines()) if match]


def third_party_floor(modules: list[str], runs: int = RUNS) -> float:
    """Median seconds of a fresh process that only imports ``modules`` minus the project's own: what the
    interpreter and the SDKs cost before a line of ours runs, the bound no change of ours goes below."""
    theirs = [m for m in modules if m.split(".")[0] not in PROJECT_PACKAGES and not m.startswith("_")]
    # Failed optional imports (nt, winreg, msvcrt on Linux) are listed too; they fail here as they did there.
    script = (
        "import importlib\nfor name in " + repr(theirs) + ":\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
    )
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the third-party import floor failed: {done.stderr[-1500:].strip()}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _profiled_synth(stack: str, out: Path) -> dict[str, Any]:
    """One fresh-process synth under ``-X importtime``: its wall time, its steps and its imports."""
    timings = out / f"{stack}.timings.json"
    spawned = time.time()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tools.synth", stack, "--out", str(out), "--timings", str(timings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    total = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tools.synth {stack} exited {done.returncode}: {done.stderr[-2000:].strip()}")
    recorded = json.loads(timings.read_text())
    return {
        "total": total,
        "steps": {"interpreter_and_imports": recorded["main_entered"] - spawned, **recorded["steps"]},
        "imports": import_seconds(done.stderr),
        "modules": imported_modules(done.stderr),
    }


def profile_stack(stack: str, out: Path, runs: int = RUNS) -> dict[str, Any]:
    """Medians over ``runs`` profiled fresh-process synths: the steps and the top packages by import time.

    ``-X importtime`` itself adds a little to every import, so these totals run slightly above the
    ``stacks`` section's; the shares are what to read.
    """
    profiles = [_profiled_synth(stack, out) for _ in range(runs)]

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    steps = {step: median([p["steps"][step] for p in profiles]) for step in profiles[0]["steps"]}
    packages: set[str] = set().union(*(p["imports"] for p in profiles))
    imports = {name: median([p["imports"].get(name, 0.0) for p in profiles]) for name in packages}
    ranked = sorted(imports.items(), key=lambda item: (-item[1], item[0]))
    top = dict(ranked[:PROFILE_PACKAGES])
    top["(other)"] = round(sum(seconds for _, seconds in ranked[PROFILE_PACKAGES:]), 3)
    return {
        "stack": stack,
        "runs": runs,
        "third_party_floor_seconds": round(third_party_floor(profiles[0]["modules"], runs), 3),
        "total_seconds": median([p["total"] for p in profiles]),
        "step_seconds": steps,
        "import_seconds_total": median([sum(p["imports"].values()) for p in profiles]),
        "import_seconds_by_package": top,
    }
