"""The capture service over HTTP, writing to a local object store."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import ThreadingHTTPServer

from mlops_loop import capture, records

BODY = {"id": "body-id", "inputs": [{"name": "features", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def serve(settings: capture.CaptureSettings) -> tuple[str, capture.Capture, ThreadingHTTPServer]:
    service = capture.Capture(settings)
    service.start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), capture.handler(service))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", service, server


def post(url: str, path: str, body: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST", headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.status


def test_sampled_requests_are_written_as_rows_the_job_reads(tmp_path):
    settings = capture.CaptureSettings(capture_uri=str(tmp_path), models={"fraud": capture.CaptureModel(version="8")}, sampling_percent=100)
    url, service, server = serve(settings)
    try:
        without_id = {k: v for k, v in BODY.items() if k != "id"}
        assert post(url, "/v2/models/fraud/versions/8/infer", without_id, {"x-request-id": "req-1"}) == 204
        assert post(url, "/v2/models/fraud/infer", BODY, {"x-request-id": "edge-generated"}) == 204
        service.flush()
        files = sorted((tmp_path / "fraud").rglob("*.jsonl"))
        assert len(files) == 1 and files[0].relative_to(tmp_path / "fraud").parts[0].isdigit()
        rows = list(records.parse_jsonl(files[0].read_bytes(), str(files[0]), "triton", [], []))
        # the body's id wins over x-request-id (which Envoy may regenerate): labels join on the client's id
        assert [r["request_id"] for r in rows] == ["req-1", "req-1", "body-id", "body-id"]
        assert rows[1] == {"features.0": 3, "features.1": 4, "request_id": "req-1", "row": 1}
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        assert 'mlops_capture_records_total{model="fraud"} 2' in metrics
    finally:
        server.shutdown()
        service.stop()


def test_sampling_zero_keeps_nothing_and_unknown_models_are_404(tmp_path):
    settings = capture.CaptureSettings(capture_uri=str(tmp_path), models={"fraud": capture.CaptureModel(version="8")}, sampling_percent=0)
    url, service, server = serve(settings)
    try:
        for _ in range(20):
            post(url, "/v2/models/fraud/infer", BODY)
        try:
            post(url, "/v2/models/other/infer", BODY)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as error:
            assert error.code == 404
        service.flush()
        assert not list(tmp_path.rglob("*.jsonl"))
        assert 'mlops_capture_sampled_out_total{model="fraud"} 20' in urllib.request.urlopen(url + "/metrics").read().decode()
    finally:
        server.shutdown()
        service.stop()


def test_the_prediction_of_the_stable_version_is_recorded(tmp_path, http_recorder):
    triton, recorder = http_recorder
    recorder.reply = json.dumps({"outputs": [{"name": "score", "shape": [2, 1], "datatype": "FP32", "data": [0.25, 0.75]}]}).encode()
    settings = capture.CaptureSettings(
        capture_uri=str(tmp_path), models={"fraud": capture.CaptureModel(version="8", predict_url=triton)}, sampling_percent=100
    )
    url, service, server = serve(settings)
    try:
        post(url, "/v2/models/fraud/infer", {**BODY, "id": "r"})
        service.flush()
        (path,) = tmp_path.rglob("*.jsonl")
        rows = list(records.parse_jsonl(path.read_bytes(), str(path), "triton", [], []))
        assert [r["output:score"] for r in rows] == [0.25, 0.75]
        assert recorder.requests[0][1] == "/v2/models/fraud/infer"
    finally:
        server.shutdown()
        service.stop()


def test_a_failing_store_drops_and_counts_without_failing_requests(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = capture.CaptureSettings(capture_uri=str(blocker), models={"fraud": capture.CaptureModel(version="8")}, sampling_percent=100)
    url, service, server = serve(settings)
    try:
        assert post(url, "/v2/models/fraud/infer", BODY) == 204
        service.flush()
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        assert 'mlops_capture_write_failures_total{model="fraud"} 1' in metrics
        assert 'mlops_capture_dropped_total{model="fraud"} 1' in metrics
    finally:
        server.shutdown()
        service.stop()


def test_binary_tensors_and_chunked_bodies_are_captured_and_wrong_shapes_dropped(tmp_path):
    """tritonclient sends binary tensors by default (Inference-Header-Content-Length); proxies may chunk bodies."""
    import http.client
    import struct

    settings = capture.CaptureSettings(capture_uri=str(tmp_path), models={"fraud": capture.CaptureModel(version="8")}, sampling_percent=100)
    url, service, server = serve(settings)
    try:
        header = json.dumps(
            {
                "id": "bin-1",
                "inputs": [
                    {"name": "features", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                    {"name": "country", "shape": [2, 1], "datatype": "BYTES", "parameters": {"binary_data_size": 12}},
                ],
            }
        ).encode()
        payload = header + struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<I", 2) + b"de" + struct.pack("<I", 2) + b"fr"
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port))
        connection.request("POST", "/v2/models/fraud/infer", body=payload, headers={"Inference-Header-Content-Length": str(len(header))})
        assert connection.getresponse().read() == b""
        # the same connection, a chunked JSON body
        body = json.dumps({"id": "chunked-1", "inputs": [{"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [5, 6]}]})
        connection.putrequest("POST", "/v2/models/fraud/infer")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for part in (body[:10], body[10:]):
            connection.send(f"{len(part):x}\r\n{part}\r\n".encode())
        connection.send(b"0\r\n\r\n")
        assert connection.getresponse().status == 204
        # a body whose shape does not match its data is what Triton rejects: not captured
        wrong = {"id": "bad", "inputs": [{"name": "features", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}
        assert post(url, "/v2/models/fraud/infer", wrong) == 204
        service.flush()
        (path,) = tmp_path.rglob("*.jsonl")
        rows = list(records.parse_jsonl(path.read_bytes(), str(path), "triton", [], []))
        assert rows == [
            {"features.0": 1.0, "features.1": 2.0, "country": "de", "request_id": "bin-1", "row": 0},
            {"features.0": 3.0, "features.1": 4.0, "country": "fr", "request_id": "bin-1", "row": 1},
            {"features.0": 5, "features.1": 6, "request_id": "chunked-1", "row": 0},
        ]
        assert 'mlops_capture_dropped_total{model="fraud"} 1' in urllib.request.urlopen(url + "/metrics").read().decode()
    finally:
        server.shutdown()
        service.stop()
