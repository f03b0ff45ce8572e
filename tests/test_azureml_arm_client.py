"""The Azure ML traffic resource's ARM client, run for real (azure-mgmt-core's pipeline and ARMPolling) against a
local HTTPS server that answers as ARM does: throttling with Retry-After, transient 5xx, a long-running PUT with an
Azure-AsyncOperation status URL, ETags and 412 on a stale If-Match. Only the server is a stand-in."""

from __future__ import annotations

import copy
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from mlops_platform.endpoints.azureml_traffic import API_VERSION, ArmClient, ConflictError, apply_traffic

from .pki import make_ca, make_server_cert

ENDPOINT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ml/onlineEndpoints/churn"


class Token:
    """A TokenCredential: the policy asks it for the ARM scope."""

    scopes: ClassVar[list[tuple[str, ...]]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        Token.scopes.append(scopes)
        return AccessToken("test-token", int(time.time()) + 3600)


class FakeArm(http.server.BaseHTTPRequestHandler):
    """One online endpoint. ``script`` lists forced answers per method, consumed in order."""

    protocol_version = "HTTP/1.1"
    endpoint: ClassVar[dict[str, Any]] = {}
    version: ClassVar[int] = 1
    script: ClassVar[dict[str, list[tuple[int, dict[str, str]]]]] = {}
    log: ClassVar[list[tuple[float, str, str, dict[str, str]]]] = []
    polls_left: ClassVar[int] = 0
    pending: ClassVar[dict[str, Any] | None] = None

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _forced(self, method: str) -> bool:
        queue = self.script.get(method) or []
        if queue:
            status, headers = queue.pop(0)
            self._send(status, {"error": {"code": str(status), "message": "scripted"}}, headers)
            return True
        return False

    def _record(self, method: str) -> None:
        FakeArm.log.append((time.monotonic(), method, self.path, dict(self.headers)))

    def do_GET(self) -> None:
        self._record("GET")
        if self.path.startswith("/operations/"):
            if FakeArm.polls_left > 0:
                FakeArm.polls_left -= 1
                self._send(200, {"status": "InProgress"}, {"Retry-After": "0"})
                return
            if FakeArm.pending is not None:
                FakeArm.endpoint, FakeArm.pending = FakeArm.pending, None
                FakeArm.version += 1
            self._send(200, {"status": "Succeeded"})
            return
        assert self.path == f"{ENDPOINT}?api-version={API_VERSION}", self.path
        if self._forced("GET"):
            return
        self._send(200, {**copy.deepcopy(FakeArm.endpoint), "etag": f'"{FakeArm.version}"'}, {"ETag": f'"{FakeArm.version}"'})

    def do_PUT(self) -> None:
        self._record("PUT")
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        if self._forced("PUT"):
            return
        if self.headers.get("If-Match") != f'"{FakeArm.version}"':
            self._send(412, {"error": {"code": "PreconditionFailed", "message": "etag mismatch"}})
            return
        FakeArm.pending = {**body, "properties": {**body["properties"], "provisioningState": "Succeeded"}}
        FakeArm.polls_left = 2
        operation = f"https://localhost:{self.server.server_port}/operations/1"  # type: ignore[attr-defined]
        updating = {**body, "properties": {**body["properties"], "provisioningState": "Updating"}}
        self._send(201, updating, {"Azure-AsyncOperation": operation})

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[ArmClient]:
    ca, key, cert = make_ca(tmp_path, "arm")
    cert_file, key_file = make_server_cert(tmp_path, key, cert, "localhost")
    FakeArm.endpoint = {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "tags": {"team": "ml"},
        "properties": {"authMode": "AADToken", "publicNetworkAccess": "Disabled", "provisioningState": "Succeeded", "traffic": {}},
    }
    FakeArm.version, FakeArm.script, FakeArm.log, FakeArm.pending, FakeArm.polls_left = 1, {}, [], None, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeArm)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ArmClient(
            Token(),
            base_url=f"https://localhost:{server.server_address[1]}",
            poll_seconds=0,
            retry_backoff_factor=0.01,
            transport=RequestsTransport(connection_verify=str(ca)),
        )
    finally:
        server.shutdown()
        server.server_close()


def test_the_maps_are_written_through_the_long_running_put(arm: ArmClient):
    applied = apply_traffic(arm, ENDPOINT, {"blue": 90, "green": 10}, {"shadow": 20})
    assert applied == {"traffic": {"blue": 90, "green": 10}, "mirror_traffic": {"shadow": 20}}
    methods = [(method, path.split("?")[0]) for _, method, path, _ in FakeArm.log]
    # read, conditional write, the operation polled until it succeeds, then the final read of the resource
    assert methods == [("GET", ENDPOINT), ("PUT", ENDPOINT), *[("GET", "/operations/1")] * 3, ("GET", ENDPOINT)]
    put_headers = FakeArm.log[1][3]
    assert put_headers["If-Match"] == '"1"' and put_headers["Authorization"] == "Bearer test-token"
    assert Token.scopes[-1] == ("https://management.azure.com/.default",)
    assert FakeArm.endpoint["properties"] == {
        "authMode": "AADToken",
        "publicNetworkAccess": "Disabled",
        "provisioningState": "Succeeded",
        "traffic": {"blue": 90, "green": 10},
        "mirrorTraffic": {"shadow": 20},
    }
    assert FakeArm.endpoint["identity"] == {"type": "SystemAssigned"} and FakeArm.endpoint["tags"] == {"team": "ml"}


def test_throttling_is_retried_after_the_time_arm_asks_for(arm: ArmClient):
    FakeArm.script = {"PUT": [(429, {"Retry-After": "1"})], "GET": [(503, {})]}
    apply_traffic(arm, ENDPOINT, {"blue": 100}, {})
    puts = [when for when, method, path, _ in FakeArm.log if method == "PUT"]
    assert len(puts) == 2 and puts[1] - puts[0] >= 0.9, "the retry waited for Retry-After"
    reads = [m for _, m, path, _ in FakeArm.log if path.startswith(ENDPOINT)]
    assert reads[:2] == ["GET", "GET"]  # the 503 on the first read was retried
    assert FakeArm.endpoint["properties"]["traffic"] == {"blue": 100}


def test_a_stale_etag_is_refused_and_the_write_repeated_from_a_fresh_read(arm: ArmClient):
    FakeArm.version = 7  # someone wrote between our read and our write, once

    real_get = arm.get
    calls = {"n": 0}

    def get_then_concurrent_write(resource_id: str) -> dict[str, Any]:
        read = real_get(resource_id)
        calls["n"] += 1
        if calls["n"] == 1:
            FakeArm.version += 1
        return read

    arm.get = get_then_concurrent_write  # type: ignore[method-assign]
    apply_traffic(arm, ENDPOINT, {"blue": 100}, {})
    statuses = [(m, h.get("If-Match")) for _, m, path, h in FakeArm.log if path.startswith(ENDPOINT) and m == "PUT"]
    assert statuses == [("PUT", '"7"'), ("PUT", '"8"')]
    with pytest.raises(ConflictError):
        arm.put(ENDPOINT, {"properties": {}}, '"1"')


def test_a_failed_operation_is_an_error(arm: ArmClient):
    FakeArm.script = {"PUT": [(400, {})]}
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError):
        apply_traffic(arm, ENDPOINT, {"blue": 100}, {})
