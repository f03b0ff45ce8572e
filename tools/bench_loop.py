"""The drift job's run time and peak memory at 10k, 100k and 1M captured rows x 20 features (``make bench``).

Each size is one run of the real job (``python -m mlops_loop.drift`` from ``build/loop-venv``) on a
local object store: a 50,000-row reference in Parquet and the capture as the capture service writes it
(JSONL, batches of 10 rows, 50,000 rows per object), pushing to a Pushgateway stand-in. Peak memory is
the job process's maximum resident set (``wait4``), the time its wall time, interpreter start included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .synthesis import ROOT

LOOP_SIZES = (10_000, 100_000, 1_000_000)
FEATURES = 20
REFERENCE_ROWS = 50_000
ROWS_PER_OBJECT = 50_000
BATCH = 10


def loop_python() -> Path | None:
    path = Path(os.environ.get("MLOPS_LOOP_PYTHON") or ROOT / "build" / "loop-venv" / "bin" / "python")
    return path if path.exists() else None


class _Sink(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def write_data(root: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(0, 1, (REFERENCE_ROWS, FEATURES)), columns=[f"features.{i}" for i in range(FEATURES)])
    (root / "reference" / "bench").mkdir(parents=True)
    reference.to_parquet(root / "reference" / "bench" / "reference.parquet")
    folder = root / "capture" / "bench" / "2026" / "12" / "07" / "10"
    folder.mkdir(parents=True)
    for part, start in enumerate(range(0, rows, ROWS_PER_OBJECT)):
        count = min(ROWS_PER_OBJECT, rows - start)
        values = rng.normal(0.05, 1, (count, FEATURES)).astype(np.float32)
        with open(folder / f"part-{part:05d}.jsonl", "w", encoding="utf-8") as handle:
            for offset in range(0, count, BATCH):
                block = values[offset : offset + BATCH]
                record = {
                    "request_id": f"r{start + offset}",
                    "inputs": {"features": {"shape": [len(block), FEATURES], "datatype": "FP32", "data": block.ravel().tolist()}},
                    "outputs": None,
                }
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def run_job(python: Path, rows: int, pushgateway: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        root = Path(tmp)
        write_data(root, rows)
        settings = {
            "pushgateway_url": pushgateway,
            "state_uri": str(root / "state"),
            "min_rows": 1000,
            "models": [
                {
                    "name": "bench",
                    "version": "1",
                    "capture_uri": str(root / "capture" / "bench"),
                    "reference_uri": str(root / "reference" / "bench"),
                }
            ],
        }
        (root / "settings.json").write_text(json.dumps(settings))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "loop")}
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(python), "-m", "mlops_loop.drift", "--config", str(root / "settings.json")], env=env, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        log = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"the drift job failed at {rows} rows: {log[-2000:]}")
        return {"rows": rows, "features": FEATURES, "seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def bench_loop() -> dict[str, Any]:
    python = loop_python()
    if python is None:
        return {"skipped": "the loop's virtualenv is not built (make loop-env)"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runs = []
        for rows in LOOP_SIZES:
            print(f"bench: drift job at {rows} rows ...", file=sys.stderr, flush=True)
            runs.append(run_job(python, rows, f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()
    return {"reference_rows": REFERENCE_ROWS, "max_rows_scored": 200_000, "runs": runs}


if __name__ == "__main__":
    print(json.dumps(bench_loop(), indent=2))
