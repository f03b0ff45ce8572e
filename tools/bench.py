"""`python -m tools.bench`: how fast the platform synthesizes, and whether it scales.

Writes build/bench.json (sorted keys, indent 2, no timestamps) and prints a summary. Measures:

* ``stacks``: each shipped stack synthesized by ``python -m tools.synth`` in a fresh process,
  because that is what a developer or CI waits for (interpreter start and provider SDK
  imports included), plus in-process milliseconds per registered resource;
* ``scaling``: the dev platform with 10, 100 and 500 generated models, and the exponent b of
  ``time = a * n^b``, so that a quadratic step in config validation or composition shows up
  before a real stack grows into it;
* ``overhead``: the platform's own registrations replayed as plain top-level resources under the
  same mocks, so that the cost of our layers (validation, components, adapters) is separated
  from Pulumi's own cost and from the size of the resources;
* ``loop``: the monitoring loop's drift job at 10k, 100k and 1M captured rows x 20 features: wall
  time and peak memory of the real job (``tools/bench_loop.py``);
* ``profile``: where a fresh-process synth of prod spends its time: interpreter start and imports
  before the first line of the command, then each step (read, validate, program, policy pack,
  write), and the import time of each top-level package (``python -X importtime``), lazy imports
  during the program included;
* ``release``: at each shipped stack's release settings, the seconds from a bad candidate's first errors to
  all traffic on the primary, with Flagger itself on the local control plane (``tools/bench_release.py``;
  skipped, saying why, where ``make cluster`` has not built it).

Missed targets are reported, never fatal: the exit status is non-zero only on errors.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import settings as _settings

from mlops_platform.config import ConfigError
from mlops_platform.testing import PlatformMocks, RecordingMonitor

from .bench_engine import bench_engine, engine_bin
from .bench_loop import bench_loop
from .bench_platforms import BASE_STACK, RUNS, SCALING_SIZES, fit_exponent, generated_config
from .bench_profile import PROFILE_STACK, profile_stack
from .bench_release import bench_release, summary_lines
from .synthesis import PROJECT, ROOT, StackConfig, synthesize

OUT = ROOT / "build" / "bench.json"
RATIO_RUNS = 5
BENCH_STACK = "bench"
TARGETS: dict[str, float] = {"prod_synth_seconds": 3.0, "exponent": 1.1, "overhead_ratio": 1.5}

T = TypeVar("T")


def _timed(fn: Callable[[], T], runs: int = RUNS) -> tuple[float, list[float], list[T]]:
    """Median wall time of ``runs`` calls, every time, and every result.

    The median resists one run disturbed by the machine (another process, a cold disk cache).
    """
    times: list[float] = []
    results: list[T] = []
    for _ in range(runs):
        start = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, results


def shipped_stacks() -> list[str]:
    """Every stack with a file in stacks/, by name."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def _synth_subprocess(stack: str, out: Path) -> int:
    """Synthesize one stack the way a developer does; return the count in resources.json."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.synth", stack, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools.synth {stack} exited {done.returncode}: {done.stderr.strip()}")
    return len(json.loads((out / stack / "resources.json").read_text()))


def bench_stack(stack: str, out: Path) -> dict[str, Any]:
    """Fresh-process synth time (median) and in-process milliseconds per resource of one stack."""
    cold, cold_runs, counts = _timed(lambda: _synth_subprocess(stack, out))
    synthesize(stack)  # warm-up: provider SDK imports and first-call caches
    warm, _, _ = _timed(lambda: synthesize(stack))
    resources = counts[-1]
    if len(set(counts)) != 1:
        raise RuntimeError(f"stack {stack}: resource count changed between runs: {counts}")
    return {
        "resources": resources,
        "synth_seconds": round(cold, 3),
        "synth_runs_seconds": [round(t, 3) for t in cold_runs],
        "in_process_seconds": round(warm, 4),
        "ms_per_resource": round(1000 * warm / resources, 3),
    }


def raw_program(records: list[dict[str, Any]]) -> int:
    """Declare the platform's own registrations again, directly, under the same mocks.

    Same types, names and inputs as the platform registered, but each a plain top-level
    ``pulumi.CustomResource``: no config validation, no components, no adapters. The ratio of the
    two timings is then the cost of our layers, not of Pulumi or of the resources' size.
    Returns the registrations recorded, the root Stack excluded, as synthesize() counts them.
    """
    _settings.ROOT.set(None)
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=f"{BENCH_STACK}-raw", monitor=monitor, preview=False)

    @pulumi.runtime.test
    def run() -> None:
        for record in records:
            pulumi.CustomResource(record["type"], record["name"], dict(record["inputs"]))

    run()
    return sum(1 for r in monitor.records if r["type"] != "pulumi:pulumi:Stack")


def _platform_records(config: StackConfig) -> list[dict[str, Any]]:
    """Synthesize a generated platform; the registrations it made (500 models are more config than the engine
    could start a program with, tools/engine_limits.py; the mocks can)."""
    return synthesize(BENCH_STACK, config, engine_limits=False).records


def bench_scaling(runs: int = RATIO_RUNS) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generated platforms of each size and raw baselines of the same registrations, timed alternately.

    Each repetition times the platform and then its raw replay, so that a disturbance of the machine
    falls on both sides of one ratio; the ratio reported is the median of the per-repetition ratios,
    with their spread.
    """
    configs = {n: generated_config(n) for n in SCALING_SIZES}
    synthesize(BENCH_STACK, configs[SCALING_SIZES[0]])  # warm-up
    sizes: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for n in SCALING_SIZES:
        records = _platform_records(configs[n])
        raw_program(records)  # warm-up
        platform_times, raw_times, ratios = [], [], []
        for _ in range(runs):
            started = time.perf_counter()
            platform_run = _platform_records(configs[n])
            platform_seconds = time.perf_counter() - started
            started = time.perf_counter()
            raw_count = raw_program(records)
            raw_seconds = time.perf_counter() - started
            if len(platform_run) != len(records) or raw_count != len(records):
                raise RuntimeError(
                    f"{n} models: platform registered {len(platform_run)}, raw baseline {raw_count}; expected {len(records)}"
                )
            platform_times.append(platform_seconds)
            raw_times.append(raw_seconds)
            ratios.append(platform_seconds / raw_seconds)
        seconds = statistics.median(platform_times)
        sizes.append({"models": n, "resources": len(records), "seconds": round(seconds, 4)})
        rows.append(
            {
                "models": n,
                "platform_resources": len(records),
                "platform_seconds": round(seconds, 4),
                "raw_resources": len(records),
                "raw_seconds": round(statistics.median(raw_times), 4),
                "ratio": round(statistics.median(ratios), 3),
                "ratio_spread": [round(min(ratios), 3), round(max(ratios), 3)],
            }
        )
    exponent = fit_exponent([s["models"] for s in sizes], [s["seconds"] for s in sizes])
    scaling = {
        "base_stack": BASE_STACK,
        "fit": "seconds = a * models^b, least squares on log-log",
        "sizes": sizes,
        "exponent": round(exponent, 3),
    }
    overhead = {
        "raw_program": "the platform's registrations replayed as top-level pulumi.CustomResource, same types, names and inputs",
        "runs": runs,
        "sizes": rows,
        "max_ratio": max(r["ratio"] for r in rows),
    }
    return scaling, overhead


def machine() -> dict[str, Any]:
    """What the numbers depend on: interpreter, cores and the Pulumi SDK versions."""
    return {
        "cpu_count": os.cpu_count(),
        "python": _platform.python_version(),
        "implementation": _platform.python_implementation(),
        "pulumi": version("pulumi"),
        "pulumi_kubernetes": version("pulumi-kubernetes"),
    }


def run_bench() -> dict[str, Any]:
    """Every measurement, as written to build/bench.json; each part says on stderr when it starts."""

    def step(what: str) -> None:
        print(f"bench: {what} ...", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        step("every stack in a fresh process")
        stacks = {stack: bench_stack(stack, Path(tmp)) for stack in shipped_stacks()}
        step(f"profile of {PROFILE_STACK}")
        profile = profile_stack(PROFILE_STACK, Path(tmp))
    step(f"scaling and overhead under the mocks, {', '.join(map(str, SCALING_SIZES))} models")
    scaling, overhead = bench_scaling()
    engine = engine_bin()
    real_engine = bench_engine(engine) if engine else {"skipped": "the engine is not built (make engine)"}
    step("the monitoring loop's drift job")
    loop = bench_loop()
    step("releases rolled back by Flagger at each stack's settings")
    release = bench_release()
    prod = stacks.get("prod", {}).get("synth_seconds")
    return {
        "machine": machine(),
        "stacks": stacks,
        "scaling": scaling,
        "overhead": overhead,
        "profile": profile,
        "engine": real_engine,
        "loop": loop,
        "release": release,
        "targets": dict(TARGETS),
        "meets_targets": {
            "prod_synth_seconds": prod is not None and prod <= TARGETS["prod_synth_seconds"],
            "exponent": scaling["exponent"] <= TARGETS["exponent"],
            "overhead_ratio": overhead["max_ratio"] <= TARGETS["overhead_ratio"],
        },
    }


def summary(result: dict[str, Any]) -> str:
    """The few lines a person reads; the JSON has the rest."""
    m = result["machine"]
    lines = [f"bench: python {m['python']}, {m['cpu_count']} cpus, pulumi {m['pulumi']}"]
    for stack, row in result["stacks"].items():
        lines.append(
            f"  stack {stack:<11} {row['synth_seconds']:6.2f} s fresh process, {row['resources']:3d} resources, "
            f"{row['ms_per_resource']:6.2f} ms/resource in process"
        )
    for row in result["overhead"]["sizes"]:
        lines.append(
            f"  {row['models']:4d} models: {row['platform_seconds']:.3f} s for {row['platform_resources']} resources; "
            f"raw {row['raw_seconds']:.3f} s for {row['raw_resources']}; ratio {row['ratio']:.2f} "
            f"({row['ratio_spread'][0]:.2f}-{row['ratio_spread'][1]:.2f})"
        )
    profile = result["profile"]
    steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in profile["step_seconds"].items())
    lines.append(f"  profile {profile['stack']} (-X importtime): {profile['total_seconds']:.2f} s: {steps}")
    heavy = ", ".join(f"{name} {seconds:.2f}" for name, seconds in list(profile["import_seconds_by_package"].items())[:6])
    lines.append(f"  imports {profile['import_seconds_total']:.2f} s: {heavy}")
    for label, row in result["engine"].get("platforms", {}).items():
        parts = [
            f"{command} {row[command]['seconds']:.1f} s (program CPU {row[command]['program_seconds']:.1f})"
            for command in ("preview", "up")
        ]
        lines.append(f"  engine {label:<10} {row['resources']:5d} resources: {', '.join(parts)}")
    for row in result["loop"].get("runs", []):
        lines.append(f"  drift job {row['rows']:8d} rows x {row['features']}: {row['seconds']:6.2f} s, peak {row['peak_rss_mb']:.0f} MB")
    lines += summary_lines(result["release"])
    lines.append(f"  scaling exponent {result['scaling']['exponent']:.3f}")
    for key, target in result["targets"].items():
        ok = "met" if result["meets_targets"][key] else "MISSED"
        lines.append(f"  target {key} <= {target}: {ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(__doc__)
        return 0 if argv[0] in ("-h", "--help") else 2
    try:
        result = run_bench()
    except (ConfigError, RuntimeError, OSError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(summary(result))
    print(f"bench: wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
