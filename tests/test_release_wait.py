"""`tools.release.release_wait`: waiting for Flagger's verdict on each model's release, from the Canary's status."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import pytest

from tools.release import release_wait
from tools.release.release_wait import Release, wait

START = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


class Cluster:
    """What kubectl would answer, changing with each round of reads."""

    def __init__(self, rounds: list[dict[str, dict[str, Any] | None]]) -> None:
        self.rounds, self.round = rounds, 0

    def __call__(self, args: Sequence[str]) -> dict[str, Any] | None:
        kind, name = args[1], args[-1]
        return self.rounds[min(self.round, len(self.rounds) - 1)].get(f"{kind}/{name}")

    def next(self, _: float) -> None:
        self.round += 1


def canary(phase: str, at: datetime.datetime = START, message: str = "") -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    promoted = {"type": "Promoted", "status": "True" if phase in ("Succeeded", "Initialized") else "Unknown", "message": message}
    return {"status": {"phase": phase, "conditions": [{**promoted, "lastTransitionTime": stamp}]}}


def primary(version: int) -> dict[str, Any]:
    return {"spec": {"template": {"metadata": {"labels": {"mlops.platform/model-version": str(version)}}}}}


def run(cluster: Cluster, timeout: float = 600) -> tuple[int, list[str]]:
    lines: list[str] = []
    clock = iter(range(0, 100_000, 15))
    status = wait(
        cluster,
        "ml-serving",
        [Release("fraud", 9)],
        timeout,
        15,
        out=lines.append,
        sleep=cluster.next,
        clock=lambda: float(next(clock)),
        now=lambda: START,
    )
    return status, lines


def test_waits_through_the_analysis_until_the_new_version_is_primary():
    cluster = Cluster(
        [
            # just after `pulumi up`: Flagger has not noticed; the previous release's Succeeded must not count
            {
                "canary/triton-fraud": canary("Succeeded", START - datetime.timedelta(hours=1)),
                "deployment/triton-fraud-primary": primary(8),
            },
            {"canary/triton-fraud": canary("Progressing"), "deployment/triton-fraud-primary": primary(8)},
            {"canary/triton-fraud": canary("Promoting"), "deployment/triton-fraud-primary": primary(9)},
            {"canary/triton-fraud": canary("Succeeded"), "deployment/triton-fraud-primary": primary(9)},
        ]
    )
    status, lines = run(cluster)
    assert status == 0 and cluster.round == 3, lines
    assert lines == ["  ok   fraud: v9 is primary (Succeeded)", "release-wait: every model serves its configured version"]


def test_a_rollback_fails_the_wait_with_flaggers_message():
    failed = canary("Failed", START + datetime.timedelta(minutes=5), "Canary analysis failed, triton-fraud.ml-serving promotion failed")
    cluster = Cluster(
        [
            {"canary/triton-fraud": canary("Progressing"), "deployment/triton-fraud-primary": primary(8)},
            {"canary/triton-fraud": failed, "deployment/triton-fraud-primary": primary(8)},
        ]
    )
    status, lines = run(cluster)
    assert status == 1 and "  FAIL fraud: Canary analysis failed" in lines[0]


def test_an_earlier_failure_is_not_this_releases_and_a_timeout_fails():
    stale = canary("Failed", START - datetime.timedelta(days=1))
    status, lines = run(Cluster([{"canary/triton-fraud": stale, "deployment/triton-fraud-primary": primary(8)}]), timeout=60)
    assert status == 1 and lines[-1] == "release-wait: FAILED: not done after 60 s"
    assert lines[0].startswith("  WAIT fraud: Failed, primary serves v8")


def test_bad_input_is_exit_2():
    assert release_wait.main(["--stack", "nope"], kubectl=Cluster([{}])) == 2


@pytest.mark.parametrize("stack", ["canary"])
def test_reads_the_models_of_the_stack_file(stack):
    from tools.release.common import repo_root, stack_file

    root = repo_root(release_wait.Path.cwd())
    namespace, wanted = release_wait.releases(stack, (root / stack_file(stack)).read_text())
    assert namespace == "ml-serving-canary" and wanted == [Release("fraud-detector", 9)]
