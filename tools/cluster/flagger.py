"""Flagger's controller and its load tester, run out of cluster against the local control plane.

What Flagger's chart would install, made for processes on this machine:
- Flagger's CRDs (Canary, MetricTemplate, AlertProvider) from the pinned module and its namespace;
  the CRDs of what the Canaries route and scale (Gateway API's HTTPRoute, KEDA's ScaledObject) are the
  caller's, as a cluster's own installations would bring them;
- the controller, as its own identity (`flagger`, a cluster admin: the chart's ClusterRole is not
  installed), with the platform's chart settings: the `app` selector label, the platform's label
  prefixes copied onto the primary, no leader election;
- the load tester's task API (``tools/cluster/flagger/loadtester``), on 127.0.0.1: it runs the shell
  commands of the Canaries' webhooks on this machine.

Flagger serves /healthz and /metrics on all interfaces (its `-port` takes no address); the port is picked
free and only the readiness check connects to it. Both processes are recorded with the control plane's
and stopped with them.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from tools.crd_schemas import crd_documents

from .controlplane import ControlPlane, ControlPlaneError, _free_port

KINDS = {("flagger.app", kind) for kind in ("Canary", "MetricTemplate", "AlertProvider")}
"""Every CRD of Flagger's release: the controller lists all three before it starts."""
SELECTOR_LABELS = "app"
"""The pod label Flagger selects by and rewrites to `<value>-primary` on the primary (the models' Deployments select by `app`)."""
INCLUDE_LABEL_PREFIX = "app.kubernetes.io,mlops.platform"
"""Labels (and annotations) Flagger copies from the Deployment onto the primary and its ScaledObject."""


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
        return bool(response.status == 200)


def _require(binary: Path) -> None:
    if not binary.is_file():
        raise ControlPlaneError(f"{binary} is not built (make cluster builds Flagger with tools/cluster/build_flagger.sh)")


def start_flagger(
    plane: ControlPlane,
    bin_dir: Path,
    prometheus_url: str,
    namespace: str = "flagger-system",
    provider: str = "gatewayapi:v1",
    watch_namespace: str = "",
    log_level: str = "info",
    timeout: float = 60.0,
) -> str:
    """Install Flagger's CRDs and namespace, start the controller and wait for its health endpoint; returns its URL.

    ``prometheus_url`` is Flagger's `-metrics-server` (its built-in checks and the start-up probe; each
    MetricTemplate names its own address). ``watch_namespace`` empty watches every namespace.
    """
    _require(bin_dir / "flagger")
    crds = crd_documents(KINDS)
    plane.apply([*crds, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    plane.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names)
    port = _free_port()
    kubeconfig = plane.state / "kubeconfigs" / "flagger.yaml"
    args = [
        f"-kubeconfig={kubeconfig}",
        f"-mesh-provider={provider}",
        f"-metrics-server={prometheus_url.rstrip('/')}",
        f"-port={port}",
        f"-selector-labels={SELECTOR_LABELS}",
        f"-include-label-prefix={INCLUDE_LABEL_PREFIX}",
        "-enable-leader-election=false",
        # new Canaries are picked up at this period; each Canary then runs at its own analysis interval
        "-control-loop-interval=2s",
        f"-log-level={log_level}",
    ]
    if watch_namespace:
        args.append(f"-namespace={watch_namespace}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(plane.state)}
    plane.spawn("flagger", bin_dir / "flagger", args, env)
    url = f"http://127.0.0.1:{port}"
    plane.wait(lambda: _healthy(url), "flagger", timeout)
    return url


def start_loadtester(plane: ControlPlane, bin_dir: Path, namespace_regexp: str = "", timeout: float = 30.0) -> str:
    """Start the load tester's task API on a free loopback port and wait for its health endpoint; returns its URL.

    Its webhooks' commands run here, as this user, with this PATH (`type: bash` answers when the command
    ends and fails the webhook with it; the default `cmd` only queues the command and always succeeds).
    """
    _require(bin_dir / "loadtester")
    port = _free_port()
    args = [f"-listen-address=127.0.0.1:{port}", "-timeout=5m", "-log-level=info"]
    if namespace_regexp:
        args.append(f"-namespace-regexp={namespace_regexp}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(plane.state)}
    plane.spawn("loadtester", bin_dir / "loadtester", args, env)
    url = f"http://127.0.0.1:{port}"
    plane.wait(lambda: _healthy(url), "loadtester", timeout)
    return url
