"""Triton's inference series for the real pods of models on the local control plane, for Prometheus to scrape.

No Triton runs on kwok's fake nodes, yet Flagger's checks (the platform's MetricTemplates) and KEDA's
triggers query Triton's series (`nv_inference_*`) by the pods' names. ``TritonExporter`` writes them for
every running pod of one model, labelled with the pod's real name and version, so those queries select the
pods exactly as in a cluster; ``PodWatcher`` keeps each exporter's pods those running in the cluster.
tests/test_flagger.py and tools/bench_release.py both release models against it. ``TritonSignals`` is the
scaling signal of one named pod at a queue time the test sets (tests/test_cluster.py: KEDA's HPA).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Self

from .controlplane import ControlPlane

VERSION_LABEL = "mlops.platform/model-version"
"""The pod label carrying the model version the pod serves (the exporter's `version` label)."""
INSTANCE_LABEL = "app.kubernetes.io/instance"
"""The pod label naming the model, on the candidate's and the primary's pods alike."""


class _Pod:
    def __init__(self, version: str, failure_ratio: float) -> None:
        self.version = version
        self.failure_ratio = failure_ratio
        self.since = time.monotonic()


class _Exposition:
    """An exposition endpoint on 127.0.0.1 for Prometheus to scrape: ``exposition()`` is the text it serves."""

    def __init__(self) -> None:
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = served.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def exposition(self) -> str:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class TritonExporter(_Exposition):
    """Triton's inference series of every running pod of the model, on 127.0.0.1, for Prometheus to scrape.

    Each pod's counters start when the pod is first seen Running and grow at 20 requests a second; a pod of
    a version in ``failing`` fails ``failure_ratio`` of them. Latencies are healthy for every pod (40 ms p99,
    2 ms queue), so only the error ratio tells the versions apart. ``first_failure_served`` is the
    ``time.monotonic()`` of the first scrape answered with a failure in it: when a failing pod's errors became
    visible.
    """

    RPS = 20.0
    LATENCY_US = 25_000.0
    QUEUE_US = 2_000.0
    QUANTILES: ClassVar[dict[str, float]] = {"0.5": 20_000.0, "0.9": 30_000.0, "0.99": 40_000.0}

    def __init__(self, namespace: str, model: str, failure_ratio: float) -> None:
        self.namespace, self.model = namespace, model
        self.failure_ratio = failure_ratio
        self.failing: set[str] = set()
        self.pods: dict[str, _Pod] = {}
        self.first_failure_served: float | None = None
        self.lock = threading.Lock()
        super().__init__()

    def set_pods(self, running: dict[str, str]) -> None:
        """The running pods now (name to version label): new ones start counting, gone ones stop being exported."""
        with self.lock:
            for name in set(self.pods) - set(running):
                del self.pods[name]
            for name, version in running.items():
                if name not in self.pods:
                    self.pods[name] = _Pod(version, self.failure_ratio if version in self.failing else 0.0)

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
    """Keeps each exporter's pods those of its model running in the cluster (polled every half second).

    One `kubectl get pods` per namespace and poll, whatever the number of models: several releases watched at
    once cost the machine no more than one.
    """

    def __init__(self, plane: ControlPlane, *exporters: TritonExporter) -> None:
        self.plane, self.exporters = plane, exporters
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _poll(self, namespace: str, exporters: dict[str, TritonExporter]) -> None:
        selector = f"{INSTANCE_LABEL} in ({','.join(sorted(exporters))})"
        done = self.plane.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json", check=False)
        if done.returncode != 0:
            return
        running: dict[str, dict[str, str]] = {model: {} for model in exporters}
        for pod in json.loads(done.stdout)["items"]:
            meta = pod["metadata"]
            if pod.get("status", {}).get("phase") == "Running" and not meta.get("deletionTimestamp"):
                running[meta["labels"][INSTANCE_LABEL]][meta["name"]] = meta["labels"].get(VERSION_LABEL, "")
        for model, exporter in exporters.items():
            exporter.set_pods(running[model])

    def _run(self) -> None:
        by_namespace: dict[str, dict[str, TritonExporter]] = {}
        for exporter in self.exporters:
            by_namespace.setdefault(exporter.namespace, {})[exporter.model] = exporter
        while not self.stop.is_set():
            for namespace, exporters in by_namespace.items():
                self._poll(namespace, exporters)
            self.stop.wait(0.5)

    def __enter__(self) -> PodWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class TritonSignals(_Exposition):
    """The scaling series of one model's pod (``pod``): its counters (`nv_inference_request_success`,
    `nv_inference_queue_duration_us`) grow at ``requests_per_second`` and at the queue time ``set_queue_time`` chose,
    so the queue time per request KEDA's trigger computes is exactly that."""

    def __init__(self, namespace: str, pod: str, model: str, version: int, requests_per_second: float = 20.0) -> None:
        self.labels = f'namespace="{namespace}",pod="{pod}",model="{model}",version="{version}"'
        self.rps = requests_per_second
        self.queue_ms = 0.0
        self.requests = 0.0
        self.queued_us = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()
        super().__init__()

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self.last = now - self.last, now
        self.requests += self.rps * elapsed
        self.queued_us += self.rps * self.queue_ms * 1000 * elapsed

    def set_queue_time(self, milliseconds: float) -> None:
        """From now on every request waits ``milliseconds`` in the queue."""
        with self.lock:
            self._advance()
            self.queue_ms = milliseconds

    def exposition(self) -> str:
        with self.lock:
            self._advance()
            return (
                "# TYPE nv_inference_request_success counter\n"
                f"nv_inference_request_success{{{self.labels}}} {self.requests:.3f}\n"
                "# TYPE nv_inference_queue_duration_us counter\n"
                f"nv_inference_queue_duration_us{{{self.labels}}} {self.queued_us:.3f}\n"
            )
