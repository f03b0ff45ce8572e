"""A real Prometheus on loopback for the local cluster: what KEDA's triggers query.

It scrapes the targets listed in ``prometheus/targets.json`` under the control plane's state (file
service discovery, re-read as the file changes), so a test can add the exporter of the series it
writes without restarting anything. It runs Debian's `prometheus` binary (make system-tools installs
it), with its own data directory, and is recorded with the control plane's processes.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .controlplane import ControlPlane, ControlPlaneError

SCRAPE_INTERVAL = "1s"
LOOPBACK = ("127.0.0.1", "localhost")


def targets_file(plane: ControlPlane) -> Path:
    return plane.state / "prometheus" / "targets.json"


def set_targets(plane: ControlPlane, targets: list[str]) -> None:
    """Replace the scraped targets (`host:port`); Prometheus picks the change up within a few seconds."""
    path = targets_file(plane)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps([{"targets": targets, "labels": {}}] if targets else []))
    staged.replace(path)  # atomic: Prometheus never reads half a file


def start_prometheus(plane: ControlPlane, url: str, timeout: float = 60.0) -> None:
    """Start Prometheus listening at ``url`` (a loopback `http://host:port`) and wait until it is ready."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        raise ControlPlaneError(f"the local Prometheus listens on a loopback http://host:port, not {url!r}")
    binary = shutil.which("prometheus")
    if binary is None:
        raise ControlPlaneError("prometheus is not installed (make system-tools installs Debian's prometheus package)")
    with socket.socket() as probe:  # another Prometheus there would answer our readiness check
        try:
            probe.bind((parts.hostname, parts.port))
        except OSError as error:
            raise ControlPlaneError(f"{parts.hostname}:{parts.port} is in use ({error.strerror}); stop what listens there") from None
    home = plane.state / "prometheus"
    if home.exists():
        shutil.rmtree(home)
    (home / "data").mkdir(parents=True)
    set_targets(plane, [])
    config: dict[str, Any] = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "signals",
                # the exporter writes the pods' own namespace and pod labels, as Prometheus' pod discovery would
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(targets_file(plane))], "refresh_interval": "1s"}],
            }
        ],
    }
    (home / "prometheus.yml").write_text(json.dumps(config, indent=2))
    plane.spawn(
        "prometheus",
        Path(binary),
        [
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={parts.hostname}:{parts.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
    )
    plane.wait(lambda: _ready(url), "prometheus", timeout)


def _ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url.rstrip('/')}/-/ready", timeout=2) as response:
        return bool(response.status == 200)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    from urllib.parse import urlencode

    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query?{urlencode({'query': expr})}", timeout=5) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
        return result
