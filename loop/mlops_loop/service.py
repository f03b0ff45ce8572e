"""What the loop's two HTTP services share: settings from one environment variable, health and metrics
endpoints, and a threaded server that stops on SIGTERM (the pod's shutdown) or SIGINT."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

LOG = logging.getLogger("mlops-loop")
S = TypeVar("S")
METRICS_TYPE = "text/plain; version=0.0.4"


def settings_from_env(variable: str, parse: Callable[[dict[str, Any]], S], log: logging.Logger) -> S | None:
    """The settings in ``variable`` (JSON), or None after logging why they cannot be read."""
    try:
        return parse(json.loads(os.environ[variable]))
    except (KeyError, ValueError, TypeError) as error:
        log.error("cannot read %s: %s: %s", variable, type(error).__name__, error)
        return None


class ServiceHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with ``GET /healthz`` and ``GET /metrics``; subclasses add their POST and ``metrics``."""

    protocol_version = "HTTP/1.1"
    reply_type = "text/plain"
    """The Content-Type of replies other than /metrics."""

    def metrics(self) -> str:
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug(format, *args)

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or self.reply_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, b"ok\n")
        elif self.path == "/metrics":
            self.reply(200, self.metrics().encode(), METRICS_TYPE)
        else:
            self.reply(404)


def serve(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
    """Serve until SIGTERM or SIGINT; requests in flight finish on their own threads."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.serve_forever()
