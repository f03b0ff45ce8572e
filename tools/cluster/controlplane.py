"""A local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

Everything listens on 127.0.0.1 at ports picked free at start, and keeps its state under one
directory (default ``build/cluster``): certificates, etcd data, logs, the kubeconfig and
``processes.json``, the PIDs it started. Stopping signals exactly those PIDs (never a process by
name) and only while each still runs the binary it was started as.

The API server runs its default admission plugins (PodSecurity, ResourceQuota and LimitRanger among
them) with RBAC; every component authenticates with its own client certificate (kwok and KEDA as cluster admins). No kubelet runs:
kwok plays the kubelet of the fake nodes that carry its annotation (``fake_node_annotation``),
marking their pods Running and Ready once scheduled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
"""kwok manages the nodes with this annotation (and only those)."""
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
"""kwok hands pod IPs out of this range (its flag takes the first address and the prefix); nothing routes to them."""
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # reads, and the heartbeats and status writes kwok makes for every fake node and pod
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "resources": [{"group": "", "resources": ["events", "nodes/status", "pods/status"]}]},
        # every other write, with its annotations: Pod Security audit violations, deprecated APIs
        {"level": "Metadata"},
    ],
}
"""What the API server writes to ``logs/audit.log``: tests read it for what no client was told."""


class ControlPlaneError(RuntimeError):
    """A component failed to start or become ready; the message names it and the tail of its log."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


FRONT_PROXY_USER = "front-proxy-client"
LOCAL_SANS = "IP:127.0.0.1,DNS:localhost"
"""What a component serving on loopback puts in its certificate (extension API servers are reached as `localhost`)."""


@dataclass(frozen=True)
class Identity:
    """A client certificate: the user (CN) and groups (O) the API server authenticates it as."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


IDENTITIES = (
    Identity("admin", "mlops-admin", ("system:masters",)),
    Identity("controller-manager", "system:kube-controller-manager"),
    Identity("scheduler", "system:kube-scheduler"),
    # kwok writes node and pod status, leases and pod deletion: the node authorizer would allow a real
    # kubelet only its own node, so it runs as a cluster admin, as in kwokctl's clusters.
    Identity("kwok", "kwok-controller", ("system:masters",)),
    # KEDA's operator and metrics server, out of cluster: the chart's ClusterRoles are not installed here
    Identity("keda-operator", "keda-operator", ("system:masters",)),
    Identity("flagger", "flagger", ("system:masters",)),  # Flagger out of cluster, as itself in the audit log; no chart ClusterRole
    # the aggregation layer's client certificate: what the API server presents to extension API servers
    Identity("front-proxy-client", FRONT_PROXY_USER),
)


def issue(pki: Path, name: str, subject: str, extensions: str) -> None:
    """``<name>.key`` and ``<name>.crt`` in ``pki``, signed by its CA (``ca.crt``/``ca.key``)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki)
    (pki / f"{name}.ext").write_text(extensions + "\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=pki,
    )  # fmt: skip


def _certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate, one client certificate per identity, service-account keys."""
    pki.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=mlops-local-ca", cwd=pki)
    sans = "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1"
    issue(pki, "apiserver", "/CN=kube-apiserver", sans)
    for ident in IDENTITIES:
        subject = "".join(f"/O={g}" for g in ident.groups) + f"/CN={ident.user}"
        issue(pki, ident.name, subject, "extendedKeyUsage=clientAuth")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def kubeconfig(server: str, pki: Path, identity: str) -> dict[str, Any]:
    """A kubeconfig for ``identity``, with the certificates inline so the file stands alone."""
    import base64

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [
            {"name": identity, "user": {"client-certificate-data": b64(f"{identity}.crt"), "client-key-data": b64(f"{identity}.key")}}
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": identity}}],
        "current-context": "local",
    }


class ControlPlane:
    """Start, wait for and stop the control plane whose state lives in ``state``."""

    def __init__(self, bin_dir: Path, state: Path) -> None:
        self.bin = bin_dir
        self.state = state
        self.pki = state / "pki"
        self.logs = state / "logs"
        self.kubeconfig = state / "kubeconfig"
        self.processes_file = state / "processes.json"
        self.audit_log = self.logs / "audit.log"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> float:
        """Start every component and wait until the API server is ready; returns the seconds it took."""
        if self.running():
            raise ControlPlaneError(f"a control plane already runs from {self.state} (stop it first)")
        began = time.monotonic()
        for sub in ("pki", "etcd", "logs", "kubeconfigs"):
            path = self.state / sub
            if path.exists():
                subprocess.run(["rm", "-rf", str(path)], check=True)
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)  # the kubeconfigs and keys under it are cluster-admin credentials
        self.logs.mkdir()
        _certificates(self.pki)
        (self.state / "audit-policy.json").write_text(json.dumps(AUDIT_POLICY, indent=2))
        ports = {name: _free_port() for name in ("etcd-client", "etcd-peer", "apiserver", "kwok")}
        server = f"https://127.0.0.1:{ports['apiserver']}"
        configs = self.state / "kubeconfigs"
        configs.mkdir()
        for ident in IDENTITIES:
            path = configs / f"{ident.name}.yaml"
            path.touch(mode=0o600)
            path.write_text(json.dumps(kubeconfig(server, self.pki, ident.name), indent=2))
        self.processes_file.unlink(missing_ok=True)  # a stale record of a plane that is gone (checked above)
        self.processes: dict[str, dict[str, Any]] = {}
        try:
            self._spawn("etcd", self._etcd_args(ports))
            self.wait(lambda: self._etcd_healthy(ports["etcd-client"]), "etcd", timeout)
            self._spawn("kube-apiserver", self._apiserver_args(ports))
            self.wait(lambda: self._get(server, "/readyz") == "ok", "kube-apiserver", timeout)
            self._spawn("kube-controller-manager", self._controller_manager_args(configs))
            self._spawn("kube-scheduler", self._scheduler_args(configs))
            self._spawn("kwok", self._kwok_args(configs, ports))
            # the controllers' own health: the service-account controller creates each namespace's
            # `default` account, the root-CA publisher its `kube-root-ca.crt`
            self.wait(
                lambda: self._exists(server, "/api/v1/namespaces/default/serviceaccounts/default"), "kube-controller-manager", timeout
            )
        except BaseException:
            self.stop()
            raise
        self.kubeconfig.touch(mode=0o600)
        self.kubeconfig.write_text((configs / "admin.yaml").read_text())
        return time.monotonic() - began

    def stop(self, grace: float = 15.0) -> list[str]:
        """Stop exactly the processes this state started, newest first; returns the components stopped.

        A recorded process that could not be stopped stays recorded, so a later stop (or start, which
        refuses while one runs) still sees it.
        """
        processes = self._recorded()
        stopped, left = [], {}
        for name in reversed(list(processes)):
            entry = processes[name]
            pid = int(entry["pid"])
            if not self._is_ours(pid, entry["exe"]):
                continue
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and self._is_ours(pid, entry["exe"]):
                    self._reap(pid)
                    time.sleep(0.1)
                if not self._is_ours(pid, entry["exe"]):
                    break
            if self._is_ours(pid, entry["exe"]):
                left[name] = entry
            else:
                stopped.append(name)
        if left:
            self.processes_file.write_text(json.dumps(left, indent=2))
        else:
            self.processes_file.unlink(missing_ok=True)
        return stopped

    def running(self) -> bool:
        """Whether any process recorded in this state still runs."""
        return any(self._is_ours(int(e["pid"]), e["exe"]) for e in self._recorded().values())

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl as the cluster admin; a failure raises with kubectl's own message."""
        done = subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)}: exit {done.returncode}\n{done.stderr.strip()}")
        return done

    def apply(self, objects: list[dict[str, Any]], manager: str = "mlops-local-cluster") -> None:
        """Server-side apply of ``objects``, as the field manager of the local cluster's set-up."""
        if objects:
            document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
            self.kubectl("apply", "--server-side", f"--field-manager={manager}", "-f", "-", input=document)

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit events written so far (writes only; see ``AUDIT_POLICY``)."""
        if not self.audit_log.is_file():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]

    def server(self) -> str:
        """The API server URL of the running control plane."""
        data = json.loads(self.kubeconfig.read_text())
        server: str = data["clusters"][0]["cluster"]["server"]
        return server

    # -- components -----------------------------------------------------------------------------

    def _etcd_args(self, ports: dict[str, int]) -> list[str]:
        client, peer = f"http://127.0.0.1:{ports['etcd-client']}", f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            "--name=local",
            f"--data-dir={self.state / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=1073741824",
            "--unsafe-no-fsync",  # a throw-away test cluster: no fsync per write
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: dict[str, int]) -> list[str]:
        pki = self.pki
        return [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd-client']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # the default admission plugins (PodSecurity, LimitRanger, ServiceAccount, ResourceQuota,
            # the admission webhooks and policies, ...), named so a change of defaults cannot drop them
            "--enable-admission-plugins=PodSecurity,LimitRanger,ServiceAccount,ResourceQuota",
            # the aggregation layer, for extension API servers such as KEDA's external metrics API
            f"--requestheader-client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-allowed-names={FRONT_PROXY_USER}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            # a loopback address may not be an Endpoints address: no endpoints for the `kubernetes` Service
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={self.state / 'audit-policy.json'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--allow-privileged=false",
            "--profiling=false",
            "--v=1",
        ]

    @staticmethod
    def _controller_args(config: Path) -> list[str]:
        """What the controller manager and the scheduler share: their identity, no serving port, no election."""
        return [
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]

    def _controller_manager_args(self, configs: Path) -> list[str]:
        return [
            *self._controller_args(configs / "controller-manager.yaml"),
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # the HPA controller's sync period, short enough for tests to watch it act
            "--horizontal-pod-autoscaler-sync-period=5s",
        ]

    def _scheduler_args(self, configs: Path) -> list[str]:
        return self._controller_args(configs / "scheduler.yaml")

    def _kwok_args(self, configs: Path, ports: dict[str, int]) -> list[str]:
        key, value = FAKE_NODE_ANNOTATION
        return [
            f"--kubeconfig={configs / 'kwok.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
        ]

    # -- processes ------------------------------------------------------------------------------

    def spawn(self, name: str, exe: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start a process that belongs to this control plane: recorded with the others, stopped with them."""
        self.processes = self._recorded()
        binary = str(exe.resolve())
        log = (self.logs / f"{name}.log").open("ab")
        # its own session: a Ctrl-C in the shell that ran `make cluster-up` does not reach it
        process = subprocess.Popen(
            [binary, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
        log.close()
        self.processes[name] = {"pid": process.pid, "exe": binary}
        self.processes_file.write_text(json.dumps(self.processes, indent=2))

    def _spawn(self, name: str, args: list[str]) -> None:
        self.spawn(name, self.bin / name, args)

    def _recorded(self) -> dict[str, dict[str, Any]]:
        if not self.processes_file.is_file():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(self.processes_file.read_text())
        return data

    @staticmethod
    def _is_ours(pid: int, exe: str) -> bool:
        """The PID still runs the binary recorded for it (a PID reused by another program is left alone),
        also when that binary has since been replaced or deleted on disk."""
        try:
            running = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
            return running == exe and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def wait(self, ready: Any, name: str, timeout: float) -> None:
        """Wait until ``ready()`` holds; fails at once, with the component's log, when any recorded process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for component, entry in self._recorded().items():
                if not self._is_ours(int(entry["pid"]), entry["exe"]):
                    raise ControlPlaneError(f"{component} exited while starting:\n{self.log_tail(component)}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise ControlPlaneError(f"{name} not ready after {timeout:.0f}s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else "(no log)"

    # -- HTTP -----------------------------------------------------------------------------------

    @staticmethod
    def _etcd_healthy(port: int) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def _get(self, server: str, path: str) -> str:
        with urllib.request.urlopen(server + path, context=self._tls(), timeout=5) as response:
            return str(response.read().decode())

    def _exists(self, server: str, path: str) -> bool:
        try:
            self._get(server, path)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise
        return True
