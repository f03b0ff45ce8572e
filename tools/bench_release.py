"""The release side of `make bench`: how long a bad candidate serves before Flagger has all traffic on the primary again.

A stack's `release` settings decide how long a version that fails requests keeps receiving traffic: Flagger
checks it every `interval_seconds` and rolls it back after `threshold` failed checks. This measures that time,
with Flagger v1.36.1 itself, at the settings each shipped stack gives its models.

For each distinct (interval_seconds, threshold, first step) among the stacks' models that release with analysis
(`all_at_once` has none; the first step is `steps[0]` in `canary` mode, `step_percent` in `linear`), a model
carrying that model's `release` config is released on the local control plane (tools/cluster/release_scenario.py,
as tests/test_flagger.py does) with the platform's own Canary and MetricTemplates: version 1 until Flagger has
initialised the release, then version 2, whose pods fail 20 % of their requests (tools/cluster/triton_series.py).
The acceptance test is off (its request could not reach a Service here) and promotion unconfirmed (a rollback
never asks). Every settings runs at once on one control plane, each as its own model: Flagger runs each Canary
on its own ticker, so they do not wait on each other and the whole takes about as long as the slowest.

Measured from the moment the exporter first serves a failure of a candidate pod (the candidate's errors are
visible from its start, before any traffic reaches it; a Timeline polled every half second):

* ``seconds_to_primary``: until the HTTPRoute has 100 % on the primary again;
* ``seconds_to_failed``: until the Canary's phase is `Failed` (can come an interval after the route);
* ``failed_checks``: the most failed checks the Canary's status counted;
* ``seconds_to_first_weight``: until the candidate first has weight.

Recorded per stack (``stack/model`` where a stack's models use different settings); stacks that share settings
share one run (``run`` names it). Without the control plane, Flagger or Prometheus the section says why it was
skipped. ``python -m tools.bench_release [STACK ...]`` runs it alone and updates the `release` section of
build/bench.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.config import ConfigError, validate_platform

from .cluster.controlplane import ControlPlane
from .cluster.release_scenario import (
    Timeline,
    deployment,
    finished,
    model_config,
    release_objects,
    scaled_object,
    start_release_stack,
    target_name,
)
from .cluster.triton_series import PodWatcher, TritonExporter
from .synthesis import ROOT, read_stack_file

OUT = ROOT / "build" / "bench.json"
NAMESPACE = "serving"
FLAGGER_NAMESPACE = "flagger-system"
PULUMI = "pulumi-kubernetes"
"""The field manager the model's objects are applied with, as Pulumi applies them."""
FAILURE_RATIO = 0.2
"""The bad version's share of failed requests: far above every stack's `max_error_rate`."""
GOOD, BAD = 1, 2
WEIGHTED = ("canary", "linear")
"""The modes that move traffic by weight: a rollback is the weight returning to the primary."""


@dataclass(frozen=True)
class Settings:
    """What decides how long a failing candidate serves."""

    interval_seconds: int
    threshold: int
    first_step: int

    @property
    def model(self) -> str:
        """The model (and run) name: a DNS label that says the settings."""
        return f"r{self.interval_seconds}s-{self.threshold}x-{self.first_step}pct"


@dataclass
class Run:
    """One settings' release: the `release` config of the first model using it, and where it is used."""

    settings: Settings
    release: dict[str, Any]
    used_by: list[str]


def first_step(release: Any) -> int | None:
    """The candidate's first weight, in percent; None for a mode that moves no weight."""
    if release.mode == "canary":
        return int(release.steps[0])
    if release.mode == "linear":
        return int(release.step_percent)
    return None


def shipped_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def plan(stacks: list[str]) -> tuple[dict[Settings, Run], dict[str, Settings | str]]:
    """The runs (one per distinct settings) and, per stack (or ``stack/model``), the settings it measures or why none.

    Each stack is read and validated as a deployment reads it (tests/conftest.py's ``stack_values``).
    """
    runs: dict[Settings, Run] = {}
    keys: dict[str, Settings | str] = {}
    for stack in stacks:
        values, secrets = read_stack_file(stack).platform_inputs()
        platform, _ = validate_platform(stack, values, secrets, allow_missing_secrets=True)
        groups: dict[Settings, list[str]] = {}
        skipped: list[str] = []
        for model in platform.models:
            release = model.release
            if release.mode == "all_at_once":
                continue
            step = first_step(release)
            if step is None:
                skipped.append(f"{model.name} releases {release.mode}, which moves no weight to measure")
                continue
            settings = Settings(release.interval_seconds, release.threshold, step)
            groups.setdefault(settings, []).append(model.name)
            if settings not in runs:
                # the stack's own release, but nothing that needs a Service to call (see the module docstring)
                config = release.model_dump(mode="json", exclude_unset=True)
                runs[settings] = Run(settings, {**config, "acceptance_test": False, "confirm_promotion": False}, [])
            runs[settings].used_by.append(f"{stack}/{model.name}")
        if not groups:
            keys[stack] = "; ".join(skipped) or "every model releases all_at_once: no analysis"
        for settings, models in groups.items():
            keys[stack if len(groups) == 1 else f"{stack}/{'+'.join(models)}"] = settings
    return runs, keys


def binaries() -> tuple[Path, Path] | str:
    """The control plane's and Flagger's bin directories (MLOPS_CLUSTER_BIN / MLOPS_FLAGGER_BIN, else the cached
    builds of `make cluster`), or why the benchmark cannot run."""
    found: list[Path] = []
    missing: list[str] = []
    for variable, script, binary in (
        ("MLOPS_CLUSTER_BIN", "build.sh", "kube-apiserver"),
        ("MLOPS_FLAGGER_BIN", "build_flagger.sh", "flagger"),
    ):
        path = os.environ.get(variable, "")
        if not path:
            done = subprocess.run([str(ROOT / "tools" / "cluster" / script), "--cached"], capture_output=True, text=True, check=False)
            lines = done.stdout.strip().splitlines()
            path = lines[-1] if done.returncode == 0 and lines else ""
        if path and (Path(path) / binary).is_file():
            found.append(Path(path))
        else:
            missing.append(f"{binary} (tools/cluster/{script})")
    if shutil.which("prometheus") is None:
        missing.append("prometheus (make system-tools)")
    if missing:
        return f"not built: {', '.join(missing)}; make cluster builds them"
    return found[0], found[1]


def _watch(plane: ControlPlane, timelines: dict[str, Timeline]) -> None:
    """One poll of every Canary and HTTPRoute of the namespace into each model's timeline (one kubectl for all)."""
    done = plane.kubectl("get", "canary,httproute", "-n", NAMESPACE, "-o", "json", check=False)
    if done.returncode != 0:
        return
    found = {(item["kind"], item["metadata"]["name"]): item for item in json.loads(done.stdout)["items"]}
    for timeline in timelines.values():
        timeline.record(found.get(("Canary", timeline.target)), found.get(("HTTPRoute", timeline.target)))


def _until(
    plane: ControlPlane,
    timelines: dict[str, Timeline],
    done: dict[str, Callable[[list[dict[str, Any]]], bool]],
    deadlines: dict[str, float],
    what: str,
) -> None:
    """Poll every half second until ``done[model](entries since now)`` holds for every model, each before its deadline."""
    marks = {model: len(timeline.entries) for model, timeline in timelines.items()}
    waiting = set(timelines)
    while waiting:
        _watch(plane, timelines)
        for model in sorted(waiting):
            seen = timelines[model].entries[marks[model] :]
            if done[model](seen):
                waiting.discard(model)
                print(f"bench: release {model}: {what} after {seen[-1]['t'] - seen[0]['t']:.0f} s", file=sys.stderr, flush=True)
            elif seen and seen[-1]["phase"] == "Succeeded" and "Progressing" in [e["phase"] for e in seen]:
                raise RuntimeError(f"release {model}: Flagger promoted the failing version: {seen}")
            elif time.monotonic() > deadlines[model]:
                raise RuntimeError(f"release {model}: not {what} in time: {seen}\n{plane.log_tail('flagger', 15)}")
        time.sleep(0.5)


def measure(timeline: Timeline, entries: list[dict[str, Any]], first_failure: float | None, settings: Settings) -> dict[str, Any]:
    """The durations of one rollback, from the exporter's first failure of a candidate pod."""
    if first_failure is None:
        raise RuntimeError(f"release {settings.model}: the exporter never served a failure of the candidate")
    at = [timeline.began + e["t"] for e in entries]
    weighted = next((i for i, e in enumerate(entries) if e["weights"] and e["weights"][1] > 0), None)
    if weighted is None:
        raise RuntimeError(f"release {settings.model}: the candidate never had weight: {entries}")
    back = next(i for i, e in enumerate(entries) if i > weighted and e["weights"] and e["weights"][1] == 0)
    failed = next(i for i, e in enumerate(entries) if e["phase"] == "Failed")
    return {
        "seconds_to_first_weight": round(at[weighted] - first_failure, 1),
        "seconds_to_primary": round(at[back] - first_failure, 1),
        "seconds_to_failed": round(at[failed] - first_failure, 1),
        "intervals_to_primary": round((at[back] - first_failure) / settings.interval_seconds, 2),
        "failed_checks": max(e["failed"] for e in entries),
        "max_candidate_weight": max(e["weights"][1] for e in entries if e["weights"]),
    }


def run_releases(cluster_bin: Path, flagger_bin: Path, runs: list[Run]) -> dict[Settings, dict[str, Any]]:
    """Release a good then a bad version of one model per run, all at once on one control plane; each run's rollback."""
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp, ExitStack() as stack:
        plane = ControlPlane(cluster_bin, Path(tmp) / "cluster")
        plane.start()
        stack.callback(plane.stop)
        names = [run.settings.model for run in runs]
        exporters = {name: stack.enter_context(TritonExporter(NAMESPACE, name, FAILURE_RATIO)) for name in names}
        stack.enter_context(PodWatcher(plane, *exporters.values()))
        print(f"bench: release: control plane, Prometheus, KEDA and Flagger for {', '.join(names)} ...", file=sys.stderr, flush=True)
        prometheus_url, _ = start_release_stack(
            plane, cluster_bin, flagger_bin, [e.address for e in exporters.values()], NAMESPACE, FLAGGER_NAMESPACE
        )
        settings = {run.settings.model: run.settings for run in runs}
        good = {run.settings.model: model_config(run.settings.model, run.release, GOOD) for run in runs}
        plane.apply(
            [o for m in good.values() for o in (deployment(m.name, NAMESPACE, GOOD), scaled_object(m, NAMESPACE, prometheus_url))], PULUMI
        )
        for name in names:
            plane.kubectl("rollout", "status", "-n", NAMESPACE, f"deployment/{target_name(name)}", "--timeout=60s")
        plane.apply([o for m in good.values() for o in release_objects(m, NAMESPACE, prometheus_url, FLAGGER_NAMESPACE)], PULUMI)
        timelines = {name: Timeline(plane, NAMESPACE, target_name(name)) for name in names}
        initialised = {name: lambda seen: bool(seen) and seen[-1]["phase"] == "Initialized" for name in names}
        started = time.monotonic()
        _until(plane, timelines, initialised, {n: started + 2 * s.interval_seconds + 120 for n, s in settings.items()}, "initialised")

        # the bad version, as `pulumi up` applies it: the Deployment and the templates that select its version
        for name in names:
            exporters[name].failing.add(str(BAD))
        bad = [model_config(run.settings.model, run.release, BAD) for run in runs]
        plane.apply(
            [
                o
                for m in bad
                for o in (deployment(m.name, NAMESPACE, BAD), *release_objects(m, NAMESPACE, prometheus_url, FLAGGER_NAMESPACE))
            ],
            PULUMI,
        )
        marks = {name: len(timeline.entries) for name, timeline in timelines.items()}
        started = time.monotonic()
        # a revision is seen within an interval; the candidate's start, the first weight, `threshold` failed checks,
        # the rollback and the Failed phase an interval each, with room to spare
        deadlines = {n: started + (s.threshold + 5) * s.interval_seconds + 180 for n, s in settings.items()}
        _until(plane, timelines, {name: finished("Failed") for name in names}, deadlines, "Failed")
        return {
            settings[name]: measure(
                timelines[name], timelines[name].entries[marks[name] :], exporters[name].first_failure_served, settings[name]
            )
            for name in names
        }


def bench_release(stacks: list[str] | None = None) -> dict[str, Any]:
    """The `release` section of build/bench.json: per stack (or stack/model) its settings and their rollback."""
    found = binaries()
    if isinstance(found, str):
        return {"skipped": found}
    runs, keys = plan(stacks or shipped_stacks())
    measured = run_releases(*found, list(runs.values())) if runs else {}
    section: dict[str, Any] = {}
    for key, settings in keys.items():
        if isinstance(settings, str):
            section[key] = {"skipped": settings}
            continue
        run = runs[settings]
        section[key] = {
            "interval_seconds": settings.interval_seconds,
            "threshold": settings.threshold,
            "first_step": settings.first_step,
            "mode": run.release.get("mode", "canary"),
            "max_error_rate": run.release.get("max_error_rate", 0.01),
            "failure_ratio": FAILURE_RATIO,
            "run": settings.model,
            "run_used_by": run.used_by,
            **measured[settings],
        }
    return section


def summary_lines(section: dict[str, Any]) -> list[str]:
    """A line per stack: its settings and its rollback."""
    if "skipped" in section:
        return [f"  release: skipped: {section['skipped']}"]
    lines = []
    for key, row in section.items():
        if "skipped" in row:
            lines.append(f"  release {key:<22} skipped: {row['skipped']}")
            continue
        lines.append(
            f"  release {key:<22} {row['mode']} {row['first_step']:2d}% first, every {row['interval_seconds']:2d} s, "
            f"rollback after {row['threshold']}: all on primary {row['seconds_to_primary']:6.1f} s after the first failures "
            f"({row['intervals_to_primary']:.1f} intervals), Failed {row['seconds_to_failed']:6.1f} s, "
            f"{row['failed_checks']} failed checks"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    unknown = sorted(set(argv) - set(shipped_stacks()))
    if unknown:
        print(f"bench_release: no such stack: {', '.join(unknown)}; stacks: {', '.join(shipped_stacks())}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        section = bench_release(argv or None)
    except (ConfigError, RuntimeError, OSError) as error:
        print(f"bench_release: {error}", file=sys.stderr)
        return 1
    result = json.loads(OUT.read_text()) if OUT.is_file() else {}
    previous = result.get("release", {})
    if argv and "skipped" not in section and "skipped" not in previous:
        section = {**previous, **section}  # a subset of the stacks updates their keys only
    result["release"] = section
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print("\n".join(summary_lines(section)))
    print(f"bench_release: {time.monotonic() - started:.0f} s; wrote the release section of {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
