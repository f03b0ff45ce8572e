"""Every stack under the mocks in preview mode, as `pulumi preview` runs it: every computed output unknown.

The other tests see each computed output resolved; a preview sees none of them. Code that formats an Output
into a string, reads one outside `apply`, or registers resources inside `apply` behaves differently here, so
each shipped stack must register exactly the same resources as under `up`, with no Output text in any input.
"""

from __future__ import annotations

import json

import pytest

from mlops_platform.testing import UNKNOWN
from tools.synthesis import synthesize

from .conftest import SHIPPED_STACKS

CLOUD_STACKS = ("dev", "staging", "canary", "prod", "prod-azure", "prod-gcp")
"""The stacks whose resources read a cloud resource's computed outputs (ARNs, emails, client ids)."""


def _texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_a_preview_registers_what_an_update_does_and_never_writes_an_output_as_text(stack: str) -> None:
    update = synthesize(stack)
    preview = synthesize(stack, preview=True)
    assert [(r["urn"], r["parent"], r["provider"]) for r in preview.records] == [
        (r["urn"], r["parent"], r["provider"]) for r in update.records
    ], "a preview registers the same resources, under the same parents and providers"
    for record in preview.records:
        for text in _texts(record["inputs"]):
            assert "Output[" not in text and "Calling __str__" not in text and "<pulumi." not in text, (record["urn"], text)


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_computed_outputs_reach_their_consumers_as_unknowns(stack: str) -> None:
    """In preview the identities' cloud ids are unknown, and the consumers show them so, not a stale value."""
    preview = synthesize(stack, preview=True)
    unknown = [r["urn"] for r in preview.records if UNKNOWN in json.dumps(r["inputs"])]
    assert unknown, "some input depends on a computed output"
    accounts = [
        r for r in preview.records if r["type"] == "kubernetes:core/v1:ServiceAccount" and r["inputs"]["metadata"].get("annotations")
    ]
    bound = [a for a in accounts if any(v == UNKNOWN for v in a["inputs"]["metadata"]["annotations"].values())]
    assert bound, "a workload identity's service account is annotated with its cloud identity, unknown until created"
