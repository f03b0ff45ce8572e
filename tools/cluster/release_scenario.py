"""A model released by Flagger on the local control plane: the stack it needs, the objects Pulumi owns, the release's timeline.

tests/test_flagger.py (which asserts on the releases) and tools/bench_release.py (which times rollbacks at
the shipped stacks' settings) set up the same scenario, so they share it here: kwok's CPU nodes, Gateway API's
HTTPRoute CRD, a real Prometheus scraping ``triton_series`` exporters, KEDA, Flagger and its load tester;
the model's Deployment and ScaledObject as the platform declares them; the platform's own Canary and
MetricTemplates (`mlops_platform.serving.release`); and a ``Timeline`` of what the cluster shows.

The platform's modules are imported where used, so that a test module importing this one collects (and skips
where nothing is built) without loading the serving components.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.crd_schemas import crd_documents

from .controlplane import ControlPlane, ControlPlaneError, _free_port
from .flagger import start_flagger, start_loadtester
from .keda import start_keda
from .nodes import CPU_NODE, _node
from .prometheus import set_targets, start_prometheus
from .stack import wait_until_ready
from .triton_series import VERSION_LABEL


def wait_established(plane: ControlPlane, crds: list[str], timeout: float = 60.0) -> None:
    """`kubectl wait` for the CRDs' Established condition, again while a CRD just created has no conditions yet
    (kubectl fails at once on a missing `.status.conditions` instead of waiting for it)."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, int(deadline - time.monotonic()))
        done = plane.kubectl("wait", "--for=condition=Established", f"--timeout={left}s", *(f"crd/{n}" for n in crds), check=False)
        if done.returncode == 0:
            return
        if ".status.conditions accessor error" not in done.stderr or time.monotonic() > deadline:
            raise ControlPlaneError(f"CRDs {', '.join(crds)} not Established: {done.stderr.strip()}")
        time.sleep(0.2)


def start_release_stack(
    plane: ControlPlane,
    cluster_bin: Path,
    flagger_bin: Path,
    targets: list[str],
    namespace: str,
    flagger_namespace: str,
    nodes: int = 2,
) -> tuple[str, str]:
    """On a started control plane: CPU nodes, the HTTPRoute CRD, ``namespace``, Prometheus scraping ``targets``
    (`host:port`), KEDA, Flagger watching ``namespace`` and the load tester; returns Prometheus' and the load tester's URLs."""
    cpu_nodes = [_node(f"cpu-{i}", {}, [], dict(CPU_NODE)) for i in range(nodes)]
    routes = crd_documents({("gateway.networking.k8s.io", "HTTPRoute")})
    plane.apply([*routes, *cpu_nodes, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    wait_established(plane, [c["metadata"]["name"] for c in routes])
    wait_until_ready(plane, [n["metadata"]["name"] for n in cpu_nodes])
    prometheus_url = f"http://127.0.0.1:{_free_port()}"
    start_prometheus(plane, prometheus_url)
    set_targets(plane, targets)
    start_keda(plane, cluster_bin)
    start_flagger(plane, flagger_bin, prometheus_url, flagger_namespace, watch_namespace=namespace)
    loadtester = start_loadtester(plane, flagger_bin, namespace_regexp=f"^{namespace}$")
    return prometheus_url, loadtester


# -- the objects Pulumi owns ----------------------------------------------------------------------


def model_config(name: str, release: dict[str, Any], version: int = 1) -> Any:
    """A CPU-only model of a fixed size of one replica, released as ``release`` says: the release's timing does not
    depend on the size, and one replica each for the primary and the candidate keeps the fake cluster small."""
    from mlops_platform.config.serving import ModelConfig

    return ModelConfig(
        name=name,
        version=version,
        repository_uri="s3://models-bucket/triton",
        gpus_per_replica=0,
        replicas={"min": 1, "max": 1},
        autoscaling={"metric": "queue_time", "target": 50, "cpu_utilization": None},
        release=release,
        inputs=[{"name": "x", "data_type": "FP32", "dims": [4]}],
        outputs=[{"name": "y", "data_type": "FP32", "dims": [1]}],
    )


def target_name(model: str) -> str:
    """The model's Deployment (Flagger's target); Flagger names the primary `<target>-primary`."""
    from mlops_platform.serving.metrics import deployment_name

    return deployment_name(model)


def deployment(model: str, namespace: str, version: int, replicas: int | None = None) -> dict[str, Any]:
    """The model's Deployment as the platform declares it: no replica count (Flagger and KEDA set it), selected by `app`."""
    target = target_name(model)
    labels = {
        "app": target,
        "app.kubernetes.io/name": "triton",
        "app.kubernetes.io/instance": model,
        "mlops.platform/model": model,
        VERSION_LABEL: str(version),
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": target}},
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
        "metadata": {"name": target, "namespace": namespace, "labels": {k: v for k, v in labels.items() if k != VERSION_LABEL}},
        "spec": spec,
    }


def scaled_object(model: Any, namespace: str, prometheus_url: str) -> dict[str, Any]:
    """The model's ScaledObject as the platform declares it: the model's replica bounds and its Triton trigger."""
    from mlops_platform.serving.metrics import scaling_triggers

    target = target_name(model.name)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": target, "namespace": namespace, "labels": {"mlops.platform/model": model.name}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicaCount": model.replicas.min,
            "maxReplicaCount": model.replicas.max,
            "pollingInterval": 5,
            "triggers": scaling_triggers(model, namespace, prometheus_url),
        },
    }


def release_objects(
    model: Any, namespace: str, prometheus_url: str, flagger_namespace: str, confirm_promotion: bool = False
) -> list[dict[str, Any]]:
    """The platform's MetricTemplates and Canary for the model, on the local Prometheus; ``confirm_promotion`` adds the
    platform's confirm-promotion webhook (on the load tester's in-cluster address: a caller running it here moves it).

    The webhooks are the model's own (none unless its release runs the acceptance test, whose request could not
    reach a Service here): a caller adds those it runs on the local load tester.
    """
    from mlops_platform.serving.release import canary_object, metric_templates

    labels = {"mlops.platform/model": model.name}
    templates = metric_templates(model, namespace, prometheus_url, labels)
    canary = canary_object(
        model,
        namespace,
        hostname=f"{model.name}.models.local.test",
        prometheus_url=prometheus_url,
        loadtester_namespace=flagger_namespace,
        confirm_promotion=confirm_promotion,
        service_labels={"app.kubernetes.io/name": "triton"},
        labels=labels,
    )
    return [*templates, canary]


# -- what the cluster shows of a release ----------------------------------------------------------


def route_weights(route: dict[str, Any] | None, target: str) -> tuple[int, int] | None:
    """(primary, canary) weights of the HTTPRoute's weighted rule, as Flagger reads them back."""
    if route is None:
        return None
    refs = {r["name"]: r.get("weight", 1) for r in route["spec"]["rules"][0]["backendRefs"]}
    return refs.get(f"{target}-primary", 0), refs.get(f"{target}-canary", 0)


class Timeline:
    """Every change of the Canary's phase, failed checks and the route's weights, with the time it was seen.

    ``began`` is a ``time.monotonic()``; each entry's ``t`` is seconds since then.
    """

    def __init__(self, plane: ControlPlane, namespace: str, target: str) -> None:
        self.plane, self.namespace, self.target = plane, namespace, target
        self.began = time.monotonic()
        self.entries: list[dict[str, Any]] = []

    def record(self, canary: dict[str, Any] | None, route: dict[str, Any] | None) -> dict[str, Any]:
        """Add an entry if the Canary's status or the route changed since the last one; returns the state seen."""
        status = (canary or {}).get("status", {})
        state = {"phase": status.get("phase"), "failed": status.get("failedChecks", 0), "weights": route_weights(route, self.target)}
        if not self.entries or {k: self.entries[-1][k] for k in state} != state:
            self.entries.append({"t": round(time.monotonic() - self.began, 1), "wall": time.time(), **state})
        return state

    def _get(self, kind: str) -> dict[str, Any] | None:
        done = self.plane.kubectl("get", "-n", self.namespace, kind, self.target, "-o", "json", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def observe(self) -> dict[str, Any]:
        return self.record(self._get("canary"), self._get("httproute"))

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
