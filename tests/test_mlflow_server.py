"""The real `mlflow server`, started with exactly the command the component renders.

The Deployment and the schema-migration Job are rendered under Pulumi's mocks; their commands, arguments and
plain environment run here unchanged, except for these substitutions, which stand in for the cluster:

* ``MLFLOW_BACKEND_STORE_URI`` (from the Kubernetes Secret, PostgreSQL in the cloud) -> a local SQLite file;
* ``--artifacts-destination`` (the cloud bucket) -> a local folder;
* ``--host 0.0.0.0`` -> ``127.0.0.1`` and ``--port 5000`` -> a free local port (nothing listens beyond loopback);
* ``HOME`` and ``TMPDIR`` (the pod's ``/tmp`` emptyDir) and ``--expose-prometheus`` (the metrics emptyDir) -> folders
  of the test's temporary directory;
* ``POD_IP`` (the Downward API) -> a fixed address, sent in the Host header as Prometheus does when it scrapes the pod;
* ``mlflow`` -> the ``mlflow`` executable of this virtualenv, whose version must equal the image's.

The server runs in its own session (process group) and is stopped by signalling the whole group, so its
uvicorn workers cannot outlive the test. This catches argument drift whenever the pinned MLflow version changes.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws
import pulumi_kubernetes as k8s
import pytest

from mlops_platform.clouds.target import CloudTarget
from mlops_platform.config.mlflow import MlflowConfig
from mlops_platform.mlflow import MlflowServer, MlflowServerArgs
from mlops_platform.mlflow.command import READINESS_PATH
from mlops_platform.monitoring.dashboards import dashboard_texts
from tools.monitoring_readme import EXAMPLE

HOSTNAME = "mlflow.ml.acme.example"
POD_IP = "10.20.30.40"
NAMESPACE = "mlflow"
BIN = Path(sys.executable).parent
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Loopback requests never go through an HTTP proxy from the environment."""


def test_the_pinned_mlflow_is_installed():
    try:
        installed = importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a missing test dependency must fail, not skip
        pytest.fail("mlflow is a test dependency: install the version pinned in requirements-dev.txt")
    assert installed == MlflowConfig().version, "the venv's mlflow must be the version the server image runs"


def test_the_metrics_exporter_is_installed():
    """`--expose-prometheus` needs prometheus-flask-exporter, which the `-full` image has (MLflow's `extras`)."""
    try:
        importlib.metadata.version("prometheus-flask-exporter")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a missing test dependency must fail, not skip
        pytest.fail("prometheus-flask-exporter is a test dependency: pin it in requirements-dev.txt and constraints.txt")


def rendered(monitor, run) -> tuple[dict[str, Any], dict[str, Any]]:
    """The server container and the migration container, as the component renders them (aws, OIDC, public hostname)."""

    def declare() -> None:
        MlflowServer(
            "mlflow",
            MlflowServerArgs(
                config=MlflowConfig(
                    replicas=2,
                    workers=2,
                    hostname=HOSTNAME,
                    auth={"mode": "oidc", "issuer_url": "https://login.acme.example/realms/ml", "client_id": "mlflow"},
                ),
                cloud=CloudTarget(provider="aws", region="us-east-1", account_id="123456789012"),
                cluster_name="ml-prod",
                namespace=NAMESPACE,
                oidc_client_secret=pulumi.Output.secret("unused"),
            ),
            opts=pulumi.ResourceOptions(providers=[pulumi_aws.Provider("aws"), k8s.Provider("k8s")]),
        )

    run(declare)
    containers = {}
    for record in monitor.records:
        if record["type"] in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"):
            containers[record["inputs"]["metadata"]["name"]] = record["inputs"]["spec"]["template"]["spec"]["containers"][0]
    return containers["mlflow-server"], containers["mlflow-db-upgrade-v3-17-2"]


def environment(container: dict[str, Any], tmp: Path, backend: str) -> dict[str, str]:
    """The container's environment: plain values as rendered, the Secret-backed URI replaced by SQLite."""
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8"}
    for var in container["env"]:
        if var.get("valueFrom", {}).get("fieldRef"):
            assert var == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            env[var["name"]] = POD_IP
        elif "valueFrom" in var:
            assert var["name"] == "MLFLOW_BACKEND_STORE_URI" and var["valueFrom"]["secretKeyRef"]["name"] == "mlflow-db"
            env[var["name"]] = backend
        else:
            env[var["name"]] = var["value"]
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    for name in ("HOME", "TMPDIR"):
        env[name] = str(tmp / name.lower())
        Path(env[name]).mkdir(exist_ok=True)
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"  # offline: no telemetry DNS lookups
    return env


def kubelet_expand(args: list[str], env: dict[str, str]) -> list[str]:
    """$(VAR) references in args, expanded from the container's environment as the kubelet does."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in args]


def substitute(args: list[str], **values: str) -> list[str]:
    """Replace the value after each ``--flag`` named in ``values`` (flag_name with underscores)."""
    out = list(args)
    for flag, value in values.items():
        option = "--" + flag.replace("_", "-")
        index = out.index(option)
        out[index + 1] = value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, host: str | None = None, *, data: dict[str, Any] | None = None, origin: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    if origin:
        headers["Origin"] = origin
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with DIRECT.open(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies, already dead, are not counted)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid, stat in (line.split()[:2] for line in out.splitlines() if line.strip()) if not stat.startswith("Z")]


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """TERM the server's whole process group, KILL what is left after ``timeout``; the seconds it took to empty."""
    started = time.monotonic()
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reap the leader
            if not group_members(process.pid):
                return time.monotonic() - started
            time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def server(pulumi_mocks, run_pulumi, tmp_path: Path) -> Iterator[dict[str, Any]]:
    container, migration = rendered(pulumi_mocks, run_pulumi)
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = tmp_path / "artifacts"
    env = environment(container, tmp_path, backend)
    mlflow = str(BIN / "mlflow")

    # 1. The schema migration exactly as the Job runs it (the Deployment waits for it in the cluster).
    assert migration["command"] == ["mlflow"]
    migration_env = environment(migration, tmp_path, backend)
    upgrade = subprocess.run(
        [mlflow, *kubelet_expand(migration["args"], migration_env)],
        env=migration_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]

    # 2. The server with the Deployment's command and arguments.
    port = free_port()
    assert container["command"] == ["mlflow"]
    metrics_dir = tmp_path / "metrics"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert container["args"][container["args"].index("--expose-prometheus") + 1] in mounts  # a writable emptyDir in the pod
    args = substitute(
        kubelet_expand(container["args"], env),
        artifacts_destination=str(artifacts),
        host="127.0.0.1",
        port=str(port),
        expose_prometheus=str(metrics_dir),
    )
    log = (tmp_path / "server.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen([mlflow, *args], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() - started < 120, "no /health after 120 s"
            try:
                if request(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        yield {
            "base": base,
            "port": port,
            "pgid": process.pid,
            "artifacts": artifacts,
            "args": args,
            "env": env,
            "tmp": tmp_path,
            "metrics_dir": metrics_dir,
        }
    finally:
        stopped = stop_group(process)
        process.wait(timeout=10)
        log.close()
        assert group_members(process.pid) == [], "processes of the server's group outlived it"
        assert stopped < 30, f"the server needed SIGKILL ({stopped:.1f} s)"


def test_real_server_with_the_rendered_arguments(server):
    """One server start (about 5 s) covers the HTTP checks and a training client's round trip."""
    check_http(server)
    check_training_client(server)
    check_metrics(server)


def check_http(server: dict[str, Any]) -> None:
    base = server["base"]
    assert request(f"{base}/health") == (200, "OK")
    assert request(f"{base}/version") == (200, MlflowConfig().version)
    assert len(group_members(server["pgid"])) >= 3, "leader and --workers 2 uvicorn workers"

    # --allowed-hosts: the in-cluster Service names and the public host name pass; anything else is a 403.
    api = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    for host in (
        f"mlflow.{NAMESPACE}.svc.cluster.local",
        f"mlflow.{NAMESPACE}.svc.cluster.local:80",
        f"mlflow-server.{NAMESPACE}.svc:5000",
        HOSTNAME,
    ):
        status, body = request(api, host)
        assert status == 200 and json.loads(body)["experiment"]["name"] == "Default", (host, status, body)
    for host in ("evil.example.com", "10.1.2.3:5000", f"mlflow.{NAMESPACE}.svc.cluster.local.evil.example"):
        assert request(api, host)[0] == 403, host
    assert request(f"{base}/health", "evil.example.com")[0] == 200  # probes stay exempt
    # the readiness probe as the kubelet sends it (the pod's address as Host) reads the database: 200 while it answers
    status, body = request(f"{base}{READINESS_PATH}", f"{POD_IP}:5000")
    assert status == 200 and json.loads(body)["experiment"]["name"] == "Default", (status, body)

    # --cors-allowed-origins: the UI's own origin may change state, another site may not.
    create = f"{base}/api/2.0/mlflow/experiments/create"
    status, body = request(create, HOSTNAME, data={"name": "from-the-ui"}, origin=f"https://{HOSTNAME}")
    assert status == 200 and json.loads(body)["experiment_id"], body
    assert request(create, HOSTNAME, data={"name": "csrf"}, origin="https://evil.example")[0] == 403


CLIENT = """
import json, os, sys, tempfile
import mlflow
from mlflow.tracking import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("proof")
with mlflow.start_run() as run:
    mlflow.log_param("lr", "0.01")
    mlflow.log_metric("auc", 0.91)
    path = os.path.join(tempfile.mkdtemp(), "model.txt")
    with open(path, "w") as f:
        f.write("weights v1")
    mlflow.log_artifact(path, artifact_path="model")
client = MlflowClient()
fetched = client.get_run(run.info.run_id)
local = client.download_artifacts(run.info.run_id, "model/model.txt", tempfile.mkdtemp())
print(json.dumps({
    "run_id": run.info.run_id,
    "artifact_uri": fetched.info.artifact_uri,
    "params": fetched.data.params,
    "metrics": fetched.data.metrics,
    "artifact": open(local).read(),
}))
"""


def check_training_client(server: dict[str, Any]) -> None:
    """Training code pointed at the server logs a run with an artifact and reads both back."""
    env = {**server["env"], "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env.pop("MLFLOW_BACKEND_STORE_URI")
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, server["base"]], env=env, cwd=server["tmp"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["params"] == {"lr": "0.01"} and run["metrics"] == {"auc": 0.91}
    assert run["artifact"] == "weights v1"
    assert run["artifact_uri"].startswith("mlflow-artifacts:/")  # proxied: clients never need bucket credentials
    stored = list(server["artifacts"].rglob("model.txt"))
    assert len(stored) == 1 and run["run_id"] in str(stored[0]) and stored[0].read_text() == "weights v1"


def check_metrics(server: dict[str, Any]) -> None:
    """`/metrics` answers Prometheus as it scrapes a pod (Host: <pod IP>:5000) with the series the dashboard reads."""
    from prometheus_client.parser import text_string_to_metric_families  # installed with prometheus-flask-exporter

    status, headers, body = metrics(f"{server['base']}/metrics", f"{POD_IP}:5000")
    assert status == 200, body[:500]
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    families = {f.name: f for f in text_string_to_metric_families(body)}
    requests = families["mlflow_http_request"]  # the parser drops a counter's `_total`
    assert requests.type == "counter" and sum(s.value for s in requests.samples if s.labels.get("status") == "200") > 0
    exposed = {sample.name for family in families.values() for sample in family.samples}
    dashboard = dashboard_texts(EXAMPLE)["mlflow.json"]
    queried = set(re.findall(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{job=\\"mlflow\\"', dashboard)) - {"up"}  # `up` is Prometheus' own
    assert queried and queried <= exposed, f"the MLflow dashboard queries series the server does not expose: {sorted(queried - exposed)}"
    assert any(server["metrics_dir"].glob("*.db")), "multiprocess mode: every worker writes its samples to the directory"
    assert metrics(f"{server['base']}/metrics", "evil.example.com")[0] == 403  # --allowed-hosts still guards /metrics


def metrics(url: str, host: str) -> tuple[int, Any, str]:
    req = urllib.request.Request(url, headers={"Host": host})
    try:
        with DIRECT.open(req, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()
