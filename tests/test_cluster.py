"""The `kwok` stack deployed by the real engine to a real control plane (tools/cluster).

kube-apiserver (default admission plugins, PodSecurity and ResourceQuota among them, RBAC, an audit
log, the aggregation layer), kube-controller-manager, kube-scheduler and etcd run on loopback; kwok
plays the kubelets of the stack's fake nodes; KEDA's operator and metrics API server run out of cluster
and query a real Prometheus, which scrapes Triton's series as the test writes them. One scenario runs
once for the module, step by step, and the tests read what each step left: `pulumi up`, KEDA scaling
the autoscaling model up on its queue time, up/preview/refresh with the HPA owning the replicas, a
model version bump, KEDA scaling back down, KEDA taking a model to zero outside its active hours and
back in them, a model removed from config, Flagger (out of cluster) taking the model over with
`pulumi up` and `pulumi preview` still wanting no change, Flagger rolling a failing version back on the
platform's checks with `pulumi up` and `preview` again wanting no change, the previous version set again
and released, `pulumi destroy`.

The control plane is built by `make cluster` (Go modules, cached); `make test` passes its bin directory
as MLOPS_CLUSTER_BIN when it exists. Without it (or without the engine) these tests skip, except under
MLOPS_REQUIRE_CLUSTER=1 (.ci/run), where a missing build fails them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_platform.config import validate_platform
from mlops_platform.config.platform import PlatformConfig
from mlops_platform.pool_wiring import POOL_LABEL
from tools.cluster.controlplane import ControlPlane
from tools.cluster.flagger import start_flagger
from tools.cluster.nodes import fake_nodes
from tools.cluster.prometheus import set_targets
from tools.cluster.release_scenario import route_weights
from tools.cluster.stack import existing_secrets, prepare, wait_until_ready
from tools.cluster.triton_series import PodWatcher, TritonExporter, TritonSignals
from tools.release import release_wait
from tools.release.common import local_cluster_issue
from tools.synthesis import ROOT, synthesize

from .conftest import stack_values
from .realengine import copy_project, describe, require_engine, run

CLUSTER_BIN = os.environ.get("MLOPS_CLUSTER_BIN", "")
REQUIRED = os.environ.get("MLOPS_REQUIRE_CLUSTER") == "1"
STACK = "kwok"
MODEL = "triton-fraud-detector"
SIGNAL_POD = "triton-fraud-detector-5d8f7c9b6-x2x4z"
"""The stable pod the test's series are labelled with (the scaling query selects the stable pods by name)."""
PART_OF = "app.kubernetes.io/part-of=mlops-platform"
WARNING_CHECK = "mlops-warning-check"
NAMESPACED_KINDS = (
    "deployments,replicasets,pods,services,serviceaccounts,configmaps,secrets,networkpolicies,poddisruptionbudgets,"
    "horizontalpodautoscalers,resourcequotas,limitranges,roles,rolebindings,cronjobs,jobs"
)


def stack_config(stack: str) -> PlatformConfig:
    return validate_platform(stack, stack_values(stack), set(), allow_missing_secrets=True)[0]


def require_cluster() -> Path:
    if not CLUSTER_BIN or not (Path(CLUSTER_BIN) / "kube-apiserver").is_file():
        if REQUIRED:
            pytest.fail(f"MLOPS_REQUIRE_CLUSTER=1 but no control plane at MLOPS_CLUSTER_BIN={CLUSTER_BIN!r}; run make cluster")
        pytest.skip("the control plane is not built (make cluster)")
    return Path(CLUSTER_BIN)


# -- what the cluster holds -----------------------------------------------------------------------


def items(plane: ControlPlane, *args: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(plane.kubectl("get", *args, "-o", "json").stdout)["items"]
    return listed


def project_objects(plane: ControlPlane, owned: bool = True) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every object carrying the platform's part-of label, cluster-scoped and custom ones too.

    ``owned=False`` leaves out what controllers made from them (ReplicaSets, Pods, the CronJob's Jobs),
    which come and go on their own: what is left is what the stack itself declared.
    """
    kinds = [NAMESPACED_KINDS, "namespaces", "clusterroles", "clusterrolebindings"]
    kinds += [r for r in plane.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split() if "." in r and "k8s.io" not in r]
    found = set()
    for kind in kinds:
        for obj in items(plane, kind, "-A", "-l", PART_OF):
            if owned or not obj["metadata"].get("ownerReferences"):
                found.add((obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
    return found


def model_pods(plane: ControlPlane, namespace: str) -> set[str]:
    """The models that have a pod in ``namespace``."""
    return {p["metadata"].get("labels", {}).get("mlops.platform/model", "") for p in items(plane, "pods", "-n", namespace)} - {""}


def snapshot(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    return {
        "deployments": items(plane, "deployments", "-n", namespace),
        "pods": items(plane, "pods", "-A"),
        "nodes": items(plane, "nodes"),
        "events": items(plane, "events", "-A"),
        "quotas": items(plane, "resourcequotas", "-n", namespace),
        "objects": project_objects(plane, owned=False),
        "model_pods": model_pods(plane, namespace),
    }


def scheduling_problems(pods: list[dict[str, Any]], nodes: list[dict[str, Any]], pools: dict[str, str | None]) -> list[str]:
    """Every pod not Running and Ready (or Succeeded), and every model pod on a node outside its configured pool.

    ``pools``: model name to its pool (None for CPU models, which must stay off every GPU pool).
    """
    node_labels = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in nodes}
    problems = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status", {})
        name = f"{meta.get('namespace')}/{meta['name']}"
        if meta.get("deletionTimestamp") or status.get("phase") == "Succeeded":
            continue  # going, or a Job's pod that completed (kwok completes them)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        if status.get("phase") != "Running" or not ready:
            reasons = "; ".join(c.get("message", c["type"]) for c in status.get("conditions", []) if c["status"] != "True")
            problems.append(f"{name}: {status.get('phase')} ({reasons or 'not ready'})")
            continue
        model = meta.get("labels", {}).get("mlops.platform/model")
        if model in pools:
            pool = node_labels.get(pod["spec"].get("nodeName", ""), {}).get(POOL_LABEL)
            if pool != pools[model]:
                problems.append(f"{name}: on node {pod['spec'].get('nodeName')} of pool {pool!r}, expected pool {pools[model]!r}")
    return problems


def api_warnings(plane: ControlPlane, manifests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """The API server's answer to the stack's objects, as a server-side dry-run apply with strict field validation.

    The Kubernetes provider drops the API server's warning headers, so the engine's output cannot show
    them; kubectl prints each one ("Warning: ...") for the same objects the program declares.
    """
    # the mocks see JSON numbers as floats: integers go back to integers, as the provider sends them
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
    document = json.dumps(json.loads(text, parse_float=lambda v: int(float(v)) if float(v).is_integer() else float(v)))
    return plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "--force-conflicts",
        f"--field-manager={WARNING_CHECK}", "-f", "-", input=document, check=False,
    )  # fmt: skip


def escalating(manifests: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    """A copy of the stack's first Deployment in ``namespace`` whose container may escalate privileges."""
    deployment = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"].get("namespace") == namespace)
    bad: dict[str, Any] = json.loads(json.dumps(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    return bad


def audit_findings(plane: ControlPlane) -> list[str]:
    """What the audit log holds and no client was shown: Pod Security audit violations of any pod (the
    controllers create them), and deprecated APIs the deploying identity (the admin) called."""
    found = []
    for event in plane.audit_events():
        if f"fieldManager={WARNING_CHECK}" in event["requestURI"]:
            continue  # the warning check's own dry runs, which include a bad object on purpose
        for key, value in (event.get("annotations") or {}).items():
            ours = event["user"]["username"] == "mlops-admin"  # the deploying identity (pulumi, kubectl); KEDA has its own
            if key == "pod-security.kubernetes.io/audit-violations" or (ours and key == "k8s.io/deprecated"):
                found.append(f"{event['user']['username']} {event['verb']} {event['requestURI']}: {key}={value}")
    return found


def edit_stack(project: Path, change: Any) -> None:
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["config"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))


SCALES_TO_ZERO = "text-embedder"
"""The stack's model with `replicas.min: 0`: KEDA holds it at one replica inside its active hours only."""


def active_hours(inside: bool, now: datetime.datetime | None = None) -> dict[str, str]:
    """Active hours (UTC, every day) that hold the current time, or that lie two to three hours ahead of it."""
    hour = (now or datetime.datetime.now(datetime.UTC)).hour
    start, end = ((hour - 1) % 24, (hour + 2) % 24) if inside else ((hour + 2) % 24, (hour + 3) % 24)
    return {"start": f"0 {start} * * *", "end": f"0 {end} * * *", "timezone": "UTC"}


def set_active_hours(inside: bool) -> Any:
    def change(config: dict[str, Any]) -> None:
        (model,) = [m for m in config["mlops-platform:models"] if m["name"] == SCALES_TO_ZERO]
        model["autoscaling"]["active_hours"] = active_hours(inside)

    return change


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


# -- the scenario ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    engine = require_engine()
    bin_dir = require_cluster()
    project = copy_project(tmp_path_factory.mktemp("cluster-project"))
    plane = ControlPlane(bin_dir, project / "build" / "cluster")
    steps: dict[str, Any] = {"project": project, "plane": plane}
    started = time.monotonic()
    plane.start()
    steps["start_seconds"] = time.monotonic() - started
    stack = contextlib.ExitStack()
    try:
        result = synthesize(STACK)
        cfg = result.config
        ns = cfg.namespaces.serving
        steps["config"] = cfg
        steps["prepared"] = prepare(plane, result)
        edit_stack(project, set_active_hours(inside=True))  # the model that may scale to zero is up for the first steps
        steps["preview"] = run(project, engine, STACK, "preview")
        steps["up"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
        steps["after_up"] = snapshot(plane, ns)
        steps["warnings"] = api_warnings(plane, result.manifests())
        steps["bad_warnings"] = api_warnings(plane, [escalating(result.manifests(), ns)])
        steps["audit_after_up"] = audit_findings(plane)
        if steps["up"].returncode != 0:
            yield steps
            return
        # KEDA's HPA scales the model on its Triton signal, which a real Prometheus scrapes from the test
        signals = stack.enter_context(TritonSignals(ns, SIGNAL_POD, "fraud-detector", 7))
        set_targets(plane, [signals.address])
        signals.set_queue_time(10)  # below the 50 ms target: a value the HPA can only have read from Prometheus
        steps["hpa_reading"] = wait_for(
            lambda: quantity((hpa_metric(plane, ns) or {"current": {"value": "0"}})["current"]["value"]) >= 5, timeout=120
        )
        steps["hpa_reading"] = hpa_metric(plane, ns)
        steps["replicas_at_reading"] = _replicas(plane, ns, MODEL)
        signals.set_queue_time(200)  # 4x the 50 ms target: the HPA asks for all 3 replicas
        wait_for(lambda: _ready_replicas(plane, ns, MODEL) == 3, timeout=180)
        steps["replicas_scaled_up"] = _ready_replicas(plane, ns, MODEL)
        steps["hpa_scaled_up"] = hpa_metric(plane, ns)
        steps["replicas_managers"] = replicas_managers(plane, ns)
        steps["up_after_scale"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
        steps["preview_after_scale"] = run(project, engine, STACK, "preview", "--expect-no-changes")
        steps["refresh_after_scale"] = run(project, engine, STACK, "refresh", "--yes", "--skip-preview", "--expect-no-changes")
        steps["replicas_after_scale"] = _ready_replicas(plane, ns, MODEL)

        def bump(config: dict[str, Any]) -> None:
            model = config["mlops-platform:models"][0]
            model["version"] = 8  # a rolling update of the Deployment: Flagger starts only after it

        edit_stack(project, bump)
        steps["up_bump"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
        steps["after_bump"] = snapshot(plane, ns)

        def remove(config: dict[str, Any]) -> None:
            config["mlops-platform:models"] = [m for m in config["mlops-platform:models"] if m["name"] != "text-embedder"]

        signals.set_queue_time(0)  # idle: the HPA scales down to the minimum after the 30 s cooldown
        wait_for(lambda: _ready_replicas(plane, ns, MODEL) == 1 and _replicas(plane, ns, MODEL) == 1, timeout=240)
        steps["replicas_scaled_down"] = _replicas(plane, ns, MODEL)
        steps["up_after_scale_down"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
        steps["hpa_events"] = [e for e in items(plane, "events", "-n", ns) if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"]

        # outside its active hours, with no Triton signal, KEDA takes the model to zero after the 30 s cooldown
        zero = f"triton-{SCALES_TO_ZERO}"
        steps["replicas_in_hours"] = _replicas(plane, ns, zero)
        edit_stack(project, set_active_hours(inside=False))
        steps["up_out_of_hours"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
        wait_for(lambda: _replicas(plane, ns, zero) == 0 and SCALES_TO_ZERO not in model_pods(plane, ns), timeout=180)
        steps["replicas_out_of_hours"] = _replicas(plane, ns, zero)
        steps["pods_out_of_hours"] = model_pods(plane, ns)
        steps["zero_managers"] = replicas_managers(plane, ns, zero)
        steps["up_at_zero"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
        steps["preview_at_zero"] = run(project, engine, STACK, "preview", "--expect-no-changes")
        # its hours start again: KEDA brings one replica back, and Pulumi still wants nothing
        edit_stack(project, set_active_hours(inside=True))
        steps["up_back_in_hours"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
        wait_for(lambda: _ready_replicas(plane, ns, zero) == 1, timeout=120)
        steps["replicas_back_in_hours"] = _ready_replicas(plane, ns, zero)
        steps["up_after_wake"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
        steps["scaler_events"] = [
            e for e in items(plane, "events", "-n", ns) if e["involvedObject"]["kind"] == "ScaledObject" and e["type"] == "Warning"
        ]

        edit_stack(project, remove)
        steps["up_remove"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
        # the garbage collector removes the model's ReplicaSets and pods after its Deployment
        wait_for(lambda: "text-embedder" not in model_pods(plane, ns))
        steps["after_remove"] = snapshot(plane, ns)

        # Flagger takes the model over (its primary, Services, route, the target at zero replicas and its ScaledObject
        # paused); the stack's own `pulumi up` and `pulumi preview` then want no change: Pulumi never fights Flagger
        flagger_bin = os.environ.get("MLOPS_FLAGGER_BIN", "")
        if flagger_bin and (Path(flagger_bin) / "flagger").is_file():
            # the model store's credentials Secret the stack reads (a real cluster has it before the models; here the
            # namespace is the stack's own), out of Flagger's config tracking as the README asks
            plane.apply(existing_secrets(cfg))
            start_flagger(plane, Path(flagger_bin), cfg.serving.flagger.prometheus_url or "", watch_namespace=ns)
            steps["flagger_phase"] = wait_for(
                lambda: canary_phase(plane, ns) in ("Initialized", "Succeeded") and canary_phase(plane, ns), timeout=180
            )
            wait_for(lambda: _replicas(plane, ns, MODEL) == 0 and _ready_if_any(plane, ns, f"{MODEL}-primary") >= 1, timeout=120)
            steps["flagger_took_over"] = {
                "target_replicas": _replicas(plane, ns, MODEL),
                "primary_ready": _ready_if_any(plane, ns, f"{MODEL}-primary"),
                "flagger_log": plane.log_tail("flagger", 15),
                "route": bool(items(plane, "httproutes", "-n", ns, "--field-selector", f"metadata.name={MODEL}")),
                "paused": json.loads(plane.kubectl("get", "-n", ns, "scaledobject", MODEL, "-o", "json").stdout)["metadata"]
                .get("annotations", {})
                .get("autoscaling.keda.sh/paused-replicas"),
            }
            steps["up_with_flagger"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
            steps["preview_with_flagger"] = run(project, engine, STACK, "preview", "--expect-no-changes")
            steps["target_after_up"] = _replicas(plane, ns, MODEL)

            # a version failing a fifth of its requests: Flagger rolls it back on the platform's own checks (Triton's
            # series for the candidate's real pods), the deploy gate reports it, and Pulumi's next up and preview want
            # nothing of what Flagger owns; reverting the desired version then releases it again
            exporter = stack.enter_context(TritonExporter(ns, "fraud-detector", failure_ratio=0.2))
            exporter.failing = {str(FAILING_VERSION)}
            stack.enter_context(PodWatcher(plane, exporter))
            set_targets(plane, [signals.address, exporter.address])
            edit_stack(project, release_version(FAILING_VERSION))
            steps["up_failing"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
            steps["gate_failing"] = release_gate(plane, ns, FAILING_VERSION)
            steps["after_rollback"] = flagger_owned(plane, ns)
            steps["up_after_rollback"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
            steps["preview_after_rollback"] = run(project, engine, STACK, "preview", "--expect-no-changes")
            steps["after_rollback_up"] = flagger_owned(plane, ns)
            edit_stack(project, release_version(8))
            steps["up_revert"] = run(project, engine, STACK, "up", "--yes", "--skip-preview")
            steps["gate_revert"] = release_gate(plane, ns, 8)
            steps["after_revert"] = flagger_owned(plane, ns)
            steps["up_after_revert"] = run(project, engine, STACK, "up", "--yes", "--skip-preview", "--expect-no-changes")
        elif REQUIRED:
            steps["flagger_missing"] = f"MLOPS_FLAGGER_BIN={flagger_bin!r} holds no flagger; run make cluster"
        steps["audit_final"] = audit_findings(plane)
        steps["destroy"] = run(project, engine, STACK, "destroy", "--yes", "--skip-preview")
        wait_for(lambda: not project_objects(plane), timeout=120)
        steps["after_destroy"] = project_objects(plane)
        yield steps
    finally:
        stack.close()
        plane.stop()


FAILING_VERSION = 9
"""The version the scenario releases with Flagger running: its pods fail a fifth of their requests (the checks allow 1 %)."""


def release_version(version: int) -> Any:
    """Set the released model's version. Its acceptance test goes: the test's webhook would call the load tester by its
    in-cluster name, which no out-of-cluster Flagger resolves (tests/test_flagger.py proves a pre-rollout gate)."""

    def change(config: dict[str, Any]) -> None:
        model = config["mlops-platform:models"][0]
        model["version"] = version
        model["release"]["acceptance_test"] = False

    return change


def release_gate(plane: ControlPlane, namespace: str, version: int) -> tuple[int, list[str]]:
    """What the delivery workflows' release gate (tools/release/release_wait.py) concludes of the model's release."""
    said: list[str] = []
    kubectl = release_wait.kubectl_json(str(plane.bin / "kubectl"), f"--kubeconfig={plane.kubeconfig}")
    code = release_wait.wait(kubectl, namespace, [release_wait.Release("fraud-detector", version)], 300, 1, out=said.append)
    return code, said


def flagger_owned(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    """What Flagger owns of the released model: the specs of its primary, Services and route, the replica counts, the
    ScaledObject's pause, the Canary's phase and the version the primary serves."""
    objects: dict[str, Any] = {}
    for kind, name in (
        ("deployment", f"{MODEL}-primary"),
        ("service", MODEL),
        ("service", f"{MODEL}-primary"),
        ("service", f"{MODEL}-canary"),
        ("httproute", MODEL),
    ):
        done = plane.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
        objects[f"{kind}/{name}"] = json.loads(done.stdout) if done.returncode == 0 else None
    primary = (objects[f"deployment/{MODEL}-primary"] or {}).get("spec", {})
    scaled = json.loads(plane.kubectl("get", "-n", namespace, "scaledobject", MODEL, "-o", "json").stdout)
    return {
        "specs": {key: obj and obj["spec"] for key, obj in objects.items()},
        "target_replicas": _replicas(plane, namespace, MODEL),
        "paused": scaled["metadata"].get("annotations", {}).get("autoscaling.keda.sh/paused-replicas"),
        "phase": canary_phase(plane, namespace),
        "primary_version": primary.get("template", {}).get("metadata", {}).get("labels", {}).get("mlops.platform/model-version"),
        "weights": route_weights(objects[f"httproute/{MODEL}"], MODEL),
    }


def _ready_if_any(plane: ControlPlane, namespace: str, name: str) -> int:
    done = plane.kubectl("get", "-n", namespace, "deployment", name, "-o", "json", check=False)
    return int(json.loads(done.stdout).get("status", {}).get("readyReplicas", 0)) if done.returncode == 0 else 0


def canary_phase(plane: ControlPlane, namespace: str, name: str = MODEL) -> str:
    done = plane.kubectl("get", "-n", namespace, "canary", name, "-o", "json", check=False)
    return str(json.loads(done.stdout).get("status", {}).get("phase", "")) if done.returncode == 0 else ""


def _replicas(plane: ControlPlane, namespace: str, name: str) -> int:
    deployment = json.loads(plane.kubectl("get", "-n", namespace, "deployment", name, "-o", "json").stdout)
    return int(deployment["spec"].get("replicas", 0))


def hpa_metric(plane: ControlPlane, namespace: str) -> dict[str, Any] | None:
    """The external metric KEDA's HPA last read for the model (its current value), or None before the first read."""
    done = plane.kubectl("get", "-n", namespace, "hpa", f"keda-hpa-{MODEL}", "-o", "json", check=False)
    if done.returncode != 0:
        return None
    current = json.loads(done.stdout).get("status", {}).get("currentMetrics") or []
    external = [m["external"] for m in current if m.get("type") == "External" and m.get("external", {}).get("current")]
    return external[0] if external else None


def replicas_managers(plane: ControlPlane, namespace: str, name: str = MODEL) -> list[str]:
    """The field managers that own the Deployment's spec.replicas."""
    deployment = json.loads(plane.kubectl("get", "-n", namespace, "deployment", name, "-o", "json", "--show-managed-fields").stdout)
    return [
        f"{m['manager']}/{m.get('subresource', '')}"
        for m in deployment["metadata"]["managedFields"]
        if "f:replicas" in m.get("fieldsV1", {}).get("f:spec", {})
    ]


def quantity(value: str) -> float:
    """A Kubernetes quantity as the HPA writes metric values: plain or in milli-units."""
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _ready_replicas(plane: ControlPlane, namespace: str, name: str) -> int:
    deployment = json.loads(plane.kubectl("get", "-n", namespace, "deployment", name, "-o", "json").stdout)
    return int(deployment.get("status", {}).get("readyReplicas", 0))


def _pools(cfg: Any) -> dict[str, str | None]:
    return {m.name: m.gpu_pool for m in cfg.models}


# -- tests ----------------------------------------------------------------------------------------


def test_the_stack_matches_the_control_plane_release() -> None:
    """The stack's kubernetes_version is the minor the control plane is built at (manifests are checked against it)."""
    go_mod = (ROOT / "tools" / "cluster" / "kubernetes" / "go.mod").read_text()
    release = re.search(r"^\s*k8s\.io/kubernetes v1\.(\d+)\.\d+", go_mod, flags=re.MULTILINE)
    assert release, "tools/cluster/kubernetes/go.mod requires k8s.io/kubernetes"
    assert stack_config(STACK).cluster.kubernetes_version == f"1.{release.group(1)}"


def test_the_etcd_wrapper_is_formatted() -> None:
    go = shutil.which("gofmt") or "/usr/local/go/bin/gofmt"
    if not Path(go).is_file():
        pytest.skip("gofmt is not installed (make test puts Go on PATH)")
    done = subprocess.run([go, "-l", "etcd"], cwd=ROOT / "tools" / "cluster", capture_output=True, text=True, check=True)
    assert done.stdout == "", f"gofmt -w these files: {done.stdout}"


def test_the_runner_takes_only_a_kubeconfig_of_the_local_control_plane(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    assert "does not exist" in (local_cluster_issue(tmp_path, text) or "")
    kubeconfig = tmp_path / "build" / "cluster" / "kubeconfig"
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text(json.dumps({"clusters": [{"cluster": {"server": "https://prod.example.com:443"}}]}))
    assert "other than the local control plane's: https://prod.example.com:443" in (local_cluster_issue(tmp_path, text) or "")
    kubeconfig.write_text(json.dumps({"clusters": [{"cluster": {"server": "https://127.0.0.1:6443"}}]}))
    assert local_cluster_issue(tmp_path, text) is None


def test_fake_nodes_carry_each_pools_wiring() -> None:
    """Nodes come from the pools' own wiring: labels, taints and GPUs after time-slicing."""
    cfg = stack_config(STACK)
    nodes = {n["metadata"]["name"]: n for n in fake_nodes(cfg)}
    shared = nodes["l4-shared-0"]
    assert shared["metadata"]["labels"][POOL_LABEL] == "l4-shared"
    assert shared["status"]["capacity"]["nvidia.com/gpu"] == "4", "1 GPU time-sliced 4 ways"
    assert shared["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values() if n["metadata"]["name"].startswith("a10g")} == {
        "local-a",
        "local-b",
    }
    assert not nodes["cpu-0"].get("spec", {}).get("taints"), "CPU nodes take whatever tolerates no GPU taint"


def test_control_plane_starts_and_the_stacks_nodes_are_ready(scenario: dict[str, Any]) -> None:
    assert scenario["prepared"]["nodes"] == len(fake_nodes(scenario["config"]))
    assert scenario["prepared"]["crds"] >= 3, "Gateway API, Envoy Gateway and prometheus-operator kinds"
    version = json.loads(scenario["plane"].kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert version.startswith("v1.34."), version


def test_up_deploys_every_workload_ready_on_its_pool(scenario: dict[str, Any]) -> None:
    assert scenario["preview"].returncode == 0, describe(scenario["preview"])
    assert scenario["up"].returncode == 0, describe(scenario["up"])
    state = scenario["after_up"]
    for deployment in state["deployments"]:
        status = deployment.get("status", {})
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], f"{deployment['metadata']['name']} is not Ready: {status}"
    assert {d["metadata"]["name"] for d in state["deployments"]} >= {
        "triton-fraud-detector",
        "triton-text-embedder",
    }
    assert scheduling_problems(state["pods"], state["nodes"], _pools(scenario["config"])) == []


def test_the_api_server_warned_about_nothing(scenario: dict[str, Any]) -> None:
    """Pod Security (warn and audit at restricted), deprecated APIs, unknown fields: no warning, no audit violation."""
    assert scenario["up"].returncode == 0, describe(scenario["up"])
    done = scenario["warnings"]
    assert done.returncode == 0, done.stderr
    assert "Warning:" not in done.stderr, done.stderr
    assert done.stdout.count("(server dry run)") == len(synthesize(STACK).manifests()), done.stdout
    assert scenario["audit_after_up"] == []


def test_the_warning_check_sees_a_pod_security_warning(scenario: dict[str, Any]) -> None:
    """The negative case of the check above: a privileged container in the restricted serving namespace is reported."""
    assert scenario["up"].returncode == 0, describe(scenario["up"])
    done = scenario["bad_warnings"]
    assert "Warning: would violate PodSecurity" in done.stderr and "allowPrivilegeEscalation" in done.stderr, done.stderr


def test_no_controller_failed_to_create_a_pod(scenario: dict[str, Any]) -> None:
    """No FailedCreate: every ServiceAccount existed before its pods, and the quota admitted every pod."""
    for state in ("after_up", "after_bump"):
        assert state in scenario, f"the scenario did not reach {state}"
        events = scenario[state]["events"]
        failed = [f"{e['involvedObject']['name']}: {e['message']}" for e in events if e["reason"] == "FailedCreate"]
        assert failed == [], state


def test_keda_reads_the_triton_signal_and_scales_the_model(scenario: dict[str, Any]) -> None:
    """KEDA's operator and metrics server, out of cluster, answer the HPA from a real Prometheus: it reads a value,
    scales to the maximum when the queue time is 4x the target and back to the minimum when it is idle."""
    assert scenario["up"].returncode == 0, describe(scenario["up"])
    reading = scenario["hpa_reading"]
    assert reading, "the HPA never read its external metric"
    assert reading["metric"]["name"].startswith("s0-prometheus"), reading
    assert 5 <= quantity(reading["current"]["value"]) <= 15, f"the 10 ms queue time the test's series say: {reading}"
    assert scenario["replicas_at_reading"] == 1, "below the target nothing scales"
    assert scenario["replicas_scaled_up"] == 3
    assert quantity(scenario["hpa_scaled_up"]["current"]["value"]) > 100, scenario["hpa_scaled_up"]
    assert scenario["replicas_scaled_down"] == 1
    failed = [f"{e['reason']}: {e['message']}" for e in scenario["hpa_events"] if e["type"] == "Warning"]
    assert not [f for f in failed if "FailedGetExternalMetric" in f or "FailedComputeMetricsReplicas" in f], failed


def test_the_hpa_owns_the_replicas_and_up_preview_refresh_change_nothing(scenario: dict[str, Any]) -> None:
    """After KEDA's HPA scaled the Deployment through the scale subresource: no server-side-apply conflict, no drift,
    no change wanted by `pulumi up`, `pulumi preview` or `pulumi refresh` (all with --expect-no-changes)."""
    assert scenario["up"].returncode == 0, describe(scenario["up"])
    # Pulumi never sets the replica count (KEDA's HPA and, with Flagger running, Flagger do): no apply of Pulumi's owns it.
    # The HPA's writes through the scale subresource leave the field without an owner when no apply ever claimed it.
    managers = scenario["replicas_managers"]
    assert set(managers) <= {"kube-controller-manager/scale"} and not any("pulumi" in m for m in managers), managers
    for step in ("up_after_scale", "preview_after_scale", "refresh_after_scale", "up_after_scale_down"):
        assert scenario[step].returncode == 0, f"{step}\n" + describe(scenario[step])
    assert scenario["replicas_after_scale"] == 3, "pulumi up put the replica count back"


def test_keda_scales_a_model_to_zero_outside_its_active_hours_and_back(scenario: dict[str, Any]) -> None:
    """In its hours the model holds one replica; moved out of them it goes to zero (no pod, no GPU), Pulumi wants no
    change at zero, and back in its hours KEDA starts a replica again; no ScaledObject warning on the way."""
    done = scenario.get("up_out_of_hours")
    assert done is not None and done.returncode == 0, describe(done) if done else "not reached"
    assert scenario["replicas_in_hours"] == 1
    assert scenario["replicas_out_of_hours"] == 0 and SCALES_TO_ZERO not in scenario["pods_out_of_hours"]
    assert "pulumi-kubernetes" not in " ".join(scenario["zero_managers"]), scenario["zero_managers"]
    for step in ("up_at_zero", "preview_at_zero", "up_back_in_hours", "up_after_wake"):
        assert scenario[step].returncode == 0, f"{step}\n" + describe(scenario[step])
    assert scenario["replicas_back_in_hours"] == 1

    # An activation KEDA retried (it polls again, and the replica is back: asserted above) may leave one transient
    # KEDAScaleTargetActivationFailed event, e.g. on an update conflict with the Deployment; and a query KEDA itself
    # cancelled when `pulumi up` changed the ScaledObject (its scale loop restarts) may leave one KEDAScalerFailed
    # "context canceled" (a fresh-clone CI saw one); every other warning fails.
    def transient(e: dict[str, Any]) -> bool:
        if e.get("count", 1) > 2:
            return False
        return e["reason"] == "KEDAScaleTargetActivationFailed" or (
            e["reason"] == "KEDAScalerFailed" and e["message"].endswith("context canceled")
        )

    warnings = [f"{e['involvedObject']['name']}: {e['reason']}: {e['message']}" for e in scenario["scaler_events"] if not transient(e)]
    assert warnings == []


def test_active_hours_hold_now_or_lie_ahead() -> None:
    noon = datetime.datetime(2026, 12, 6, 12, 30, tzinfo=datetime.UTC)
    assert active_hours(True, noon) == {"start": "0 11 * * *", "end": "0 14 * * *", "timezone": "UTC"}
    assert active_hours(False, noon) == {"start": "0 14 * * *", "end": "0 15 * * *", "timezone": "UTC"}
    late = datetime.datetime(2026, 12, 6, 23, 10, tzinfo=datetime.UTC)
    assert active_hours(True, late)["end"] == "0 1 * * *" and active_hours(False, late)["start"] == "0 1 * * *"


def test_a_version_bump_rolls_out_under_the_gpu_quota(scenario: dict[str, Any]) -> None:
    done = scenario.get("up_bump")
    assert done is not None and done.returncode == 0, describe(done) if done else "not reached"
    state = scenario["after_bump"]
    versions = {d["metadata"]["name"]: d["metadata"]["labels"]["mlops.platform/model-version"] for d in state["deployments"]}
    assert versions["triton-fraud-detector"] == "8"
    assert scheduling_problems(state["pods"], state["nodes"], _pools(scenario["config"])) == []
    (quota,) = [q for q in state["quotas"] if "requests.nvidia.com/gpu" in q["spec"]["hard"]]
    used, hard = int(quota["status"]["used"]["requests.nvidia.com/gpu"]), int(quota["status"]["hard"]["requests.nvidia.com/gpu"])
    assert 0 < used <= hard


def test_removing_a_model_deletes_exactly_its_objects(scenario: dict[str, Any]) -> None:
    done = scenario.get("up_remove")
    assert done is not None and done.returncode == 0, describe(done) if done else "not reached"
    before, after = scenario["after_bump"]["objects"], scenario["after_remove"]["objects"]
    gone = before - after
    assert gone and all("text-embedder" in name for _, _, name in gone), sorted(gone)
    assert not any("text-embedder" in name for _, _, name in after), sorted(after)
    assert after - before == set(), "nothing new appears"
    assert "text-embedder" not in scenario["after_remove"]["model_pods"], "its pods are gone too"
    assert "fraud-detector" in scenario["after_remove"]["model_pods"], "the other model still runs"


def test_pulumi_up_and_preview_want_no_change_after_flagger_took_the_model_over(scenario: dict[str, Any]) -> None:
    """Flagger (v1.36.1, out of cluster) initialises the model's release: primary ready, the Deployment Pulumi owns at zero
    replicas, its ScaledObject paused, Flagger's HTTPRoute; `pulumi up` and `pulumi preview --expect-no-changes` then pass
    and leave the Deployment at zero."""
    assert "flagger_missing" not in scenario, scenario.get("flagger_missing")
    if "up_with_flagger" not in scenario:
        pytest.skip("Flagger is not built (make cluster)")
    assert scenario["flagger_phase"] in ("Initialized", "Succeeded")
    took = scenario["flagger_took_over"]
    assert took["target_replicas"] == 0 and took["primary_ready"] >= 1 and took["route"] and took["paused"] == "0", took
    for step in ("up_with_flagger", "preview_with_flagger"):
        assert scenario[step].returncode == 0, f"{step}\n" + describe(scenario[step])
    assert scenario["target_after_up"] == 0, "pulumi up scaled the Deployment Flagger holds at zero"


def test_flagger_rolls_a_failing_version_back_and_pulumi_changes_nothing_it_owns(scenario: dict[str, Any]) -> None:
    """Version 9 fails a fifth of its requests: Flagger's analysis rolls it back (Canary `Failed`, all traffic on the
    primary, still version 8, the candidate at zero) and the release gate fails with Flagger's message; `pulumi up` and
    `pulumi preview --expect-no-changes` then pass and leave every spec Flagger owns, the replica counts and the pause
    as they were. Setting version 8 again is released and promoted, and the gate passes."""
    if "up_with_flagger" not in scenario:
        pytest.skip("Flagger is not built (make cluster)")
    assert scenario["up_failing"].returncode == 0, describe(scenario["up_failing"])
    code, said = scenario["gate_failing"]
    assert code == 1 and any(line.startswith("  FAIL fraud-detector:") for line in said), said
    rolled = scenario["after_rollback"]
    assert rolled["phase"] == "Failed" and rolled["primary_version"] == "8", rolled
    assert rolled["weights"] == (100, 0) and rolled["target_replicas"] == 0 and rolled["paused"] == "0", rolled
    for step in ("up_after_rollback", "preview_after_rollback"):
        assert scenario[step].returncode == 0, f"{step}\n" + describe(scenario[step])
    assert scenario["after_rollback_up"] == rolled, "pulumi up changed what Flagger owns after its rollback"
    assert scenario["up_revert"].returncode == 0, describe(scenario["up_revert"])
    code, said = scenario["gate_revert"]
    assert code == 0, said
    reverted = scenario["after_revert"]
    assert reverted["phase"] == "Succeeded" and reverted["primary_version"] == "8", reverted
    assert reverted["weights"] == (100, 0) and reverted["target_replicas"] == 0, reverted
    assert scenario["up_after_revert"].returncode == 0, describe(scenario["up_after_revert"])


def test_destroy_leaves_nothing_of_the_project(scenario: dict[str, Any]) -> None:
    done = scenario.get("destroy")
    assert done is not None and done.returncode == 0, describe(done) if done else "not reached"
    assert scenario["after_destroy"] == set()


def test_audit_log_shows_no_violation_through_the_whole_scenario(scenario: dict[str, Any]) -> None:
    assert scenario.get("audit_final") == []


def test_a_pod_without_the_gpu_toleration_stays_pending_and_is_reported(tmp_path: Path) -> None:
    """The negative case: the scheduling check fails when a GPU pod lacks its pool's toleration."""
    bin_dir = require_cluster()
    plane = ControlPlane(bin_dir, tmp_path / "cluster")
    plane.start()
    try:
        cfg = stack_config(STACK)
        nodes = fake_nodes(cfg)
        plane.apply(nodes)
        wait_until_ready(plane, [n["metadata"]["name"] for n in nodes])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "untolerated", "namespace": "default", "labels": {"mlops.platform/model": "fraud-detector"}},
            "spec": {
                "nodeSelector": {POOL_LABEL: "l4-shared"},
                "containers": [{"name": "triton", "image": "triton:fake", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
            },
        }
        plane.apply([pod])

        def scheduled_or_refused() -> list[dict[str, Any]]:
            pods = items(plane, "pods", "-n", "default")
            conditions = pods[0].get("status", {}).get("conditions", []) if pods else []
            return pods if any(c["type"] == "PodScheduled" for c in conditions) else []

        pods = wait_for(scheduled_or_refused, timeout=60)
        problems = scheduling_problems(pods, items(plane, "nodes"), _pools(cfg))
        assert len(problems) == 1 and problems[0].startswith("default/untolerated: Pending"), problems
        assert "untolerated taint" in problems[0], problems
    finally:
        plane.stop()
