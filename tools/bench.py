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
  from Pulumi's own cost and from the size of the resources.

Missed targets are reported, never fatal: the exit status is non-zero only on errors.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform as _platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import settings as _settings

from components.config import ConfigError
from components.config.gpu import GpuPoolConfig
from components.config.serving import ModelConfig

from .mocks import PlatformMocks, RecordingMonitor
from .synthesis import PROJECT, ROOT, StackConfig, read_stack_file, synthesize

OUT = ROOT / "build" / "bench.json"
RUNS = 3
SCALING_SIZES = (10, 100, 500)
BASE_STACK = "dev"
BENCH_STACK = "bench"
TARGETS: dict[str, float] = {"prod_synth_seconds": 3.0, "exponent": 1.1, "overhead_ratio": 1.5}

T = TypeVar("T")


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): b in ``seconds = a * size^b``.

    Log-log keeps every size equally weighted, so the largest run does not drown the others.
    """
    if len(sizes) != len(seconds) or len(set(sizes)) < 2:
        raise ValueError("need at least two distinct sizes, each with one time")
    if min(sizes) <= 0 or min(seconds) <= 0:
        raise ValueError("sizes and times must be positive to take logarithms")
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


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


def generated_config(models: int, base: str = BASE_STACK) -> StackConfig:
    """The base stack's config with ``models`` generated models, valid for the config checks.

    The models use the base stack's first GPU pool (one GPU, one replica each), and that pool's
    max_nodes is raised to fit what they may hold at once (``ModelConfig.gpus_needed``: full scale and
    a rollout's surge pod), so the GPU quota grows with the models as a real stack's would. Without a
    pool in the base stack the models run on CPU.
    """
    stack = read_stack_file(base)
    values = dict(stack.values)
    pools = json.loads(values.get(f"{PROJECT}:gpu_pools", "[]"))
    cloud = json.loads(values[f"{PROJECT}:cloud"])
    scheme = {"aws": "s3://", "gcp": "gs://", "azure": "as://acmemlmodels/"}[cloud["provider"]]
    model: dict[str, Any] = {
        "version": 1,
        "repository_uri": f"{scheme}acme-ml-models-bench/triton",
        "replicas": {"min": 1, "max": 1},
        "inputs": [{"name": "features", "data_type": "FP32", "dims": [16]}],
        "outputs": [{"name": "score", "data_type": "FP32", "dims": [1]}],
    }
    if pools:
        pool = pools[0]
        per_node = GpuPoolConfig.model_validate(pool).schedulable_gpus_per_node
        needed = models * ModelConfig.model_validate({"name": "m", **model, "gpu_pool": pool["name"], "gpus_per_replica": 1}).gpus_needed(1)
        pool["max_nodes"] = max(pool["max_nodes"], math.ceil(needed / per_node))
        model.update(gpu_pool=pool["name"], gpus_per_replica=1)
    else:
        model.update(gpus_per_replica=0)
    values[f"{PROJECT}:gpu_pools"] = json.dumps(pools)
    values[f"{PROJECT}:models"] = json.dumps([{"name": f"model-{i:04d}", **model} for i in range(models)])
    return StackConfig(values=values, secret_keys=list(stack.secret_keys))


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
    """Synthesize a generated platform; the registrations it made."""
    return synthesize(BENCH_STACK, config).records


def bench_scaling() -> tuple[dict[str, Any], dict[str, Any]]:
    """Generated platforms of each size, then raw baselines of the same registration counts."""
    configs = {n: generated_config(n) for n in SCALING_SIZES}
    synthesize(BENCH_STACK, configs[SCALING_SIZES[0]])  # warm-up
    sizes, rows = [], []
    for n in SCALING_SIZES:
        seconds, _, runs = _timed(functools.partial(_platform_records, configs[n]))
        counts = [len(r) for r in runs]
        platform_resources = counts[-1]
        records = runs[-1]
        raw_program(records)  # warm-up
        raw_seconds, _, raw_counts = _timed(functools.partial(raw_program, records))
        if set(counts) != {platform_resources} or set(raw_counts) != {platform_resources}:
            raise RuntimeError(f"{n} models: platform registered {counts}, raw baseline {raw_counts}; expected equal counts")
        sizes.append({"models": n, "resources": platform_resources, "seconds": round(seconds, 4)})
        rows.append(
            {
                "models": n,
                "platform_resources": platform_resources,
                "platform_seconds": round(seconds, 4),
                "raw_resources": raw_counts[-1],
                "raw_seconds": round(raw_seconds, 4),
                "ratio": round(seconds / raw_seconds, 3),
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
    """Every measurement, as written to build/bench.json."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        stacks = {stack: bench_stack(stack, Path(tmp)) for stack in shipped_stacks()}
    scaling, overhead = bench_scaling()
    prod = stacks.get("prod", {}).get("synth_seconds")
    return {
        "machine": machine(),
        "stacks": stacks,
        "scaling": scaling,
        "overhead": overhead,
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
            f"raw {row['raw_seconds']:.3f} s for {row['raw_resources']}; ratio {row['ratio']:.2f}"
        )
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
