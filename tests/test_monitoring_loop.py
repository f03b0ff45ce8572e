"""The monitoring loop end to end on real components, all on loopback, each started and stopped by PID.

Real Triton (nvidia-pytriton's CPU ``tritonserver`` 2.51, python backend, ``build/triton-venv``) serves a
model with fraud-detector's interface (``tests/loop/model.py``) under seven names. moto's S3 server
stands in for the object store; the capture service, the drift job and the retraining trigger are the
loop image's programs run from ``build/loop-venv``; Prometheus, Alertmanager and the Pushgateway are
Debian's binaries loading the rule files and Alertmanager configuration the platform generates. The
test plays the gateway: each request goes to Triton and, as the mirror, to the capture service, which
asks Triton for the prediction. GitHub's workflow_dispatch API is the test's own HTTP server.

One job run scores five models, one scenario each: ``healthy`` raises nothing; ``drifted`` (half of
its 64 features shifted by 1.5 standard deviations) raises ModelDataDrift; ``degraded`` (labels agree
with the prediction 60 % of the time) raises ModelQualityDegraded; ``broken`` (the features tensor lost
a column; Triton rejects it, the mirror still captures it) raises ModelDataQualityFailed;
``unreadable`` (a capture object that is not JSON) fails the job for that model only and raises
DriftMonitorStale. Drift and quality reach the retraining trigger through Alertmanager, which
dispatches exactly once per model, with the figures, and deduplicates a repeat. Meanwhile steady
traffic on real Triton drives the serving rules: ``erroring`` burns its error budget, ``slow`` breaks
its p99 objective, and ``healthy`` stays silent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from mlops_platform.config.monitoring import DriftMonitorConfig
from mlops_platform.loop_image import settings_json
from mlops_platform.monitoring.alertmanager import alertmanager_config
from mlops_platform.monitoring.rules import rule_file_texts
from mlops_platform.monitoring.spec import AlertSpec, ModelSpec
from mlops_platform.monitoring.workloads import drift_settings
from tools.synthesis import ROOT

LOOP = ROOT / "loop"
SCENARIOS = {"fraud-healthy": "healthy", "fraud-drifted": "drifted", "fraud-degraded": "degraded", "fraud-broken": "broken"}
UNREADABLE = "fraud-unreadable"
SERVING = {"fraud-healthy": 4.0, "fraud-erroring": 4.0, "fraud-slow": 2.0}
"""Models under steady traffic for the serving rules, with their request rate (per second)."""
MODELS = (*SCENARIOS, UNREADABLE, "fraud-erroring", "fraud-slow")
FEATURES = 64
STALE_MINUTES = 2
BUCKET = "loop-e2e"
BINARIES = ("prometheus", "prometheus-alertmanager", "prometheus-pushgateway")


def loop_python() -> Path | None:
    path = Path(os.environ.get("MLOPS_LOOP_PYTHON") or ROOT / "build" / "loop-venv" / "bin" / "python")
    return path if path.exists() else None


def tritonserver() -> Path | None:
    venv = Path(os.environ.get("MLOPS_TRITON_VENV") or ROOT / "build" / "triton-venv")
    found = sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver"))
    return found[0] if found and (found[0] / "backends" / "python" / "triton_python_backend_stub").exists() else None


def _missing() -> str | None:
    if loop_python() is None:
        return "the loop's virtualenv (make loop-env)"
    if tritonserver() is None:
        return "real Triton (make triton-env)"
    absent = [b for b in BINARIES if shutil.which(b) is None]
    return f"{', '.join(absent)} (make system-tools)" if absent else None


if _missing() and os.environ.get("MLOPS_REQUIRE_CLUSTER") != "1":
    pytest.skip(f"the monitoring loop's end-to-end test needs {_missing()}", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60, process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Wait until ``url`` answers; fail at once, with the process's log, if the process serving it has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}:\n{tail}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: no answer after {timeout:g} s:\n{tail}") from None
            time.sleep(0.3)


class Processes:
    """Every process the test starts, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=self.logs)
        self.running.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for _, process in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


class Dispatches(BaseHTTPRequestHandler):
    """GitHub's workflow_dispatch API, recording what it receives."""

    received: ClassVar[list[tuple[str, dict[str, Any], str]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Dispatches.received.append((self.path, body, self.headers.get("Authorization", "")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def alert_spec() -> AlertSpec:
    models = tuple(ModelSpec(name=name, version=1, availability=0.999, p99_latency_ms=100) for name in MODELS)
    return AlertSpec(
        environment="e2e",
        serving_namespace="ml-serving",
        models=models,
        drift=True,
        drift_stale_after_minutes=STALE_MINUTES,
        drift_models=(*SCENARIOS, UNREADABLE),
    )


def model_repository(root: Path) -> Path:
    """One python-backend model per name, on CPU, with fraud-detector's tensors."""
    for name in MODELS:
        (root / name / "1").mkdir(parents=True)
        shutil.copy(ROOT / "tests" / "loop" / "model.py", root / name / "1" / "model.py")
        (root / name / "config.pbtxt").write_text(
            f'name: "{name}"\nbackend: "python"\nmax_batch_size: 16\n'
            f'input [{{ name: "features", data_type: TYPE_FP32, dims: [{FEATURES}] }}]\n'
            'output [{ name: "fraud_probability", data_type: TYPE_FP32, dims: [1] }]\n'
            "instance_group [{ kind: KIND_CPU, count: 1 }]\n"
        )
    return root


class Load:
    """Steady inference traffic on real Triton, one thread per model, until stopped."""

    def __init__(self, triton: str) -> None:
        self.triton = triton
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(m, rate), daemon=True) for m, rate in SERVING.items()]

    def _run(self, model: str, rate: float) -> None:
        body = json.dumps({"inputs": [{"name": "features", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.1] * FEATURES}]}).encode()
        while not self.stopping.wait(1 / rate):
            request = urllib.request.Request(f"{self.triton}/v2/models/{model}/infer", data=body, method="POST")
            # the erroring model answers 400: its failures are what the rules count
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=10).close()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            if thread.ident is not None:  # started (setup may have failed before)
                thread.join(timeout=15)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    python = loop_python()
    assert python is not None, _missing()
    work = tmp_path_factory.mktemp("loop-e2e")
    processes = Processes(work)
    ports = {
        name: free_port() for name in ("s3", "capture", "pushgateway", "alertmanager", "trigger", "prometheus", "http", "grpc", "metrics")
    }
    s3 = f"http://127.0.0.1:{ports['s3']}"
    aws = {
        "AWS_ENDPOINT_URL": s3,
        "AWS_ACCESS_KEY_ID": "e2e",
        "AWS_SECRET_ACCESS_KEY": "e2e",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(LOOP),
    }
    dispatch_url, dispatch_server = serve(Dispatches)
    Dispatches.received = []
    triton = f"http://127.0.0.1:{ports['http']}"
    load = Load(triton)
    try:
        server = tritonserver()
        assert server is not None
        triton_process = processes.start(
            "triton",
            [
                str(server / "bin" / "tritonserver"),
                f"--model-repository={model_repository(work / 'models')}",
                f"--backend-directory={server / 'backends'}",
                "--http-address=127.0.0.1",
                f"--http-port={ports['http']}",
                "--grpc-address=127.0.0.1",
                f"--grpc-port={ports['grpc']}",
                "--metrics-address=127.0.0.1",
                f"--metrics-port={ports['metrics']}",
                "--metrics-config=summary_latencies=true",
            ],
            # the python backend's stub embeds Python 3.11 and finds numpy through the venv's interpreter on PATH
            {"PATH": f"{server.parents[4] / 'bin'}:{os.environ['PATH']}"},
        )
        processes.start("s3", [str(python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports["s3"])])
        wait_http(f"{s3}/moto-api/")
        capture = {
            "capture_uri": f"s3://{BUCKET}/capture",
            "sampling_percent": 100,
            "flush_seconds": 1,
            "host": "127.0.0.1",
            "port": ports["capture"],
            "models": {name: {"version": "1", "predict_url": triton} for name in (*SCENARIOS, UNREADABLE)},
        }
        processes.start("capture", [str(python), "-m", "mlops_loop.capture"], {**aws, "CAPTURE_CONFIG": json.dumps(capture)})
        processes.start(
            "pushgateway", ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{ports['pushgateway']}", "--log.level=warn"]
        )
        trigger_url = f"http://127.0.0.1:{ports['trigger']}"
        (work / "token").write_text("ghs_e2e\n")
        retrain = {
            "record_uri": f"s3://{BUCKET}/capture-state/retraining",
            "models": [*SCENARIOS, UNREADABLE],
            "window_minutes": 1440,
            "host": "127.0.0.1",
            "port": ports["trigger"],
            "github": {
                "repository": "acme/ml-models",
                "workflow": "retrain.yml",
                "token_file": str(work / "token"),
                "api_url": dispatch_url,
            },
        }
        processes.start("trigger", [str(python), "-m", "mlops_loop.retrain"], {**aws, "RETRAIN_CONFIG": json.dumps(retrain)})
        am = alertmanager_config([], f"{trigger_url}/alerts")
        am["templates"] = []
        (work / "alertmanager.yml").write_text(yaml.safe_dump(am))
        processes.start(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
        )
        rule_files = []
        for file, text in rule_file_texts(alert_spec()).items():
            if file in ("drift.rules.yaml", "serving.rules.yaml"):
                (work / file).write_text(text)
                rule_files.append(str(work / file))
        prometheus = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
            "scrape_configs": [
                {"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [f"127.0.0.1:{ports['pushgateway']}"]}]},
                # as the ServiceMonitor relabels it in the cluster: job triton, the serving namespace
                {
                    "job_name": "triton",
                    "static_configs": [{"targets": [f"127.0.0.1:{ports['metrics']}"], "labels": {"namespace": "ml-serving"}}],
                },
            ],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
        processes.start(
            "prometheus",
            [
                "prometheus",
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                "--log.level=warn",
            ],
        )
        for port, path in ((ports["capture"], "/healthz"), (ports["trigger"], "/healthz"), (ports["pushgateway"], "/-/ready")):
            wait_http(f"http://127.0.0.1:{port}{path}")
        wait_http(f"http://127.0.0.1:{ports['alertmanager']}/-/ready")
        wait_http(f"http://127.0.0.1:{ports['prometheus']}/-/ready")
        # seven python-backend models, each with its own stub process: slow on two busy cores
        wait_http(f"{triton}/v2/health/ready", timeout=300, process=triton_process, log=work / "triton.log")
        load.start()

        def helper(*args: str) -> None:
            subprocess.run([str(python), str(ROOT / "tests" / "loop" / "traffic.py"), *args], env={**os.environ, **aws}, check=True)

        helper("seed", BUCKET, *SCENARIOS, UNREADABLE)
        for name, kind in SCENARIOS.items():
            helper("send", f"http://127.0.0.1:{ports['capture']}", triton, name, kind)
        helper("corrupt", BUCKET, UNREADABLE)
        time.sleep(3)  # the capture service writes every second
        for name, kind in SCENARIOS.items():
            if kind != "broken":
                helper("labels", BUCKET, name, "0.6" if kind == "degraded" else "1.0")

        drift = DriftMonitorConfig(
            enabled=True,
            image="registry.example/mlops-loop:0.1.0",
            reference_data_uri=f"s3://{BUCKET}/reference",
            capture_uri=f"s3://{BUCKET}/capture",
            labels_uri=f"s3://{BUCKET}/labels",
        )
        settings = drift_settings(drift, "monitoring", [(name, 1) for name in (*SCENARIOS, UNREADABLE)], "e2e")
        settings["pushgateway_url"] = f"http://127.0.0.1:{ports['pushgateway']}"
        settings["settle_seconds"] = 0  # the capture was written seconds ago; a cluster waits for uploads to settle
        job = subprocess.run(
            [str(python), "-m", "mlops_loop.drift"],
            env={**os.environ, **aws, "DRIFT_CONFIG": settings_json(settings)},
            capture_output=True,
            text=True,
            check=False,
        )
        yield {"ports": ports, "job": job, "processes": processes, "trigger": trigger_url, "aws": aws, "python": python}
    finally:
        load.stop()
        processes.stop()
        dispatch_server.shutdown()


def prometheus_alerts(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as response:
        return list(json.loads(response.read())["data"]["alerts"])


def wait_for(predicate: Any, timeout: float, step: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def test_the_job_scores_every_readable_model_and_fails_for_the_unreadable_one(loop):
    job = loop["job"]
    assert job.returncode == 1, job.stderr
    for name in SCENARIOS:
        assert f"{name}: scored 1500 captured rows" in job.stderr
    assert f"{UNREADABLE}: run failed, nothing pushed: no captured line could be read" in job.stderr
    assert "broken.jsonl:2: not JSON" in job.stderr


def test_each_scenario_raises_its_alert_and_the_healthy_model_none(loop):
    port = loop["ports"]["prometheus"]
    expected = {("ModelDataDrift", "fraud-drifted"), ("ModelQualityDegraded", "fraud-degraded"), ("ModelDataQualityFailed", "fraud-broken")}

    def firing() -> set[tuple[str, str]] | None:
        found = {
            (a["labels"]["alertname"], a["labels"].get("model", ""))
            for a in prometheus_alerts(port)
            if a["state"] == "firing" and a["labels"]["category"] in ("drift", "quality", "data_quality")
        }
        return found if expected <= found else None

    found = wait_for(firing, timeout=150)
    assert found is not None, f"firing: {prometheus_alerts(port)}"
    assert found == expected  # nothing for the healthy model, no drift for the degraded one, no quality alert for the drifted one
    broken = [a for a in prometheus_alerts(port) if a["labels"]["alertname"] == "ModelDataQualityFailed"]
    assert {a["labels"]["check"] for a in broken} == {"missing_columns"}  # features.3 is gone


def test_drift_and_quality_dispatch_one_retraining_each_with_the_figures(loop):
    def dispatched() -> dict[str, dict[str, Any]] | None:
        by_model = {body["inputs"]["model"]: body for _, body, _ in Dispatches.received}
        return by_model if {"fraud-drifted", "fraud-degraded"} <= set(by_model) else None

    by_model = wait_for(dispatched, timeout=200)
    assert by_model is not None, f"dispatches: {Dispatches.received}\n{loop['processes'].log('trigger')}"
    assert sorted(by_model) == ["fraud-degraded", "fraud-drifted"]  # data quality never triggers retraining
    assert all(path == "/repos/acme/ml-models/actions/workflows/retrain.yml/dispatches" for path, _, _ in Dispatches.received)
    assert all(auth == "Bearer ghs_e2e" for _, _, auth in Dispatches.received)
    drifted = by_model["fraud-drifted"]["inputs"]
    assert drifted["alert"] == "ModelDataDrift" and drifted["version"] == "1"
    figures = {f["feature_set"]: float(f["value"]) for f in json.loads(drifted["figures"])["ModelDataDrift"]}
    # 32 of the 64 features are shifted and all of them drift; an unshifted one may cross the distance threshold by
    # sampling noise (1,500 captured rows against 5,000 reference rows): a half, plus at most two false positives
    assert 0.5 <= figures["inputs"] <= 0.5 + 2 / FEATURES and figures["predictions"] == 1.0
    degraded = json.loads(by_model["fraud-degraded"]["inputs"]["figures"])["ModelQualityDegraded"]
    assert {f["metric"] for f in degraded} >= {"accuracy"}
    assert all(float(f["value"]) < 0.8 for f in degraded if f["metric"] == "accuracy")

    # a repeat of the same alert (Alertmanager's repeat, or a second replica's) inside the window changes nothing
    count = len(Dispatches.received)
    repeat = {"alerts": [{"status": "firing", "labels": {"alertname": "ModelDataDrift", "model": "fraud-drifted", "category": "drift"}}]}
    request = urllib.request.Request(loop["trigger"] + "/alerts", data=json.dumps(repeat).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"triggered": []}
    assert len(Dispatches.received) == count == 2
    with urllib.request.urlopen(loop["trigger"] + "/metrics", timeout=5) as response:
        assert 'mlops_retraining_triggers_total{model="fraud-drifted",outcome="deduplicated"} 1' in response.read().decode()


def test_a_model_whose_data_cannot_be_read_goes_stale(loop):
    port = loop["ports"]["prometheus"]

    def stale() -> list[dict[str, Any]]:
        return [a for a in prometheus_alerts(port) if a["labels"]["alertname"] == "DriftMonitorStale" and a["state"] == "firing"]

    found = wait_for(stale, timeout=STALE_MINUTES * 60 + 60)
    assert [(a["labels"]["model"], a["labels"]["reason"]) for a in found] == [(UNREADABLE, "missing")]


def test_serving_rules_on_real_triton_metrics(loop):
    """Errors burn the erroring model's budget, the slow model breaks its p99; the healthy model stays silent."""
    port = loop["ports"]["prometheus"]
    required = {("ModelErrorBudgetFastBurn", "fraud-erroring"), ("ModelLatencyP99High", "fraud-slow")}

    def serving() -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("model", ""))
            for a in prometheus_alerts(port)
            if a["state"] == "firing" and a["labels"]["category"] in ("availability", "latency")
        }

    found = wait_for(lambda: serving() if required <= serving() else None, timeout=300)
    assert found is not None, f"firing: {serving()}"
    # the healthy model, and those whose requests Triton served, stay silent (Triton rejects the broken model's)
    assert not [alert for alert in found if alert[1] in ("fraud-healthy", "fraud-drifted", "fraud-degraded")]
