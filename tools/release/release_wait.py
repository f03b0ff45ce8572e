"""Wait for Flagger to finish releasing a stack's model versions: what `pulumi up` cannot wait for itself.

`pulumi up` changes a model's Deployment; Flagger then releases it. The Canary's own spec does not change with the
version, so pulumi-kubernetes' `pulumi.com/waitFor` on it would read the previous release's status. This command
reads, with kubectl, every model's Canary and Flagger's primary Deployment until:

- every primary serves the configured version (its pod template carries `mlops.platform/model-version`) and its
  Canary is `Succeeded` or `Initialized`: exit 0;
- a Canary turns `Failed` after the wait started (Flagger rolled the version back): exit 1, with Flagger's last
  message for it;
- ``--timeout`` passes: exit 1.

Exit 2: bad input (unknown stack, invalid config, kubectl missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ReleaseError, platform_config, repo_root, require_stack, run_cli, stack_file

DONE = ("Succeeded", "Initialized")


@dataclass(frozen=True)
class Release:
    """One model's expected outcome."""

    model: str
    version: int

    @property
    def canary(self) -> str:
        return f"triton-{self.model}"


def releases(stack: str, text: str) -> tuple[str, list[Release]]:
    """The serving namespace and each model's configured version, from the stack file's text."""
    config = platform_config(stack, text, f"the {stack} stack file is invalid")
    return config.namespaces.serving, [Release(m.name, m.version) for m in config.models]


Kubectl = Callable[[Sequence[str]], dict[str, Any] | None]
"""Runs `kubectl <args> -o json`; the parsed object, or None when it does not exist."""


def kubectl_json(kubectl: str = "kubectl", *options: str) -> Kubectl:
    """``kubectl`` (with ``options`` before every command, e.g. `--kubeconfig=...`) as a ``Kubectl``."""

    def run(args: Sequence[str]) -> dict[str, Any] | None:
        try:
            done = subprocess.run([kubectl, *options, *args, "-o", "json"], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise ReleaseError(f"{kubectl} not found") from None
        if done.returncode != 0:
            if "NotFound" in done.stderr:
                return None
            raise ReleaseError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed

    return run


def _timestamp(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def state(kubectl: Kubectl, namespace: str, release: Release, since: datetime.datetime) -> tuple[str, str]:
    """("done" | "failed" | "waiting", what Flagger says) for one model."""
    canary = kubectl(["get", "canary", "-n", namespace, release.canary])
    if canary is None:
        return "waiting", "no Canary yet"
    status = canary.get("status", {})
    phase = status.get("phase", "")
    promoted: dict[str, Any] = next((c for c in status.get("conditions", []) if c.get("type") == "Promoted"), {})
    message = promoted.get("message", "")
    changed = _timestamp(promoted.get("lastTransitionTime") or status.get("lastTransitionTime"))
    if phase == "Failed" and changed is not None and changed >= since:
        return "failed", message or "Flagger rolled the release back"
    primary = kubectl(["get", "deployment", "-n", namespace, f"{release.canary}-primary"])
    labels = (primary or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    serving = labels.get("mlops.platform/model-version")
    if phase in DONE and serving == str(release.version):
        return "done", f"v{serving} is primary ({phase})"
    return "waiting", f"{phase or 'no phase'}, primary serves v{serving or '?'}" + (f": {message}" if message else "")


def wait(
    kubectl: Kubectl,
    namespace: str,
    wanted: list[Release],
    timeout: float,
    interval: float,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> int:
    """Poll until every release is done (0), one failed (1), or the timeout (1)."""
    # a second of slack: the API server stamps conditions at whole seconds
    since = now().replace(microsecond=0) - datetime.timedelta(seconds=1)
    deadline = clock() + timeout
    while True:
        states = {r.model: state(kubectl, namespace, r, since) for r in wanted}
        failed = {m: s for m, s in states.items() if s[0] == "failed"}
        if failed:
            for model, (_, message) in sorted(failed.items()):
                out(f"  FAIL {model}: {message}")
            out("release-wait: FAILED: Flagger rolled a release back")
            return 1
        if all(s[0] == "done" for s in states.values()):
            for model, (_, message) in sorted(states.items()):
                out(f"  ok   {model}: {message}")
            out("release-wait: every model serves its configured version")
            return 0
        if clock() >= deadline:
            for model, (kind, message) in sorted(states.items()):
                out(f"  {'ok  ' if kind == 'done' else 'WAIT'} {model}: {message}")
            out(f"release-wait: FAILED: not done after {timeout:g} s")
            return 1
        sleep(interval)


def main(argv: list[str] | None = None, kubectl: Kubectl | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release-wait", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack whose models to wait for")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most (default 3600)")
    parser.add_argument("--interval", type=float, default=15, help="seconds between reads (default 15)")
    args = parser.parse_args(argv)

    def body() -> int:
        root = repo_root(Path.cwd())
        require_stack(root, args.stack)
        namespace, wanted = releases(args.stack, (root / stack_file(args.stack)).read_text())
        return wait(kubectl or kubectl_json(), namespace, wanted, args.timeout, args.interval)

    return run_cli("release-wait", body)


if __name__ == "__main__":
    sys.exit(main())
