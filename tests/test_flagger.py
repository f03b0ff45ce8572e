"""Flagger releasing a model on the local control plane: promotion step by step, rollback, a pre-rollout gate.

Real components, on loopback: the control plane (tools/cluster) with kwok's fake nodes, Gateway API's
HTTPRoute CRD, KEDA (the model's ScaledObject is Flagger's autoscalerRef), a real Prometheus that scrapes
an exporter this test runs, Flagger v1.36.1 and its load tester, out of cluster. The exporter writes
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
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tools.cluster.controlplane import ControlPlane, _free_port
from tools.cluster.flagger import start_flagger, start_loadtester
from tools.cluster.keda import start_keda
from tools.cluster.nodes import CPU_NODE, _node
from tools.cluster.prometheus import set_targets, start_prometheus
from tools.cluster.stack import wait_until_ready
from tools.crd_schemas import crd_documents, validate

CLUSTER_BIN = os.environ.get("MLOPS_CLUSTER_BIN", "")
FLAGGER_BIN = os.environ.get("MLOPS_FLAGGER_BIN", "")
REQUIRED = os.environ.get("MLOPS_REQUIRE_CLUSTER") == "1"
NAMESPACE = "serving"
FLAGGER_NAMESPACE = "flagger-system"
MODEL = "ranker"
TARGET = f"triton-{MODEL}"
PRIMARY = f"{TARGET}-primary"
VERSION_LABEL = "mlops.platform/model-version"
PULUMI = "pulumi-kubernetes"
"""The field manager the Pulumi-owned objects are applied with."""
STEPS = [10, 30, 50]
INTERVAL = 10
THRESHOLD = 2
FAILURE_RATIO = 0.2
"""The failing version's share of failed inferences (its check allows 0.01)."""
HEALTHY, FAILING, GATED = 2, 3, 4
"""The versions released after version 1: promoted, rolled back on its errors, stopped by the pre-rollout gate."""


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


# -- Triton's series for the model's real pods ----------------------------------------------------


class _Pod:
    def __init__(self, version: str, failure_ratio: float) -> None:
        self.version = version
        self.failure_ratio = failure_ratio
        self.since = time.monotonic()


class TritonExporter:
    """Triton's inference series of every running pod of the model, on 127.0.0.1, for Prometheus to scrape.

    Each pod's counters start when the pod is first seen Running and grow at 20 requests a second; a pod of
    a version in ``failing`` fails ``FAILURE_RATIO`` of them. Latencies are healthy for every pod (40 ms p99,
    2 ms queue), so only the error ratio tells the versions apart.
    """

    RPS = 20.0
    LATENCY_US = 25_000.0
    QUEUE_US = 2_000.0
    QUANTILES: ClassVar[dict[str, float]] = {"0.5": 20_000.0, "0.9": 30_000.0, "0.99": 40_000.0}

    def __init__(self, namespace: str, model: str) -> None:
        self.namespace, self.model = namespace, model
        self.failing: set[str] = set()
        self.pods: dict[str, _Pod] = {}
        self.first_failure_served: float | None = None
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TritonExporter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_pods(self, running: dict[str, str]) -> None:
        """The running pods now (name to version label): new ones start counting, gone ones stop being exported."""
        with self.lock:
            for name in set(self.pods) - set(running):
                del self.pods[name]
            for name, version in running.items():
                if name not in self.pods:
                    self.pods[name] = _Pod(version, FAILURE_RATIO if version in self.failing else 0.0)

    def exposition(self) -> str:
        now = time.monotonic()
        lines: dict[str, list[str]] = {
            "nv_inference_request_success": [],
            "nv_inference_request_failure": [],
            "nv_inference_count": [],
            "nv_inference_request_duration_us": [],
            "nv_inference_queue_duration_us": [],
            "nv_inference_request_summary_us": [],
        }
        with self.lock:
            for name, pod in sorted(self.pods.items()):
                labels = f'model="{self.model}",version="{pod.version}",namespace="{self.namespace}",pod="{name}"'
                requests = self.RPS * (now - pod.since)
                failed = requests * pod.failure_ratio
                ok = requests - failed
                if failed > 0 and self.first_failure_served is None:
                    self.first_failure_served = now
                lines["nv_inference_request_success"].append(f"nv_inference_request_success{{{labels}}} {ok:.3f}")
                lines["nv_inference_request_failure"].append(f'nv_inference_request_failure{{{labels},reason="BACKEND"}} {failed:.3f}')
                lines["nv_inference_count"].append(f"nv_inference_count{{{labels}}} {ok:.3f}")
                lines["nv_inference_request_duration_us"].append(
                    f"nv_inference_request_duration_us{{{labels}}} {requests * self.LATENCY_US:.3f}"
                )
                lines["nv_inference_queue_duration_us"].append(f"nv_inference_queue_duration_us{{{labels}}} {ok * self.QUEUE_US:.3f}")
                summary = lines["nv_inference_request_summary_us"]
                summary += [f'nv_inference_request_summary_us{{{labels},quantile="{q}"}} {v:.1f}' for q, v in self.QUANTILES.items()]
                summary.append(f"nv_inference_request_summary_us_sum{{{labels}}} {requests * self.LATENCY_US:.3f}")
                summary.append(f"nv_inference_request_summary_us_count{{{labels}}} {requests:.3f}")
        kinds = {"nv_inference_request_summary_us": "summary"}
        out = []
        for metric, samples in lines.items():
            out.append(f"# TYPE {metric} {kinds.get(metric, 'counter')}")
            out += samples
        return "\n".join(out) + "\n"


class PodWatcher:
    """Keeps the exporter's pods those of the model running in the cluster (polled every half second)."""

    def __init__(self, plane: ControlPlane, exporter: TritonExporter) -> None:
        self.plane, self.exporter = plane, exporter
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            done = self.plane.kubectl(
                "get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={MODEL}", "-o", "json", check=False
            )
            if done.returncode == 0:
                running = {
                    p["metadata"]["name"]: p["metadata"]["labels"].get(VERSION_LABEL, "")
                    for p in json.loads(done.stdout)["items"]
                    if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
                }
                self.exporter.set_pods(running)
            self.stop.wait(0.5)

    def __enter__(self) -> PodWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


# -- the objects Pulumi owns ----------------------------------------------------------------------


# The platform's modules are imported where used: the module collects, and skips where nothing is built,
# without loading the serving components.


def model_config() -> Any:
    """The model as a stack declares it: a fixed size of one replica, released in three steps every 10 s."""
    from mlops_platform.config.serving import ModelConfig

    return ModelConfig(
        name=MODEL,
        version=1,
        repository_uri="s3://models-bucket/triton",
        gpus_per_replica=0,
        replicas={"min": 1, "max": 1},
        autoscaling={"metric": "queue_time", "target": 50, "cpu_utilization": None},
        release={
            "mode": "canary",
            "steps": STEPS,
            "interval_seconds": INTERVAL,
            "threshold": THRESHOLD,
            "max_queue_ms": 100,
            "acceptance_test": False,
            "confirm_promotion": False,
        },
        inputs=[{"name": "x", "data_type": "FP32", "dims": [4]}],
        outputs=[{"name": "y", "data_type": "FP32", "dims": [1]}],
    )


def deployment(version: int, replicas: int | None = None) -> dict[str, Any]:
    """The model's Deployment as the platform declares it: no replica count (Flagger and KEDA set it), selected by `app`."""
    labels = {
        "app": TARGET,
        "app.kubernetes.io/name": "triton",
        "app.kubernetes.io/instance": MODEL,
        "mlops.platform/model": MODEL,
        VERSION_LABEL: str(version),
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": TARGET}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "triton",
                        "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
                        "env": [{"name": "MODEL_VERSION", "value": str(version)}],
                        "ports": [
                            {"name": "http", "containerPort": 8000},
                            {"name": "grpc", "containerPort": 8001},
                            {"name": "metrics", "containerPort": 8002},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    }
                ]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": TARGET, "namespace": NAMESPACE, "labels": {k: v for k, v in labels.items() if k != VERSION_LABEL}},
        "spec": spec,
    }


def scaled_object(model: Any, prometheus_url: str) -> dict[str, Any]:
    """The model's ScaledObject as the platform declares it: equal bounds hold one replica; the Triton trigger."""
    from mlops_platform.serving.metrics import scaling_triggers

    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": TARGET, "namespace": NAMESPACE, "labels": {"mlops.platform/model": MODEL}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": TARGET},
            "minReplicaCount": model.replicas.min,
            "maxReplicaCount": model.replicas.max,
            "pollingInterval": 5,
            "triggers": scaling_triggers(model, NAMESPACE, prometheus_url),
        },
    }


def release_objects(model: Any, prometheus_url: str, loadtester: str, gate: Path, hook_log: Path) -> list[dict[str, Any]]:
    """The platform's MetricTemplates and Canary for the model, with a pre-rollout webhook on the local load tester.

    The webhook is `type: bash`, which answers when its command ends (the default `cmd` only queues it and
    always succeeds): it passes while ``gate`` exists and appends the time it ran to ``hook_log``.
    """
    from mlops_platform.serving.release import canary_object, metric_templates

    labels = {"mlops.platform/model": MODEL}
    templates = metric_templates(model, NAMESPACE, prometheus_url, labels)
    canary = canary_object(
        model,
        NAMESPACE,
        hostname=f"{MODEL}.models.local.test",
        prometheus_url=prometheus_url,
        loadtester_namespace=FLAGGER_NAMESPACE,
        confirm_promotion=False,
        service_labels={"app.kubernetes.io/name": "triton"},
        labels=labels,
    )
    canary["spec"]["analysis"]["webhooks"] = [
        {
            "name": "pre-rollout-gate",
            "type": "pre-rollout",
            "url": f"{loadtester}/",
            "timeout": "30s",
            "metadata": {"type": "bash", "cmd": f"test -e {gate} && date +%s.%N >> {hook_log}"},
        }
    ]
    return [*templates, canary]


# -- what the cluster holds -----------------------------------------------------------------------


def get(plane: ControlPlane, kind: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
    done = plane.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def route_weights(route: dict[str, Any] | None) -> tuple[int, int] | None:
    """(primary, canary) weights of the HTTPRoute's weighted rule, as Flagger reads them back."""
    if route is None:
        return None
    refs = {r["name"]: r.get("weight", 1) for r in route["spec"]["rules"][0]["backendRefs"]}
    return refs.get(PRIMARY, 0), refs.get(f"{TARGET}-canary", 0)


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


class Timeline:
    """Every change of the Canary's phase, failed checks and the route's weights, with the time it was seen."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.began = time.monotonic()
        self.entries: list[dict[str, Any]] = []

    def observe(self) -> dict[str, Any]:
        canary = get(self.plane, "canary", TARGET) or {}
        status = canary.get("status", {})
        weights = route_weights(get(self.plane, "httproute", TARGET))
        state = {"phase": status.get("phase"), "failed": status.get("failedChecks", 0), "weights": weights}
        if not self.entries or {k: self.entries[-1][k] for k in state} != state:
            self.entries.append({"t": round(time.monotonic() - self.began, 1), "wall": time.time(), **state})
        return state

    def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Observe every half second until ``done(entries since the call)``; returns those entries."""
        start = len(self.entries)
        deadline = time.monotonic() + timeout
        while True:
            self.observe()
            seen = self.entries[start:]
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout:.0f}s: {seen}\n{self.plane.log_tail('flagger', 15)}")
            time.sleep(0.5)


def finished(phase: str) -> Callable[[list[dict[str, Any]]], bool]:
    """The release that started after the call ended in ``phase`` (a new revision first shows as Progressing)."""

    def check(seen: list[dict[str, Any]]) -> bool:
        phases = [e["phase"] for e in seen]
        return "Progressing" in phases and phases[-1] == phase

    return check


def canary_weights(entries: list[dict[str, Any]]) -> list[int]:
    """The candidate's successive weights, repeated values collapsed."""
    out: list[int] = []
    for e in entries:
        if e["weights"] is not None and (not out or out[-1] != e["weights"][1]):
            out.append(e["weights"][1])
    return out


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
        with TritonExporter(NAMESPACE, MODEL) as exporter, PodWatcher(plane, exporter):
            nodes = [_node(f"cpu-{i}", {}, [], dict(CPU_NODE)) for i in range(2)]
            routes = crd_documents({("gateway.networking.k8s.io", "HTTPRoute")})
            plane.apply([*routes, *nodes, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
            plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{c['metadata']['name']}" for c in routes))
            wait_until_ready(plane, [n["metadata"]["name"] for n in nodes])
            prometheus_url = f"http://127.0.0.1:{_free_port()}"
            start_prometheus(plane, prometheus_url)
            set_targets(plane, [exporter.address])
            start_keda(plane, cluster_bin)
            start_flagger(plane, flagger_bin, prometheus_url, FLAGGER_NAMESPACE, watch_namespace=NAMESPACE)
            loadtester = start_loadtester(plane, flagger_bin, namespace_regexp=f"^{NAMESPACE}$")
            steps["start_seconds"] = time.monotonic() - started

            model = model_config()
            release = release_objects(model, prometheus_url, loadtester, gate, hook_log)
            steps["schema_problems"] = {obj["kind"] + "/" + obj["metadata"]["name"]: validate(obj) for obj in release}
            gate.touch()
            declared = [deployment(1), scaled_object(model, prometheus_url)]
            plane.apply(declared, manager=PULUMI)
            plane.kubectl("rollout", "status", "-n", NAMESPACE, f"deployment/{TARGET}", "--timeout=60s")
            plane.apply(release, manager=PULUMI)
            timeline = Timeline(plane)
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
            plane.apply([deployment(HEALTHY)], manager=PULUMI)
            steps["healthy"] = timeline.until(finished("Succeeded"), timeout=240)
            steps["healthy_primary"] = get(plane, "deployment", PRIMARY)
            steps["healthy_hooks"] = hook_log.read_text().split() if hook_log.exists() else []
            steps["healthy_events"] = flagger_events(plane)

            # b. a version whose pods fail a fifth of their requests: rolled back
            exporter.failing.add(str(FAILING))
            plane.apply([deployment(FAILING)], manager=PULUMI)
            steps["failing"] = timeline.until(finished("Failed"), timeout=240)
            steps["failing_first_failure"] = exporter.first_failure_served
            steps["failing_primary_version"] = deployment_version(plane, PRIMARY)
            steps["failing_target_replicas"] = (get(plane, "deployment", TARGET) or {})["spec"].get("replicas")

            # c. the pre-rollout gate closed: the next version never gets traffic
            gate.unlink()
            hooks_before = len(hook_log.read_text().split())
            plane.apply([deployment(GATED)], manager=PULUMI)
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
                plane, [deployment(GATED), scaled_object(model, prometheus_url), *release], dry_run=False
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
