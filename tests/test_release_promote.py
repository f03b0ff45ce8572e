"""`make promote` and `make rollback` on real temporary git repositories: output, rewritten bytes, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_release_repo import assert_refused, commit, git, make, make_repo, run
from tools.release.common import ReleaseError
from tools.release.pins import copy_pins, pinned_versions

PROD = "stacks/Pulumi.prod.yaml"
CANARY = "stacks/Pulumi.canary.yaml"
STAGING = "stacks/Pulumi.staging.yaml"
CANARY_BLOCK = "      canary:\n        version: 9\n        weight: 10\n        max_error_rate: 0.005\n"
PIN = "      version: 8\n"
COMMENTED_PIN = "      version: 8 # fraud model: pinned by the release flow only\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_promote_mirrors_the_canary_then_promotes_the_candidate(repo: Path) -> None:
    prod = repo / PROD
    text = prod.read_text().replace(PIN, COMMENTED_PIN, 1)
    prod.write_text(text)
    commit(repo, "comment the pin")
    canary_before = (repo / CANARY).read_text()

    # 1. The canary stack runs fraud-detector 8 with candidate 9: prod gets the candidate, at prod's default weight.
    done = make(repo, "promote", "FROM=canary", "TO=prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "promote: canary -> prod (stacks/Pulumi.prod.yaml)",
        "  models[fraud-detector].canary: added {version: 9}",
        "  models[text-embedder]: not in canary, left as it is",
        "  models[llm-summarizer]: not in canary, left as it is",
        "  managed_endpoints[churn-scorer]: not in canary, left as it is",
        "promote: 1 change written to stacks/Pulumi.prod.yaml; review with `git diff`, commit, open a pull request",
    ]
    expected = text.replace(COMMENTED_PIN, COMMENTED_PIN + "      canary:\n        version: 9\n", 1)
    assert prod.read_text() == expected
    assert (repo / CANARY).read_text() == canary_before

    # 2. Uncommitted changes: refused, nothing written.
    assert_refused(run(repo, "tools.release.promote", "--from", "canary", "--to", "prod"), "promote", "uncommitted changes", PROD)
    assert prod.read_text() == expected
    commit(repo, "prod: canary 9")

    # 3. Canary promoted its candidate (version 9, no canary): prod follows, its canary block goes, comments stay.
    (repo / CANARY).write_text(canary_before.replace(PIN, "      version: 9\n", 1).replace(CANARY_BLOCK, ""))
    commit(repo, "canary: promote fraud-detector 9")
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:3] == [
        "  models[fraud-detector].version: 8 -> 9",
        "  models[fraud-detector].canary: removed (was {version: 9}; canary runs no canary for it)",
    ]
    assert prod.read_text() == text.replace(COMMENTED_PIN, COMMENTED_PIN.replace("version: 8", "version: 9"), 1)
    assert git(repo, "diff", "--stat").strip().startswith(PROD)
    commit(repo, "prod: fraud-detector 9")

    # 4. Again: nothing to change, nothing written.
    before = prod.read_bytes()
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == "promote: nothing to change; prod already pins the versions of canary"
    assert prod.read_bytes() == before and git(repo, "status", "--porcelain") == ""


def test_promote_refuses_bad_input_and_an_invalid_result(repo: Path) -> None:
    assert_refused(
        run(repo, "tools.release.promote", "--from", "canary", "--to", "nope"),
        "promote",
        "unknown stack 'nope'; stacks: canary, dev, prod, prod-azure, prod-gcp, staging",
    )
    assert_refused(run(repo, "tools.release.promote", "--from", "../x", "--to", "prod"), "promote", "unknown stack '../x'")
    assert_refused(run(repo, "tools.release.promote", "--from", "prod", "--to", "prod"), "promote", "FROM and TO are both 'prod'")
    done = make(repo, "promote", "FROM=canary")
    assert done.returncode == 2 and "make promote: FROM=<stack> TO=<stack> are required" in done.stderr

    # A pool with room for fraud-detector's 8 replicas and text-embedder's 3 (each with a rollout surge
    # pod) but not for the candidate's 2 replicas and their surge pod.
    prod = repo / PROD
    prod.write_text(prod.read_text().replace("      min_nodes: 3\n      max_nodes: 16\n", "      min_nodes: 3\n      max_nodes: 15\n", 1))
    commit(repo, "prod: smaller pool")
    before = prod.read_bytes()
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert_refused(done, "promote", "refusing to write: the rewritten stack would be invalid", "invalid configuration for stack 'prod'")
    assert "gpu_pools[0].max_nodes: got 15; expected enough nodes for the 16 GPUs" in done.stderr
    assert prod.read_bytes() == before


def test_rollback_restores_pinned_versions_and_nothing_else(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    prod = repo / PROD
    promoted = (
        prod.read_text()
        .replace(PIN, "      version: 9\n", 1)
        .replace("      replicas: {min: 3, max: 8}\n", "      # one more replica at all times\n      replicas: {min: 4, max: 8}\n", 1)
    )
    prod.write_text(promoted)
    commit(repo, "prod: fraud-detector 9, more replicas")

    done = make(repo, "rollback", "STACK=prod", "TO=HEAD~1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"rollback: prod to the versions pinned at HEAD~1 ({first[:12]} initial) (stacks/Pulumi.prod.yaml)",
        "  models[fraud-detector].version: 9 -> 8",
        "rollback: 1 change written to stacks/Pulumi.prod.yaml; apply with `pulumi up`, commit, open a pull request",
    ]
    assert prod.read_text() == promoted.replace("      version: 9\n", PIN, 1)
    assert pinned_versions(prod.read_text(), "prod") == pinned_versions(git(repo, "show", f"{first}:{PROD}"), "prod")
    commit(repo, "rollback prod")

    done = run(repo, "tools.release.rollback", "--stack", "prod", "--to", first)
    assert (
        done.returncode == 0
        and done.stdout.splitlines()[-1] == f"rollback: nothing to change; prod already pins the versions of {first[:12]}"
    )


def test_rollback_brings_back_a_canary_candidate(repo: Path) -> None:
    staging = repo / STAGING
    original = staging.read_text()
    promoted = original.replace(PIN, "      version: 9\n", 1).replace("      canary:\n        version: 9\n        weight: 20\n", "")
    assert promoted != original
    staging.write_text(promoted)
    commit(repo, "staging: promote fraud-detector 9")
    done = run(repo, "tools.release.rollback", "--stack", "staging", "--to", "main~1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:3] == [
        "  models[fraud-detector].version: 9 -> 8",
        "  models[fraud-detector].canary: added {version: 9}",
    ]
    # The candidate comes back right after the stable version, with the stack's default weight (only versions are restored).
    assert staging.read_text() == promoted.replace("      version: 9\n", PIN + "      canary:\n        version: 9\n", 1)


def test_rollback_refuses_bad_input(repo: Path) -> None:
    dev = (repo / "stacks" / "Pulumi.dev.yaml").read_text()
    (repo / "stacks" / "Pulumi.qa.yaml").write_text(dev)
    commit(repo, "qa stack")
    assert_refused(
        run(repo, "tools.release.rollback", "--stack", "qa", "--to", "HEAD~1"), "rollback", "stack 'qa' has no stack file at HEAD~1"
    )
    assert_refused(
        run(repo, "tools.release.rollback", "--stack", "prod", "--to", "no-such-ref"), "rollback", "unknown git ref 'no-such-ref'"
    )
    assert_refused(run(repo, "tools.release.rollback", "--stack", "nope", "--to", "HEAD"), "rollback", "unknown stack 'nope'")
    (repo / "stacks" / "Pulumi.prod.yaml").write_text((repo / PROD).read_text() + "# local edit\n")
    assert_refused(run(repo, "tools.release.rollback", "--stack", "prod", "--to", "HEAD~1"), "rollback", "uncommitted changes")
    done = make(repo, "rollback", "TO=HEAD~1")
    assert done.returncode == 2 and "make rollback: STACK=<stack> is required" in done.stderr
    done = run(repo, "tools.release.rollback", "--stack", "prod", "--to", "HEAD", "--root", str(repo.parent))
    assert_refused(done, "rollback", "is not inside a git work tree")


ENDPOINT_TARGET = """\
config:
  mlops-platform:managed_endpoints:
    - name: churn
      model_uri: s3://models/churn/v5/model.tar.gz   # live
      image: "registry.example/churn:5.0.1"
      canary:
        model_uri: s3://models/churn/v6/model.tar.gz
        image: registry.example/churn:6.0.0
        percent: 20
    - name: only-here
      model_uri: s3://models/x/v1/model.tar.gz
      image: registry.example/x:1
"""
ENDPOINT_SOURCE = """\
config:
  mlops-platform:managed_endpoints:
    - name: churn
      model_uri: s3://models/churn/v6/model.tar.gz
      image: registry.example/churn:5.0.1
      canary:
        model_uri: s3://models/churn/v7/model.tar.gz
    - name: only-there
      model_uri: s3://models/y/v1/model.tar.gz
      image: registry.example/y:1
"""


def test_managed_endpoint_pins_and_canary_mirror() -> None:
    result = copy_pins(ENDPOINT_TARGET, ENDPOINT_SOURCE, "canary", "prod")
    assert result.changes == [
        'managed_endpoints[churn].model_uri: "s3://models/churn/v5/model.tar.gz" -> "s3://models/churn/v6/model.tar.gz"',
        'managed_endpoints[churn].canary.model_uri: "s3://models/churn/v6/model.tar.gz" -> "s3://models/churn/v7/model.tar.gz"',
        'managed_endpoints[churn].canary.image: removed (was "registry.example/churn:6.0.0")',
    ]
    assert result.notes == [
        "managed_endpoints[only-here]: not in canary, left as it is",
        "managed_endpoints[only-there]: only in canary, not added (adding an entry is a config change)",
    ]
    assert result.text == (
        ENDPOINT_TARGET.replace("v5/model.tar.gz   # live", "v6/model.tar.gz   # live")
        .replace("        model_uri: s3://models/churn/v6/model.tar.gz\n", "        model_uri: s3://models/churn/v7/model.tar.gz\n")
        .replace("        image: registry.example/churn:6.0.0\n", "")
    )
    # The quoted image is equal in value: left alone, quotes kept.
    assert '      image: "registry.example/churn:5.0.1"\n' in result.text


def test_unreadable_or_unkeepable_files_are_refused() -> None:
    with pytest.raises(ReleaseError, match="not valid YAML"):
        copy_pins("config: [\n", ENDPOINT_SOURCE, "canary", "prod")
    with pytest.raises(ReleaseError, match="no 'config' mapping"):
        copy_pins("models: []\n", ENDPOINT_SOURCE, "canary", "prod")
    odd = "config:\n   mlops-platform:models:\n      -   name: a\n          version: 1\n"
    with pytest.raises(ReleaseError, match="formatting cannot be kept"):
        copy_pins(odd, ENDPOINT_SOURCE, "canary", "prod")
    twice = "config:\n  mlops-platform:models:\n    - name: a\n      version: 1\n    - name: a\n      version: 2\n"
    with pytest.raises(ReleaseError, match="two entries of models are named 'a'"):
        copy_pins(twice, twice, "canary", "prod")
