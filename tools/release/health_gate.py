"""The canary health gate: prod is deployed only when the canary stack's models are healthy on live traffic.

Reads the stack's models from its stack file and asks Prometheus (the HTTP query API, e.g. through
``kubectl port-forward svc/prometheus-operated 9090`` in the stack's monitoring namespace), every
``--interval`` seconds for ``--soak-seconds``:

- no ``severity="page"`` alert firing in the serving namespace;
- for every model's configured ``version`` (which Flagger has promoted once the gate runs), over the last
  ``--window``: at least ``--min-requests`` requests (no traffic is no evidence), an error ratio within
  ``release.max_error_rate`` and a p99 latency within ``release.max_p99_latency_ms`` (or the SLO's), the limits
  Flagger released it under.

Every round must pass; the first failing round ends the gate. Metric names are Triton's. Flagger judges each
release itself (the model's ``release`` checks); this gate judges the result on live traffic before prod.

Exit codes: 0 healthy; 1 unhealthy or Prometheus unreachable; 2 bad input (unknown stack, invalid config).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ReleaseError, platform_config, repo_root, require_stack, run_cli, stack_file


class UnhealthyError(Exception):
    """Prometheus could not be asked: the gate fails closed."""


@dataclass(frozen=True)
class Track:
    """One served version of a model and its limits."""

    model: str
    version: int
    role: str
    max_error_ratio: float
    max_p99_ms: float


def tracks(stack: str, text: str) -> tuple[str, list[Track]]:
    """The serving namespace and the versions to judge, from the stack file's text."""
    config = platform_config(stack, text, f"the {stack} stack file is invalid")
    found: list[Track] = []
    for model in config.models:
        # the limits Flagger released it under
        found.append(Track(model.name, model.version, "configured", model.release.max_error_rate, model.p99_limit_ms))
    return config.namespaces.serving, found


def _duration(text: str) -> str:
    if not re.match(r"^\d+[smhd]$", text):
        raise ReleaseError(f"invalid --window {text!r}; expected a Prometheus duration such as 15m")
    return text


class Prometheus:
    """Instant queries against the HTTP API."""

    def __init__(self, url: str, timeout: float = 15) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def query(self, expr: str) -> list[dict[str, Any]]:
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as response:
                data = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise UnhealthyError(f"cannot query Prometheus at {self.url}: {getattr(error, 'reason', error)}") from None
        if data.get("status") != "success":
            raise UnhealthyError(f"Prometheus refused {expr!r}: {data.get('error', 'unknown error')}")
        return list(data["data"]["result"])

    def number(self, expr: str) -> float | None:
        result = self.query(expr)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value


def check_round(prom: Prometheus, namespace: str, judged: list[Track], window: str, min_requests: int) -> tuple[bool, list[str]]:
    """One round of checks: (passed, report lines)."""
    ok = True
    lines: list[str] = []
    firing = prom.query(f'ALERTS{{alertstate="firing",namespace="{namespace}"}}')
    blocking = sorted(
        f"{a['metric'].get('alertname', '?')}({a['metric'].get('model', '')})" for a in firing if a["metric"].get("severity") == "page"
    )
    if blocking:
        ok = False
        lines.append(f"  FAIL alerts firing in {namespace}: {', '.join(blocking)}")
    else:
        lines.append(f"  ok   no paging alert firing in {namespace}")
    for track in judged:
        sel = f'namespace="{namespace}",model="{track.model}",version="{track.version}"'
        success = prom.number(f"sum(increase(nv_inference_request_success{{{sel}}}[{window}]))") or 0.0
        failure = prom.number(f"sum(increase(nv_inference_request_failure{{{sel}}}[{window}]))") or 0.0
        p99_us = prom.number(f'max(nv_inference_request_summary_us{{{sel},quantile="0.99"}})')
        total = success + failure
        name = f"{track.model} v{track.version} ({track.role})"
        problems = []
        if total < min_requests:
            problems.append(f"{total:.0f} requests in {window}, fewer than {min_requests}: not enough traffic to judge")
        ratio = failure / total if total else 0.0
        if total and ratio > track.max_error_ratio:
            problems.append(f"error ratio {ratio:.4f} above {track.max_error_ratio}")
        p99_ms = p99_us / 1000 if p99_us is not None else None
        if p99_ms is not None and p99_ms > track.max_p99_ms:
            problems.append(f"p99 {p99_ms:.0f} ms above {track.max_p99_ms:.0f} ms")
        facts = f"{total:.0f} requests, error ratio {ratio:.4f} (max {track.max_error_ratio}), p99 " + (
            f"{p99_ms:.0f} ms" if p99_ms is not None else "n/a"
        )
        if problems:
            ok = False
            lines.append(f"  FAIL {name}: {'; '.join(problems)}")
        else:
            lines.append(f"  ok   {name}: {facts} (max {track.max_p99_ms:.0f} ms)")
    return ok, lines


def gate(
    root: Path,
    stack: str,
    prom: Prometheus,
    window: str,
    min_requests: int,
    soak_seconds: float,
    interval: float,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the rounds; 0 healthy, 1 not."""
    root = repo_root(root)
    require_stack(root, stack)
    namespace, judged = tracks(stack, (root / stack_file(stack)).read_text())
    out(f"health-gate: stack {stack}, namespace {namespace}, window {window}, soak {soak_seconds:.0f} s every {interval:.0f} s")
    if not judged:
        out("health-gate: the stack serves no model; nothing to judge, passed")
        return 0
    rounds = max(1, math.floor(soak_seconds / interval) + 1) if interval > 0 else 1
    for number in range(1, rounds + 1):
        try:
            ok, lines = check_round(prom, namespace, judged, window, min_requests)
        except UnhealthyError as error:
            out(f"health-gate: round {number}/{rounds}: {error}")
            out("health-gate: FAILED (fails closed when Prometheus cannot be asked)")
            return 1
        out(f"health-gate: round {number}/{rounds}")
        for line in lines:
            out(line)
        if not ok:
            out(f"health-gate: FAILED in round {number}; prod is not deployed")
            return 1
        if number < rounds:
            sleep(interval)
    out(f"health-gate: passed ({rounds} round{'s' if rounds > 1 else ''})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="health_gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="canary", help="stack to judge (default canary)")
    parser.add_argument("--prometheus-url", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--window", default="15m", help="look-back window of every query (default 15m)")
    parser.add_argument("--min-requests", type=int, default=50, help="fewest requests per version to judge it (default 50)")
    parser.add_argument("--soak-seconds", type=float, default=900, help="how long to keep checking (default 900)")
    parser.add_argument("--interval", type=float, default=60, help="seconds between rounds (default 60)")
    parser.add_argument(
        "--print",
        dest="show",
        choices=("monitoring-namespace", "cluster-name", "region", "cloud"),
        help="print one fact of the stack (for the workflow's port-forward) and exit",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.show:
            root = repo_root(args.root)
            require_stack(root, args.stack)
            config = platform_config(args.stack, (root / stack_file(args.stack)).read_text(), f"the {args.stack} stack file is invalid")
            facts = {
                "monitoring-namespace": config.namespaces.monitoring,
                "cluster-name": config.cluster.name or "",
                "region": config.cloud.region or config.cloud.location or "",
                "cloud": config.cloud.provider,
            }
            print(facts[args.show])
            return 0
        if not args.prometheus_url or not re.match(r"^https?://", args.prometheus_url):
            raise ReleaseError("--prometheus-url http(s)://... is required")
        if args.min_requests < 0 or args.soak_seconds < 0 or args.interval < 0:
            raise ReleaseError("--min-requests, --soak-seconds and --interval must not be negative")
        return gate(
            args.root,
            args.stack,
            Prometheus(args.prometheus_url),
            _duration(args.window),
            args.min_requests,
            args.soak_seconds,
            args.interval,
        )

    return run_cli("health-gate", body)


if __name__ == "__main__":
    sys.exit(main())
