"""The capture service: sampled inference requests of Triton models, written as JSONL to the object store.

The serving gateway mirrors each model's requests here (an HTTPRoute ``RequestMirror`` filter: the
client never waits for this service and never sees its answers). The service keeps
``sampling_percent`` of them, optionally asks the model's stable version for the prediction of the
same input (``predict_url``: a mirror cannot carry the response), and writes batches of records to
``<capture_uri>/<model>/<YYYY>/<MM>/<DD>/<HH>/<time>-<host>-<n>.jsonl``.

Requests may be JSON or use Triton's binary tensor extension, plain or chunked; a request's ``id``
(else its ``x-request-id``) is the key delayed labels join on. Settings: the JSON document in
``CAPTURE_CONFIG``. Endpoints: ``POST /v2/models/<m>[/versions/<v>]/infer``,
``GET /healthz``, ``GET /metrics`` (captured, sampled-out, dropped and failed-write counters).
Writes happen off the request path; at most ``max_buffered_bytes`` of requests wait for the store,
and when it fails the batch is dropped and counted, so a store outage never backs up into memory.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import struct
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from . import records, store
from .service import ServiceHandler, serve, settings_from_env

LOG = logging.getLogger("capture")
_DTYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
"""KServe v2 binary tensor types (Triton's binary data extension), little-endian as Triton sends them."""
_INFER = re.compile(r"^/v2/models/(?P<model>[^/]+)(/versions/(?P<version>[^/]+))?/infer$")


@dataclass(frozen=True)
class CaptureModel:
    version: str
    predict_url: str | None = None


@dataclass(frozen=True)
class CaptureSettings:
    capture_uri: str
    models: dict[str, CaptureModel]
    sampling_percent: float = 10.0
    flush_records: int = 500
    flush_seconds: float = 60.0
    max_buffered_bytes: int = 64 * 1024 * 1024
    port: int = 8080
    host: str = "0.0.0.0"
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> CaptureSettings:
        models = {name: CaptureModel(**m) for name, m in document["models"].items()}
        return cls(**{**document, "models": models})


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    values: dict[tuple[str, str], int] = field(default_factory=dict)

    def inc(self, name: str, model: str, by: int = 1) -> None:
        with self.lock:
            self.values[(name, model)] = self.values.get((name, model), 0) + by

    def text(self) -> str:
        help_text = {
            "mlops_capture_records_total": "Requests captured (written or buffered).",
            "mlops_capture_sampled_out_total": "Mirrored requests not kept by sampling.",
            "mlops_capture_dropped_total": "Records dropped: buffer full, unreadable body or failed write.",
            "mlops_capture_write_failures_total": "Batches the object store refused.",
        }
        lines = []
        with self.lock:
            for name, text in help_text.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
                lines += [f'{name}{{model="{m}"}} {v}' for (n, m), v in sorted(self.values.items()) if n == name]
        return "\n".join(lines) + "\n"


class Capture:
    """Buffers records per model and writes them in batches from a background thread."""

    def __init__(self, settings: CaptureSettings) -> None:
        self.settings = settings
        self.counters = Counters()
        self.lock = threading.Condition()
        self.buffer: dict[str, list[dict[str, Any]]] = {}
        self.sequence = 0
        self.buffered_bytes = 0
        self.flush_due = False
        self.host = socket.gethostname()
        self.stopping = False
        self.random = random.Random()
        self.writer = threading.Thread(target=self._write_loop, name="capture-writer", daemon=True)

    def start(self) -> None:
        self.writer.start()

    def offer(self, model: str, body: dict[str, Any], request_id: str, size: int = 0) -> None:
        """Keep a sampled request, with the stable version's prediction; one that Triton would reject (its
        shapes do not match its data) raises, so the job never reads a record it cannot turn into rows."""
        config = self.settings.models[model]
        if self.random.uniform(0, 100) >= self.settings.sampling_percent:
            self.counters.inc("mlops_capture_sampled_out_total", model)
            return
        inputs = records.triton_request_tensors(body)
        records.rows_from_tensors(request_id, inputs, None)
        outputs = self._predict(config, model, body) if config.predict_url else None
        if outputs is not None:
            try:
                records.rows_from_tensors(request_id, inputs, outputs)
            except records.UnreadableDataError as error:
                LOG.warning("%s: prediction not kept: %s", model, error)
                outputs = None
        record = {
            "time": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
            "model": model,
            "version": config.version,
            "request_id": request_id,
            "inputs": inputs,
            "outputs": outputs,
        }
        with self.lock:
            if self.buffered_bytes + size > self.settings.max_buffered_bytes:
                self.counters.inc("mlops_capture_dropped_total", model)
                return
            self.buffer.setdefault(model, []).append(record)
            self.buffered_bytes += size
            self.counters.inc("mlops_capture_records_total", model)
            if len(self.buffer[model]) >= self.settings.flush_records:
                self.flush_due = True
                self.lock.notify()

    def _predict(self, config: CaptureModel, model: str, body: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        """The stable version's outputs for the same input; None (inputs only) when it does not answer."""
        assert config.predict_url is not None
        url = f"{config.predict_url.rstrip('/')}/v2/models/{model}/infer"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return records.triton_request_tensors(json.loads(response.read()))
        except (OSError, ValueError) as error:
            LOG.warning("%s: no prediction from %s: %s", model, url, error)
            return None

    def _write_loop(self) -> None:
        while True:
            with self.lock:
                # a notify sent while the last flush ran is not lost: the flag says a flush is due
                self.lock.wait_for(lambda: self.flush_due or self.stopping, timeout=self.settings.flush_seconds)
                self.flush_due = False
                stopping = self.stopping
            self.flush()
            if stopping:
                return

    def flush(self) -> None:
        with self.lock:
            batches, self.buffer = self.buffer, {}
            self.buffered_bytes = 0
        for model, batch in batches.items():
            if not batch:
                continue
            now = datetime.now(tz=UTC)
            with self.lock:
                self.sequence += 1
                sequence = self.sequence
            name = f"{now:%Y/%m/%d/%H}/{now:%Y%m%dT%H%M%S%f}-{self.host}-{sequence}.jsonl"
            location = store.open_location(self.settings.capture_uri).child(model, name)
            data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in batch).encode()
            try:
                store.write_bytes(location, data)
            except Exception as error:  # the store is down: drop, count, keep serving
                LOG.error("%s: dropping %d records, write to %s failed: %s", model, len(batch), location.path, error)
                self.counters.inc("mlops_capture_write_failures_total", model)
                self.counters.inc("mlops_capture_dropped_total", model, len(batch))

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.lock.notify()
        self.writer.join(timeout=60)


def _binary_values(datatype: str, raw: bytes) -> list[Any]:
    if datatype == "BYTES":
        values, offset = [], 0
        while offset < len(raw):
            (length,) = struct.unpack_from("<I", raw, offset)
            values.append(raw[offset + 4 : offset + 4 + length].decode("utf-8", errors="replace"))
            offset += 4 + length
        return values
    if datatype not in _DTYPES:
        raise records.UnreadableDataError(f"binary tensor of unsupported type {datatype!r}")
    return [v.item() for v in np.frombuffer(raw, dtype=np.dtype(_DTYPES[datatype]))]


def inference_body(body: bytes, header_length: int | None) -> dict[str, Any]:
    """A KServe v2 request as JSON, whether the client sent JSON or Triton's binary extension
    (``Inference-Header-Content-Length``: a JSON header, then each binary tensor's bytes in order)."""
    if header_length is None:
        document: dict[str, Any] = json.loads(body)
        return document
    document = json.loads(body[:header_length])
    offset = header_length
    for tensor in document.get("inputs", []):
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        raw = body[offset : offset + int(size)]
        if len(raw) != int(size):
            raise records.UnreadableDataError(f"binary tensor {tensor.get('name')!r} is cut short")
        offset += int(size)
        tensor["data"] = _binary_values(str(tensor.get("datatype")), raw)
    return document


def handler(capture: Capture) -> type[ServiceHandler]:
    class Handler(ServiceHandler):
        def metrics(self) -> str:
            return capture.counters.text()

        def _body(self) -> bytes | None:
            """The request body, plain or chunked; None when it is larger than the service accepts."""
            limit = capture.settings.max_body_bytes
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    total += size
                    if total > limit:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length > limit:
                return None
            return self.rfile.read(length)

        def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            match = _INFER.match(self.path.split("?", 1)[0])
            body = self._body()
            if body is None:
                self.close_connection = True
                self.reply(413)
                return
            if not match or match["model"] not in capture.settings.models:
                self.reply(404)
                return
            model = match["model"]
            try:
                header = self.headers.get("Inference-Header-Content-Length")
                document = inference_body(body, int(header) if header else None)
                # the body's id is the client's: labels join on it; Envoy may regenerate x-request-id at the edge
                request_id = str(document.get("id") or self.headers.get("x-request-id") or os.urandom(8).hex())
                capture.offer(model, document, request_id, len(body))
            except (ValueError, records.UnreadableDataError) as error:
                LOG.warning("%s: not captured: %s", model, error)
                capture.counters.inc("mlops_capture_dropped_total", model)
            self.reply(204)

    return Handler


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s capture %(levelname)s %(message)s", stream=sys.stderr)
    settings = settings_from_env("CAPTURE_CONFIG", CaptureSettings.from_json, LOG)
    if settings is None:
        return 2
    capture = Capture(settings)
    capture.start()
    LOG.info(
        "capturing %s%% of %s into %s on :%d", settings.sampling_percent, ", ".join(settings.models), settings.capture_uri, settings.port
    )
    serve(settings.host, settings.port, handler(capture))
    capture.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
