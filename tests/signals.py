"""Triton's scaling series for the cluster tests, served for a real Prometheus to scrape.

The counters Triton exports (`nv_inference_request_success`, `nv_inference_queue_duration_us`) grow at
rates the test sets, so the queue time per request that KEDA's trigger computes is exactly what the
test chose. The series carry the labels Prometheus' pod discovery would give them (namespace, pod) and
Triton's own (model, version).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TritonSignals:
    """An exporter on 127.0.0.1 of one model's stable pod; ``set_queue_time`` changes the signal."""

    def __init__(self, namespace: str, pod: str, model: str, version: int, requests_per_second: float = 20.0) -> None:
        self.labels = f'namespace="{namespace}",pod="{pod}",model="{model}",version="{version}"'
        self.rps = requests_per_second
        self.queue_ms = 0.0
        self.requests = 0.0
        self.queued_us = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()
        signals = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = signals.exposition().encode()
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
        port = self.server.server_address[1]
        return f"127.0.0.1:{port}"

    def __enter__(self) -> TritonSignals:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

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
