"""No resource URN of a shipped stack changes unnoticed: a changed URN is a delete and a create (a replacement of a
database or a bucket) in every stack that has it. The committed lists are written by ``python -m tools.urns``."""

from __future__ import annotations

import pytest

from tools.synthesis import Synthesis
from tools.urns import urn_file

from .conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_urn_of_the_stack_is_the_committed_one(shipped: dict[str, Synthesis], stack: str):
    records = shipped[stack].records
    current = {r["urn"] for r in records}
    aliased = {alias for r in records for alias in r.get("aliases", [])}
    committed = set(urn_file(stack).read_text().split())
    gone = sorted(committed - current - aliased)
    new = sorted(current - committed)
    assert not gone and not new, (
        f"{stack}: URNs changed. Gone (deleted or replaced on the next up unless a resource names them as aliases): {gone}. "
        f"New: {new}. If this is intended, run `python -m tools.urns` and commit tests/urns/."
    )


def test_an_alias_keeps_a_moved_resource(shipped: dict[str, Synthesis]):
    """The check honours aliases: the recorder carries them, so a rename with an alias passes."""
    import pulumi

    from mlops_platform.testing import PlatformMocks, RecordingMonitor

    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(PlatformMocks(), project="mlops-platform", stack="t", monitor=monitor)

    @pulumi.runtime.test
    def declare() -> None:
        import pulumi_random as random

        random.RandomPassword("new-name", length=8, opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-name")]))

    declare()
    (record,) = [r for r in monitor.records if r["name"] == "new-name"]
    assert record["aliases"] == ["urn:pulumi:t::mlops-platform::random:index/randomPassword:RandomPassword::old-name"]
