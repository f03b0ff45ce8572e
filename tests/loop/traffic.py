"""Run with the loop image's Python: seed the object store and send the mirrored traffic of the end-to-end test.

``seed``: a bucket with each model's reference data; ``send``: KServe v2 requests to the capture service, as
the gateway's mirror sends them; ``labels``: delayed labels for the captured requests of a model.
Scenario per model (argument ``name=kind``): ``healthy``, ``drifted`` (half the features shifted by 1.5 sd),
``degraded`` (labels that agree with the prediction 60 % of the time), ``broken`` (the features tensor lost a
column). Each request goes to real Triton, as the client's, and to the capture service, as the gateway's
mirror. ``corrupt``: a capture object of a model that is not JSON.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import zlib

import numpy as np
import pandas as pd
import s3fs

FEATURES = 64
ROWS = 1500
BATCH = 10


def score(values: np.ndarray) -> np.ndarray:
    """The stand-in model's prediction: a logistic score of the features."""
    return 1 / (1 + np.exp(-values.sum(axis=1) / 8))


def seed(bucket: str, models: list[str]) -> None:
    fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    rng = np.random.default_rng(0)
    for model in models:
        values = rng.normal(0, 1, (5000, FEATURES))
        frame = pd.DataFrame({f"features.{i}": values[:, i] for i in range(FEATURES)})
        frame["output:fraud_probability"] = score(values)
        with fs.open(f"{bucket}/reference/{model}/train.parquet", "wb") as handle:
            frame.to_parquet(handle)


def send(url: str, triton: str, model: str, kind: str) -> None:
    rng = np.random.default_rng(zlib.crc32(model.encode()))  # stable across processes, unlike hash() of a str
    for start in range(0, ROWS, BATCH):
        values = rng.normal(0, 1, (BATCH, FEATURES))
        if kind == "drifted":
            values[:, : FEATURES // 2] += 1.5
        inputs = [{"name": "features", "shape": [BATCH, FEATURES], "datatype": "FP32", "data": values.ravel().tolist()}]
        if kind == "broken":
            inputs = [{"name": "features", "shape": [BATCH, FEATURES - 1], "datatype": "FP32", "data": values[:, 1:].ravel().tolist()}]
        body = json.dumps({"inputs": inputs}).encode()
        served = urllib.request.Request(f"{triton}/v2/models/{model}/infer", data=body, method="POST")
        try:
            urllib.request.urlopen(served, timeout=10).close()
        except urllib.error.HTTPError as error:
            assert kind == "broken", f"{model}: Triton answered {error.code}"  # Triton rejects the wrong shape
        mirrored = urllib.request.Request(
            f"{url}/v2/models/{model}/infer", data=body, method="POST", headers={"x-request-id": f"{model}-{start}"}
        )
        with urllib.request.urlopen(mirrored, timeout=10) as response:
            assert response.status == 204


def labels(bucket: str, model: str, agree: float) -> None:
    """Labels for every captured row of ``model``: the prediction's class ``agree`` of the time, else the other."""
    fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    rng = np.random.default_rng(7)
    rows = []
    for path in fs.find(f"{bucket}/capture/{model}"):
        for line in fs.cat(path).decode().splitlines():
            record = json.loads(line)
            for row, value in enumerate(record["outputs"]["fraud_probability"]["data"]):
                predicted = int(value >= 0.5)
                rows.append(
                    {"request_id": record["request_id"], "row": row, "label": predicted if rng.uniform() < agree else 1 - predicted}
                )
    with fs.open(f"{bucket}/labels/{model}/day.jsonl", "wb") as handle:
        handle.write(pd.DataFrame(rows).to_json(orient="records", lines=True).encode())


def corrupt(bucket: str, model: str) -> None:
    fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    with fs.open(f"{bucket}/capture/{model}/2026/12/07/10/broken.jsonl", "wb") as handle:
        handle.write(b'{"request_id": "1", "inputs": {}}\n{not json\n')


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "seed":
        seed(rest[0], rest[1:])
    elif command == "send":
        send(rest[0], rest[1], rest[2], rest[3])
    elif command == "corrupt":
        corrupt(rest[0], rest[1])
    elif command == "labels":
        labels(rest[0], rest[1], float(rest[2]))
    else:
        raise SystemExit(f"unknown command {command}")
