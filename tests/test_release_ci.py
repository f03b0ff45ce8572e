"""The CI helpers: affected stacks (real git history), the PR comment upsert (fake GitHub API on
localhost) and the canary health gate (fake Prometheus on localhost)."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.test_release_repo import commit, git
from tools.release import affected, health_gate, pr_comment
from tools.synthesis import ROOT

from .conftest import SHIPPED_STACKS, shipped_stack_files

ALL = [s for s in SHIPPED_STACKS if s not in ("local", "kwok")]
"""The shipped deployed stacks, in release order."""


# -- affected stacks -----------------------------------------------------------------------------------


@pytest.fixture
def stacks_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "stacks", repo / "stacks", ignore=shipped_stack_files)
    (repo / "components").mkdir()
    (repo / "components" / "thing.py").write_text("X = 1\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("notes\n")
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "initial")
    return repo


def _names(result: dict[str, Any]) -> list[str]:
    return [e["stack"] for e in result["include"]]


def test_affected_stacks_follow_the_changed_paths(stacks_repo: Path, tmp_path: Path) -> None:
    base = git(stacks_repo, "rev-parse", "HEAD").strip()
    (stacks_repo / "docs" / "notes.md").write_text("more notes\n")
    commit(stacks_repo, "docs")
    assert _names(affected.plan(stacks_repo, base, "HEAD", False)) == []

    prod = stacks_repo / "stacks" / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("      version: 8\n", "      version: 9\n", 1))
    commit(stacks_repo, "prod")
    result = affected.plan(stacks_repo, base, "HEAD", False)
    assert result["include"] == [{"stack": "prod", "environment": "prod", "cloud": "aws", "budget": "60000", "region": "us-east-1"}]
    assert result["prod"] == result["include"] and result["dev"] == result["canary"] == []

    (stacks_repo / "components" / "thing.py").write_text("X = 2\n")
    (stacks_repo / "stacks" / "Pulumi.prod-gcp.yaml").unlink()
    commit(stacks_repo, "program change, one stack removed")
    result = affected.plan(stacks_repo, base, "HEAD", False)
    assert _names(result) == [s for s in ALL if s != "prod-gcp"]  # release order, deleted stack left out
    assert [e["stack"] for e in result["prod"]] == ["prod", "prod-azure"]
    assert {e["cloud"] for e in result["include"]} == {"aws", "azure"}

    assert _names(affected.plan(stacks_repo, "0" * 40, "HEAD", False)) == [s for s in ALL if s != "prod-gcp"]
    out = tmp_path / "github-output"
    assert affected.main(["--root", str(stacks_repo), "--base", base, "--github-output", str(out)]) == 0
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert sorted(outputs) == ["any", "canary", "dev", "matrix", "prod", "stacks", "staging"]
    assert outputs["any"] == "true" and json.loads(outputs["stacks"]) == _names(result)
    assert json.loads(outputs["matrix"]) == {"include": result["include"]}


def test_affected_refuses_bad_input(stacks_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert affected.main(["--root", str(stacks_repo), "--base", "nope"]) == 2
    assert affected.main(["--root", str(stacks_repo), "--only", "qa"]) == 2
    err = capsys.readouterr().err
    assert "affected: unknown git ref 'nope'" in err and "affected: unknown stack 'qa'" in err and "Traceback" not in err


# -- local fake servers ------------------------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], str]]:
    """Start a handler function on 127.0.0.1 (random port); returns its base URL. Stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(handle: Callable[[BaseHTTPRequestHandler], None]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self)

            def do_POST(self) -> None:
                handle(self)

            def do_PATCH(self) -> None:
                handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _reply(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


# -- pull-request comment ------------------------------------------------------------------------------------


class FakeGitHub:
    """Issue comments of pull request 7 of acme/platform, paged by 100 like the real API."""

    def __init__(self) -> None:
        self.comments: dict[int, str] = {}
        self.next_id = 1000
        self.calls: list[str] = []

    def add(self, body: str) -> int:
        self.next_id += 1
        self.comments[self.next_id] = body
        return self.next_id

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        self.calls.append(f"{request.command} {request.path}")
        if request.headers.get("Authorization") != "Bearer t0ken":
            _reply(request, 401, {"message": "Bad credentials"})
            return
        url = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        payload: dict[str, Any] = json.loads(request.rfile.read(length)) if length else {}
        if request.command == "GET" and url.path == "/repos/acme/platform/issues/7/comments":
            query = urllib.parse.parse_qs(url.query)
            size, page = int(query["per_page"][0]), int(query["page"][0])
            items = [{"id": i, "body": b} for i, b in self.comments.items()][(page - 1) * size : page * size]
            _reply(request, 200, items)
        elif request.command == "POST" and url.path == "/repos/acme/platform/issues/7/comments":
            _reply(request, 201, {"id": self.add(payload["body"])})
        elif request.command == "PATCH" and (m := re.fullmatch(r"/repos/acme/platform/issues/comments/(\d+)", url.path)):
            self.comments[int(m[1])] = payload["body"]
            _reply(request, 200, {"id": int(m[1])})
        else:
            _reply(request, 404, {"message": "Not Found"})


def test_one_comment_per_stack_updated_in_place(
    serve: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    github = FakeGitHub()
    for i in range(150):
        github.add(f"review remark {i}")
    quoting = github.add(f"as the bot said:\n{pr_comment.marker('prod')}")  # the marker, but not first: not ours
    monkeypatch.setenv("GITHUB_API_URL", serve(github))
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    review, preview = tmp_path / "review.md", tmp_path / "preview.txt"
    preview.write_text("Previewing update (prod)\n~ 1 to update\n")

    def post(stack: str, text: str) -> None:
        review.write_text(text)
        args = ["--stack", stack, "--review", str(review), "--preview", str(preview), "--commit", "abc123"]
        assert pr_comment.main([*args, "--post", "--repo", "acme/platform", "--pr", "7"]) == 0

    post("prod", "## Stack `prod`: first\n")
    created = max(github.comments)
    assert capsys.readouterr().out.strip() == f"pr_comment: created comment {created} for stack prod on pull request 7"
    post("prod", "## Stack `prod`: second\n")
    assert capsys.readouterr().out.strip() == f"pr_comment: updated comment {created} for stack prod on pull request 7"
    post("dev", "## Stack `dev`: first\n")
    assert len(github.comments) == 153  # 150 remarks, the quote, one per stack
    body = github.comments[created]
    assert body.startswith(pr_comment.marker("prod") + "\n## Stack `prod`: second\n")
    assert "~ 1 to update" in body and "Commit `abc123`" in body
    assert github.comments[quoting].startswith("as the bot said")
    assert sum(1 for b in github.comments.values() if b.startswith(pr_comment.marker("dev"))) == 1
    assert "GET /repos/acme/platform/issues/7/comments?per_page=100&page=2" in github.calls

    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    assert pr_comment.main(["--stack", "prod", "--review", str(review), "--post", "--repo", "acme/platform", "--pr", "7"]) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_comment_fits_githubs_limit() -> None:
    preview = "\n".join(f"line {i} " + "x" * 60 for i in range(5000)) + "\nResources: 3 to update"
    review = "## Stack `prod`\n" + "r" * 50_000
    body = pr_comment.body("prod", review, preview, "failure", "abc")
    assert len(body) <= pr_comment.LIMIT
    assert body.startswith(pr_comment.marker("prod") + "\n## Stack `prod`\n")
    assert "with the policy pack: failed" in body and "Resources: 3 to update" in body
    assert "preview cut to fit the comment" in body and "review text cut to fit" in body
    small = pr_comment.body("prod", "text\n", "ok", "success", "abc")
    assert "cut to fit" not in small and "with the policy pack: succeeded" in small


# -- canary health gate -----------------------------------------------------------------------------------------


class FakePrometheus:
    """Answers the gate's instant queries from per-(metric, version) values; records every query."""

    def __init__(self, values: dict[tuple[str, str], float], alerts: list[dict[str, str]] | None = None) -> None:
        self.values, self.alerts = values, alerts or []
        self.queries: list[str] = []

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)["query"][0]
        self.queries.append(query)
        if query.startswith("ALERTS"):
            result = [{"metric": a, "value": [0, "1"]} for a in self.alerts]
        else:
            m = re.search(r"(nv_inference_request_\w+)\{[^}]*version=\"(\d+)\"", query)
            assert m, query
            value = self.values.get((m[1], m[2]))
            result = [] if value is None else [{"metric": {}, "value": [0, str(value)]}]
        _reply(request, 200, {"status": "success", "data": {"resultType": "vector", "result": result}})


HEALTHY: dict[tuple[str, str], float] = {
    ("nv_inference_request_success", "8"): 10_000,
    ("nv_inference_request_failure", "8"): 5,
    ("nv_inference_request_summary_us", "8"): 120_000,
    ("nv_inference_request_success", "9"): 1_000,
    ("nv_inference_request_failure", "9"): 2,
    ("nv_inference_request_summary_us", "9"): 140_000,
}


def _gate(url: str, soak: float = 0) -> tuple[int, list[str], list[float]]:
    lines: list[str] = []
    sleeps: list[float] = []
    status = health_gate.gate(
        ROOT, "canary", health_gate.Prometheus(url, timeout=5), "15m", 50, soak, 60, out=lines.append, sleep=sleeps.append
    )
    return status, lines, sleeps


def test_gate_passes_a_healthy_canary_over_the_soak(serve: Callable[..., str]) -> None:
    prom = FakePrometheus(HEALTHY)
    status, lines, sleeps = _gate(serve(prom), soak=120)
    assert status == 0, lines
    assert lines[-1] == "health-gate: passed (3 rounds)" and sleeps == [60, 60]
    assert "  ok   fraud-detector v9 (configured): 1002 requests, error ratio 0.0020 (max 0.005), p99 140 ms (max 500 ms)" in lines
    assert not any('version="8"' in q for q in prom.queries)  # the version Flagger replaced is not judged
    assert all('namespace="ml-serving-canary"' in q for q in prom.queries)
    assert (
        'sum(increase(nv_inference_request_failure{namespace="ml-serving-canary",model="fraud-detector",version="9"}[15m]))' in prom.queries
    )


@pytest.mark.parametrize(
    ("change", "alerts", "expected"),
    [
        ({("nv_inference_request_failure", "9"): 20}, [], "FAIL fraud-detector v9 (configured): error ratio 0.0196 above 0.005"),
        ({("nv_inference_request_summary_us", "9"): 650_000}, [], "FAIL fraud-detector v9 (configured): p99 650 ms above 500 ms"),
        ({("nv_inference_request_success", "9"): 10, ("nv_inference_request_failure", "9"): 0}, [], "fewer than 50: not enough traffic"),
        ({}, [{"alertname": "ModelLatencyP99High", "model": "fraud-detector", "severity": "page"}], "FAIL alerts firing"),
    ],
)
def test_gate_fails_on_regression_alert_or_missing_traffic(
    serve: Callable[..., str], change: dict[tuple[str, str], float], alerts: list[dict[str, str]], expected: str
) -> None:
    status, lines, sleeps = _gate(serve(FakePrometheus({**HEALTHY, **change}, alerts)), soak=600)
    assert status == 1
    assert any(expected in line for line in lines), lines
    assert lines[-1] == "health-gate: FAILED in round 1; prod is not deployed" and sleeps == []


def test_gate_fails_closed_and_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _ = _gate("http://127.0.0.1:9")  # nothing listens on the discard port
    assert status == 1 and lines[-1] == "health-gate: FAILED (fails closed when Prometheus cannot be asked)"
    assert health_gate.main(["--stack", "canary"]) == 2
    assert health_gate.main(["--stack", "nope", "--prometheus-url", "http://127.0.0.1:9"]) == 2
    assert health_gate.main(["--stack", "canary", "--prometheus-url", "http://127.0.0.1:9", "--window", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--prometheus-url http(s)://... is required" in err and "unknown stack 'nope'" in err and "invalid --window 'soon'" in err
    assert health_gate.main(["--stack", "canary", "--print", "monitoring-namespace"]) == 0
    assert capsys.readouterr().out == "monitoring-canary\n"
