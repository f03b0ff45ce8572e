"""Flagger releasing a model on the local control plane: promotion step by step, rollback, a pre-rollout gate.

Real components, on loopback: the control plane (tools/cluster) with kwok's fake nodes, Gateway API's
HTTPRoute CRD, KEDA (the model's ScaledObject is Flagger's autoscalerRef), a real Prometheus that scrapes
an exporter this test runs (tools/cluster/triton_series.py), Flagger v1.36.1 and its load tester, out of cluster. The exporter writes
Triton's series (`nv_inference_*`) for every running pod of the model, labelled with the pods' real
names, so the platform's MetricTemplates select the candidate's pods exactly as in a cluster. The
Canary and MetricTemplates are the platform's own (`mlops_platform.serving.release`); only the
webhooks differ: the load tester runs here, so its pre-rollout command checks a gate file in the test's
directory and appends to another, instead of calling the candidate's Service. The objects Pulumi owns (Deployment, ScaledObject,
Canary, MetricTemplates) are written by server-side apply under one field manager, as Pulumi writes them.

One scenario runs once for the module, step by step, and the tests read what each step left: the
release initialised, a healthy version promoted, a failing one rolled back, a pre-rollout gate that
fails, and Pulumi's apply after all three. Flagger, the load tester and the control plane are built by
`make cluster` (tools/cluster/build.sh, build_flagger.sh); without them (or Debian's prometheus) these
tests skip, except under MLOPS_REQUIRE_CLUSTER=1, where they fail. The timeline of each release (phase,
failed checks, weights), the measured durations, Flagger's reports and the field owners are written to
`timeline.json` in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.cluster import release_scenario
from tools.cluster.controlplane import ControlPlane
from tools.cluster.release_scenario import Timeline, canary_weights, finished, start_release_stack
from tools.cluster.triton_series import VERSION_LABEL, PodWatcher, TritonExporter
from tools.crd_schemas import validate

CLUSTER_BIN = os.environ.get("MLOPS_CLUSTER_BIN", "")
FLAGGER_BIN = os.environ.get("MLOPS_FLAGGER_BIN", "")
REQUIRED = os.environ.get("MLOPS_REQUIRE_CLUSTER") == "1"
NAMESPACE = "serving"
FLAGGER_NAMESPACE = "flagger-system"
MODEL = "ranker"
TARGET = f"triton-{MODEL}"
PRIMARY = f"{TARGET}-primary"
PULUMI = "pulumi-kubernetes"
"""The field manager the Pulumi-owned objects are applied with."""
STEPS = [10, 30, 50]
INTERVAL = 10
THRESHOLD = 2
FAILURE_RATIO = 0.2
"""The failing version's share of failed inferences (its check allows 0.01)."""
HEALTHY, FAILING, GATED, CONFIRMED = 2, 3, 4, 5
"""The versions released after version 1: promoted, rolled back on its errors, stopped by the pre-rollout gate, held
for a person's confirmation and then promoted."""
HELD = 3 * INTERVAL
"""Seconds the confirmed version is watched waiting at its gate before the test opens it."""


def require_binaries() -> tuple[Path, Path]:
    missing = []
    if not CLUSTER_BIN or not (Path(CLUSTER_BIN) / "kube-apiserver").is_file():
        missing.append(f"the control plane (MLOPS_CLUSTER_BIN={CLUSTER_BIN!r})")
    if not FLAGGER_BIN or not (Path(FLAGGER_BIN) / "flagger").is_file():
        missing.append(f"Flagger (MLOPS_FLAGGER_BIN={FLAGGER_BIN!r})")
    if shutil.which("prometheus") is None:
        missing.append("prometheus (make system-tools)")
    if missing:
        if REQUIRED:
            pytest.fail(f"MLOPS_REQUIRE_CLUSTER=1 but not built: {', '.join(missing)}; run make cluster")
        pytest.skip(f"not built: {', '.join(missing)} (make cluster)")
    return Path(CLUSTER_BIN), Path(FLAGGER_BIN)


# -- the objects Pulumi owns ----------------------------------------------------------------------


# tools/cluster/release_scenario.py builds them (tools/bench_release.py releases the same objects); it imports the
# platform's modules where used: the module collects, and skips where nothing is built, without loading the
# serving components.


def model_config(version: int = 1, confirm_promotion: bool = False) -> Any:
    """The model as a stack declares it at ``version``: a fixed size of one replica, released in three steps every 10 s."""
    release = {
        "mode": "canary",
        "steps": STEPS,
        "interval_seconds": INTERVAL,
        "threshold": THRESHOLD,
        "max_queue_ms": 100,
        "acceptance_test": False,
        "confirm_promotion": confirm_promotion,
    }
    return release_scenario.model_config(MODEL, release, version)


def new_version(
    version: int, prometheus_url: str, loadtester: str, gate: Path, hook_log: Path, confirm_promotion: bool = False
) -> list[dict[str, Any]]:
    """What one `pulumi up` applies for a new version: the Deployment, and the MetricTemplates and Canary of the model at
    that version (its checks select the configured version's series)."""
    model = model_config(version, confirm_promotion)
    return [deployment(version), *release_objects(model, prometheus_url, loadtester, gate, hook_log)]


def deployment(version: int, replicas: int | None = None) -> dict[str, Any]:
    """The model's Deployment as the platform declares it: no replica count (Flagger and KEDA set it), selected by `app`."""
    return release_scenario.deployment(MODEL, NAMESPACE, version, replicas)


def scaled_object(model: Any, prometheus_url: str) -> dict[str, Any]:
    """The model's ScaledObject as the platform declares it: equal bounds hold one replica; the Triton trigger."""
    return release_scenario.scaled_object(model, NAMESPACE, prometheus_url)


def release_objects(model: Any, prometheus_url: str, loadtester: str, gate: Path, hook_log: Path) -> list[dict[str, Any]]:
    """The platform's MetricTemplates and Canary for the model, with a pre-rollout webhook on the local load tester.

    The webhook is `type: bash`, which answers when its command ends (the default `cmd` only queues it and
    always succeeds): it passes while ``gate`` exists and appends the time it ran to ``hook_log``. The platform's
    confirm-promotion webhook, where the release has one, stays as the platform writes it, on the local load tester.
    """
    confirm = model.release.confirms("dev")
    objects = release_scenario.release_objects(model, NAMESPACE, prometheus_url, FLAGGER_NAMESPACE, confirm_promotion=confirm)
    analysis = objects[-1]["spec"]["analysis"]
    platform_hooks = analysis.get("webhooks", [])
    confirm_hooks = [dict(h, url=f"{loadtester}/{h['url'].split('/', 3)[3]}") for h in platform_hooks if h["type"] == "confirm-promotion"]
    analysis["webhooks"] = [
        {
            "name": "pre-rollout-gate",
            "type": "pre-rollout",
            "url": f"{loadtester}/",
            "timeout": "30s",
            "metadata": {"type": "bash", "cmd": f"test -e {gate} && date +%s.%N >> {hook_log}"},
        },
        *confirm_hooks,
    ]
    return objects


# -- what the cluster holds -----------------------------------------------------------------------


def get(plane: ControlPlane, kind: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
    done = plane.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def route_weights(route: dict[str, Any] | None) -> tuple[int, int] | None:
    """(primary, canary) weights of the HTTPRoute's weighted rule, as Flagger reads them back."""
    return release_scenario.route_weights(route, TARGET)


def deployment_version(plane: ControlPlane, name: str) -> str | None:
    found = get(plane, "deployment", name)
    return found["spec"]["template"]["metadata"]["labels"].get(VERSION_LABEL) if found else None


def flagger_events(plane: ControlPlane) -> list[str]:
    """What Flagger reported about the Canary, in order, from its log: the API server's Events combine repeats
    of one reason (Flagger uses `Synced` for all) into one whose message is only the latest."""
    messages = []
    for line in (plane.logs / "flagger.log").read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("caller", "").startswith("controller/events.go") and entry.get("canary") == f"{TARGET}.{NAMESPACE}":
            messages.append(entry["msg"])
    return messages


def field_owners(plane: ControlPlane, kind: str, name: str) -> dict[str, list[str]]:
    """Field manager to the top-level fields of spec and metadata it owns."""
    found = json.loads(plane.kubectl("get", "-n", NAMESPACE, kind, name, "-o", "json", "--show-managed-fields").stdout)
    owners: dict[str, list[str]] = {}
    for entry in found["metadata"]["managedFields"]:
        fields = entry.get("fieldsV1", {})
        owned = [f"spec.{k[2:]}" for k in fields.get("f:spec", {}) if k.startswith("f:")]
        owned += [f"metadata.annotations.{k[2:]}" for k in fields.get("f:metadata", {}).get("f:annotations", {}) if k.startswith("f:")]
        where = f"{entry['operation']}{' /' + entry['subresource'] if entry.get('subresource') else ''}"
        owners.setdefault(f"{entry['manager']} ({where})", []).extend(owned)
    return owners


def pulumi_apply(plane: ControlPlane, objects: list[dict[str, Any]], dry_run: bool) -> subprocess.CompletedProcess[str]:
    """Server-side apply as Pulumi's field manager, without forcing conflicts."""
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    args = ["apply", "--server-side", f"--field-manager={PULUMI}", "-f", "-"]
    return plane.kubectl(*args, *(["--dry-run=server"] if dry_run else []), input=document, check=False)


# -- the scenario ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cluster_bin, flagger_bin = require_binaries()
    work = tmp_path_factory.mktemp("flagger")
    plane = ControlPlane(cluster_bin, work / "cluster")
    steps: dict[str, Any] = {"plane": plane}
    gate, hook_log = work / "gate-open", work / "pre-rollout.log"
    started = time.monotonic()
    plane.start()
    try:
        with TritonExporter(NAMESPACE, MODEL, FAILURE_RATIO) as exporter, PodWatcher(plane, exporter):
            prometheus_url, loadtester = start_release_stack(
                plane, cluster_bin, flagger_bin, [exporter.address], NAMESPACE, FLAGGER_NAMESPACE
            )
            steps["start_seconds"] = time.monotonic() - started

            model = model_config()
            release = release_objects(model, prometheus_url, loadtester, gate, hook_log)
            steps["schema_problems"] = {obj["kind"] + "/" + obj["metadata"]["name"]: validate(obj) for obj in release}
            gate.touch()
            declared = [deployment(1), scaled_object(model, prometheus_url)]
            plane.apply(declared, manager=PULUMI)
            plane.kubectl("rollout", "status", "-n", NAMESPACE, f"deployment/{TARGET}", "--timeout=60s")
            plane.apply(release, manager=PULUMI)
            timeline = Timeline(plane, NAMESPACE, TARGET)
            timeline.until(lambda seen: bool(seen) and seen[-1]["phase"] == "Initialized", timeout=90)
            steps["init_seconds"] = timeline.entries[-1]["t"]
            steps["after_init"] = {
                "target": get(plane, "deployment", TARGET),
                "primary": get(plane, "deployment", PRIMARY),
                "scaler": get(plane, "scaledobject", TARGET),
                "primary_scaler": get(plane, "scaledobject", PRIMARY),
                "services": {name: get(plane, "service", name) for name in (TARGET, PRIMARY, f"{TARGET}-canary")},
                "route": get(plane, "httproute", TARGET),
            }

            # a. a healthy version: promoted through every step
            plane.apply(new_version(HEALTHY, prometheus_url, loadtester, gate, hook_log), manager=PULUMI)
            steps["healthy"] = timeline.until(finished("Succeeded"), timeout=240)
            steps["healthy_primary"] = get(plane, "deployment", PRIMARY)
            steps["healthy_hooks"] = hook_log.read_text().split() if hook_log.exists() else []
            steps["healthy_events"] = flagger_events(plane)

            # b. a version whose pods fail a fifth of their requests: rolled back
            exporter.failing.add(str(FAILING))
            plane.apply(new_version(FAILING, prometheus_url, loadtester, gate, hook_log), manager=PULUMI)
            steps["failing"] = timeline.until(finished("Failed"), timeout=240)
            steps["failing_first_failure"] = exporter.first_failure_served
            steps["failing_primary_version"] = deployment_version(plane, PRIMARY)
            steps["failing_target_replicas"] = (get(plane, "deployment", TARGET) or {})["spec"].get("replicas")

            # c. the pre-rollout gate closed: the next version never gets traffic
            gate.unlink()
            hooks_before = len(hook_log.read_text().split())
            plane.apply(new_version(GATED, prometheus_url, loadtester, gate, hook_log), manager=PULUMI)
            steps["gated"] = timeline.until(finished("Failed"), timeout=240)
            steps["gated_hooks"] = len(hook_log.read_text().split()) - hooks_before
            steps["gated_primary_version"] = deployment_version(plane, PRIMARY)
            steps["events"] = flagger_events(plane)

            # Pulumi's apply after the releases: the objects as declared, and with a replica count
            steps["managers"] = {
                "deployment": field_owners(plane, "deployment", TARGET),
                "scaledobject": field_owners(plane, "scaledobject", TARGET),
                "canary": field_owners(plane, "canary", TARGET),
                "httproute": field_owners(plane, "httproute", TARGET),
            }
            steps["apply_declared"] = pulumi_apply(
                plane,
                [*new_version(GATED, prometheus_url, loadtester, gate, hook_log), scaled_object(model, prometheus_url)],
                dry_run=False,
            )
            steps["after_apply"] = {
                "target": get(plane, "deployment", TARGET),
                "scaler": get(plane, "scaledobject", TARGET),
                "route": get(plane, "httproute", TARGET),
                "primary_version": deployment_version(plane, PRIMARY),
            }
            steps["apply_replicas"] = pulumi_apply(plane, [deployment(GATED, replicas=1)], dry_run=True)
            declared_service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": TARGET, "namespace": NAMESPACE},
                "spec": {"selector": {"app": TARGET}, "ports": [{"name": "http", "port": 8000, "targetPort": "http"}]},
            }
            steps["apply_service"] = pulumi_apply(plane, [declared_service], dry_run=True)
            steps["route_writes"] = [
                e["verb"]
                for e in plane.audit_events()
                if e["user"]["username"] == "flagger" and e.get("objectRef", {}).get("resource") == "httproutes"
            ]
            at = [timeline.began + e["t"] for e in steps["failing"]]
            weighted = next(i for i, e in enumerate(steps["failing"]) if e["weights"] and e["weights"][1] > 0)
            back = next(i for i, e in enumerate(steps["failing"]) if i > weighted and e["weights"][1] == 0)
            failures = steps["failing_first_failure"] or at[back]
            steps["measured"] = {
                "start_seconds": round(steps["start_seconds"], 1),
                "init_seconds": steps["init_seconds"],
                "healthy_seconds": round(steps["healthy"][-1]["t"] - steps["healthy"][0]["t"], 1),
                # the candidate's pods export failures from their start, before any weight reaches them
                "primary_only_after_first_failures_seconds": round(at[back] - failures, 1),
                "primary_only_after_first_weight_seconds": round(at[back] - at[weighted], 1),
                "failed_after_first_weight_seconds": round(at[-1] - at[weighted], 1),
                "gated_seconds": round(steps["gated"][-1]["t"] - steps["gated"][0]["t"], 1),
            }

            # d. a healthy version where promotion waits for a person (prod): held at its last step until the load
            # tester's gate opens, the platform's confirm-promotion webhook asking it every interval
            gate.touch()
            plane.apply(new_version(CONFIRMED, prometheus_url, loadtester, gate, hook_log, confirm_promotion=True), manager=PULUMI)
            steps["confirmed_waiting"] = timeline.until(lambda seen: bool(seen) and seen[-1]["phase"] == "WaitingPromotion", 240)
            time.sleep(HELD)
            steps["confirmed_held"] = {"state": timeline.observe(), "primary_version": deployment_version(plane, PRIMARY)}
            opened = urllib.request.urlopen(
                urllib.request.Request(
                    f"{loadtester}/gate/open", data=json.dumps({"name": TARGET, "namespace": NAMESPACE}).encode(), method="POST"
                ),
                timeout=10,
            )
            steps["gate_opened"] = opened.status
            steps["confirmed"] = timeline.until(lambda seen: bool(seen) and seen[-1]["phase"] == "Succeeded", 120)
            steps["confirmed_primary_version"] = deployment_version(plane, PRIMARY)
            steps["confirmed_events"] = flagger_events(plane)
            (work / "timeline.json").write_text(
                json.dumps(
                    {
                        "entries": timeline.entries,
                        "measured": steps["measured"],
                        "managers": steps["managers"],
                        "events": steps["events"],
                        "route_writes": steps["route_writes"],
                        "conflicts": {"replicas": steps["apply_replicas"].stderr, "service": steps["apply_service"].stderr},
                    },
                    indent=2,
                )
            )
            yield steps
    finally:
        plane.stop()


# -- tests ----------------------------------------------------------------------------------------


def test_the_platforms_release_objects_are_valid_against_flaggers_crds(scenario: dict[str, Any]) -> None:
    assert scenario["schema_problems"] == {
        "MetricTemplate/triton-ranker-error-ratio": [],
        "MetricTemplate/triton-ranker-p99-latency": [],
        "MetricTemplate/triton-ranker-queue-time": [],
        "Canary/triton-ranker": [],
    }


def test_flagger_initialises_the_release(scenario: dict[str, Any]) -> None:
    """The primary copy serves (its `app` label rewritten), the Deployment and its ScaledObject are held at zero,
    the primary's ScaledObject measures the primary's pods, and the route sends everything to the primary."""
    state = scenario["after_init"]
    assert state["primary"]["spec"]["selector"]["matchLabels"] == {"app": PRIMARY}
    assert state["primary"]["status"].get("readyReplicas") == 1
    assert state["primary"]["metadata"]["labels"]["mlops.platform/model"] == MODEL, "the included label prefixes are copied"
    assert state["target"]["spec"]["replicas"] == 0
    assert state["scaler"]["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    primary_query = state["primary_scaler"]["spec"]["triggers"][0]["metadata"]["query"]
    assert f'pod=~"{PRIMARY}-[a-z0-9]+-[a-z0-9]+"' in primary_query
    assert state["primary_scaler"]["spec"]["scaleTargetRef"]["name"] == PRIMARY
    assert {name: s["spec"]["selector"] for name, s in state["services"].items()} == {
        TARGET: {"app": PRIMARY},
        PRIMARY: {"app": PRIMARY},
        f"{TARGET}-canary": {"app": TARGET},
    }
    assert {name: s["metadata"]["labels"] for name, s in state["services"].items()} == {
        TARGET: {"app": TARGET},
        PRIMARY: {"app": PRIMARY, "app.kubernetes.io/name": "triton"},
        f"{TARGET}-canary": {"app": f"{TARGET}-canary", "app.kubernetes.io/name": "triton"},
    }, "the Canary's service.primary/canary labels, none on the apex"
    for service in state["services"].values():
        # portDiscovery adds every other named container port, in no fixed order (Flagger walks a Go map)
        ports = {p["name"]: (p["port"], p["targetPort"], p.get("appProtocol")) for p in service["spec"]["ports"]}
        assert ports == {"http": (8000, "http", "http"), "grpc": (8001, 8001, None), "metrics": (8002, 8002, None)}
    assert route_weights(state["route"]) == (100, 0)
    assert state["route"]["spec"]["parentRefs"][0]["name"] == "inference"
    assert state["route"]["spec"]["rules"][0]["matches"][0]["path"] == {"type": "PathPrefix", "value": f"/v2/models/{MODEL}"}


def test_a_healthy_version_is_promoted_step_by_step(scenario: dict[str, Any]) -> None:
    entries = scenario["healthy"]
    assert canary_weights(entries) == [0, *STEPS, 0], entries
    assert entries[-1]["phase"] == "Succeeded" and entries[-1]["weights"] == (100, 0)
    assert all(e["failed"] == 0 for e in entries), entries
    primary = scenario["healthy_primary"]
    assert primary["spec"]["template"]["metadata"]["labels"][VERSION_LABEL] == str(HEALTHY)
    assert primary["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODEL_VERSION", "value": str(HEALTHY)}]
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == PRIMARY


def test_the_pre_rollout_webhook_runs_its_command_before_any_traffic(scenario: dict[str, Any]) -> None:
    """The load tester ran the command once (it appends the time), before the candidate was seen with any weight."""
    (ran,) = scenario["healthy_hooks"]
    first_weight = next(e["wall"] for e in scenario["healthy"] if e["weights"] and e["weights"][1] > 0)
    assert float(ran) < first_weight
    assert "Pre-rollout check pre-rollout-gate passed" in scenario["healthy_events"]


def test_a_failing_version_is_rolled_back(scenario: dict[str, Any]) -> None:
    entries = scenario["failing"]
    weights = canary_weights(entries)
    assert weights[0] == 0 and max(weights) == STEPS[0] and weights[-1] == 0, entries
    assert entries[-1]["phase"] == "Failed" and entries[-1]["weights"] == (100, 0)
    assert max(e["failed"] for e in entries) >= THRESHOLD - 1, entries
    assert scenario["failing_primary_version"] == str(HEALTHY), "the primary still serves the promoted version"
    assert scenario["failing_target_replicas"] == 0, "the candidate is scaled down"
    assert any(f"failed checks threshold reached {THRESHOLD}" in e for e in scenario["events"])


def test_a_failing_pre_rollout_command_blocks_the_release(scenario: dict[str, Any]) -> None:
    entries = scenario["gated"]
    assert all(e["weights"] == (100, 0) for e in entries if e["weights"] is not None), entries
    assert entries[-1]["phase"] == "Failed"
    assert scenario["gated_hooks"] == 0
    assert scenario["gated_primary_version"] == str(HEALTHY)
    assert any("pre-rollout check pre-rollout-gate failed" in e for e in scenario["events"])


def test_a_release_that_needs_confirmation_waits_at_its_gate_until_it_opens(scenario: dict[str, Any]) -> None:
    """With `confirm_promotion` (prod's default) a healthy version passes every step, then waits: the primary keeps the
    previous version and the candidate its last step's traffic until the load tester's gate opens; then it is promoted."""
    waiting = scenario["confirmed_waiting"]
    assert canary_weights(waiting)[: len(STEPS) + 1] == [0, *STEPS], waiting
    held = scenario["confirmed_held"]
    assert held["state"]["phase"] == "WaitingPromotion" and held["state"]["weights"] == (100 - STEPS[-1], STEPS[-1]), held
    assert held["primary_version"] == str(HEALTHY), "promoted before the gate opened"
    assert scenario["gate_opened"] == 202
    assert scenario["confirmed"][-1]["weights"] == (100, 0)
    assert scenario["confirmed_primary_version"] == str(CONFIRMED)
    assert any("Confirm-promotion check approve-promotion passed" in e for e in scenario["confirmed_events"]), scenario["confirmed_events"]


def test_pulumis_apply_after_the_releases_changes_nothing_flagger_owns(scenario: dict[str, Any]) -> None:
    """Re-applying what Pulumi declares is conflict-free and keeps Flagger's replica count, its pause annotation
    and the route; declaring a replica count or one of Flagger's Services conflicts with Flagger's writes."""
    applied = scenario["apply_declared"]
    assert applied.returncode == 0, applied.stderr
    after = scenario["after_apply"]
    assert after["target"]["spec"]["replicas"] == 0
    assert after["scaler"]["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    assert route_weights(after["route"]) == (100, 0)
    assert after["primary_version"] == str(HEALTHY)
    conflict = scenario["apply_replicas"]
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower() and ".spec.replicas" in conflict.stderr, conflict.stderr
    service = scenario["apply_service"]
    assert service.returncode != 0 and ".spec.selector" in service.stderr, service.stderr


def test_the_flagger_wrapper_is_formatted() -> None:
    go = shutil.which("gofmt") or "/usr/local/go/bin/gofmt"
    if not Path(go).is_file():
        pytest.skip("gofmt is not installed (make test puts Go on PATH)")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([go, "-l", "flagger"], cwd=root / "tools" / "cluster", capture_output=True, text=True, check=True)
    assert done.stdout == "", f"gofmt -w these files: {done.stdout}"
