"""`make promote` and `make rollback` on real temporary git repositories: output, rewritten bytes, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_release_repo import assert_refused, commit, git, make, make_repo, run
from tools.release.common import ReleaseError
from tools.release.pins import copy_pins, pinned_versions

PROD = "stacks/Pulumi.prod.yaml"
CANARY = "stacks/Pulumi.canary.yaml"
PIN = "      version: 8\n"
COMMENTED_PIN = "      version: 8 # fraud model: pinned by the release flow only\n"
CANARY_RELEASE = "      release: {mode: canary, steps: [5, 10, 25], max_error_rate: 0.005, threshold: 3}\n"
PROD_POOL = "      min_nodes: 3\n      max_nodes: 18\n"
CHURN_V5 = "      model_uri: s3://acme-ml-models-prod/sagemaker/churn-scorer/v5/model.tar.gz\n"
CHURN_V6 = CHURN_V5.replace("/v5/", "/v6/")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def _pinned(text: str, version: int) -> str:
    """``text`` with fraud-detector's commented pin set to ``version``."""
    return text.replace(COMMENTED_PIN, COMMENTED_PIN.replace("version: 8", f"version: {version}"), 1)


def test_promote_copies_the_version_and_never_the_release(repo: Path) -> None:
    prod = repo / PROD
    text = prod.read_text().replace(PIN, COMMENTED_PIN, 1)
    assert text != prod.read_text() and "release:" not in text
    prod.write_text(text)
    commit(repo, "comment the pin")
    canary_before = (repo / CANARY).read_text()
    assert "      version: 9\n" in canary_before and CANARY_RELEASE in canary_before

    # 1. The canary stack releases fraud-detector 9 in 5/10/25 % steps, prod runs 8: prod gets version 9 and
    #    nothing else (its own release, the defaults, applies to it).
    done = make(repo, "promote", "FROM=canary", "TO=prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "promote: canary -> prod (stacks/Pulumi.prod.yaml)",
        "  models[fraud-detector].version: 8 -> 9",
        "  models[text-embedder]: not in canary, left as it is",
        "  models[llm-summarizer]: not in canary, left as it is",
        "  managed_endpoints[churn-scorer]: not in canary, left as it is",
        "promote: 1 change written to stacks/Pulumi.prod.yaml; review with `git diff`, commit, open a pull request",
    ]
    assert prod.read_text() == _pinned(text, 9)
    assert (repo / CANARY).read_text() == canary_before

    # 2. Uncommitted changes: refused, nothing written.
    assert_refused(run(repo, "tools.release.promote", "--from", "canary", "--to", "prod"), "promote", "uncommitted changes", PROD)
    assert prod.read_text() == _pinned(text, 9)
    commit(repo, "prod: fraud-detector 9")

    # 3. The canary stack moves on to version 10, released linearly: prod follows the version only, comments stay.
    linear = "      release: {mode: linear, step_percent: 10, max_percent: 20}\n"
    (repo / CANARY).write_text(canary_before.replace("      version: 9\n", "      version: 10\n", 1).replace(CANARY_RELEASE, linear))
    commit(repo, "canary: fraud-detector 10, released linearly")
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "  models[fraud-detector].version: 9 -> 10"
    assert done.stdout.splitlines()[-1].startswith("promote: 1 change written to stacks/Pulumi.prod.yaml")
    assert prod.read_text() == _pinned(text, 10)
    assert git(repo, "diff", "--stat").strip().startswith(PROD)
    commit(repo, "prod: fraud-detector 10")

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

    # A pool one node short of what a release may hold: fraud-detector's 8 replicas, a surge pod and a
    # candidate of 3 (its replicas.min; 25 % of 8 is 2), text-embedder's 3, a surge pod and a candidate of 2.
    prod = repo / PROD
    original = prod.read_text()
    prod.write_text(original.replace(PROD_POOL, PROD_POOL.replace("max_nodes: 18", "max_nodes: 17"), 1))
    commit(repo, "prod: smaller pool")
    before = prod.read_bytes()
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert_refused(done, "promote", "refusing to write: the rewritten stack would be invalid", "invalid configuration for stack 'prod'")
    assert "gpu_pools[0].max_nodes: got 17; expected enough nodes for the 18 GPUs" in done.stderr
    assert prod.read_bytes() == before

    # A valid prod, and a source pinning an alias: the copied value makes the result invalid.
    prod.write_text(original)
    canary = repo / CANARY
    canary.write_text(canary.read_text().replace("      version: 9\n", "      version: latest\n", 1))
    commit(repo, "prod: pool back; canary: an alias")
    done = run(repo, "tools.release.promote", "--from", "canary", "--to", "prod")
    assert_refused(done, "promote", "refusing to write: the rewritten stack would be invalid", "models[0].version")
    assert "floating aliases such as 'latest' are not allowed" in done.stderr
    assert prod.read_text() == original


def test_rollback_restores_pinned_versions_and_nothing_else(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    prod = repo / PROD
    release = "      # smaller first steps in prod\n      release: {mode: canary, steps: [2, 5, 10, 25], interval_seconds: 120}\n"
    promoted = (
        prod.read_text()
        .replace(PIN, "      version: 9\n", 1)
        .replace("      replicas: {min: 3, max: 8}\n", f"      replicas: {{min: 3, max: 8}}\n{release}", 1)
    )
    assert release in promoted
    prod.write_text(promoted)
    commit(repo, "prod: fraud-detector 9, released in smaller steps")

    done = make(repo, "rollback", "STACK=prod", "TO=HEAD~1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"rollback: prod to the versions pinned at HEAD~1 ({first[:12]} initial) (stacks/Pulumi.prod.yaml)",
        "  models[fraud-detector].version: 9 -> 8",
        "rollback: 1 change written to stacks/Pulumi.prod.yaml; apply with `pulumi up`, commit, open a pull request",
    ]
    # The version goes back; the release block (configuration, not a pin) and its comment stay.
    assert prod.read_text() == promoted.replace("      version: 9\n", PIN, 1)
    assert pinned_versions(prod.read_text(), "prod") == pinned_versions(git(repo, "show", f"{first}:{PROD}"), "prod")
    commit(repo, "rollback prod")

    done = run(repo, "tools.release.rollback", "--stack", "prod", "--to", first)
    assert (
        done.returncode == 0
        and done.stdout.splitlines()[-1] == f"rollback: nothing to change; prod already pins the versions of {first[:12]}"
    )


def test_rollback_brings_back_a_managed_endpoint_canary(repo: Path) -> None:
    prod = repo / PROD
    original = prod.read_text()
    image = next(line for line in original.splitlines(keepends=True) if line.startswith("      image: 123456789012.dkr.ecr"))
    candidate = "      canary:\n        model_uri: s3://acme-ml-models-prod/sagemaker/churn-scorer/v6/model.tar.gz\n        percent: 20\n"
    trial = original.replace(CHURN_V5 + image, CHURN_V5 + image + candidate, 1)
    assert trial != original
    prod.write_text(trial)
    commit(repo, "prod: churn-scorer v6 answers 20 %")
    promoted = original.replace(CHURN_V5, CHURN_V6, 1)
    prod.write_text(promoted)
    commit(repo, "prod: promote churn-scorer v6")

    done = run(repo, "tools.release.rollback", "--stack", "prod", "--to", "main~1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:3] == [
        '  managed_endpoints[churn-scorer].model_uri: "s3://acme-ml-models-prod/sagemaker/churn-scorer/v6/model.tar.gz"'
        ' -> "s3://acme-ml-models-prod/sagemaker/churn-scorer/v5/model.tar.gz"',
        '  managed_endpoints[churn-scorer].canary: added {model_uri: "s3://acme-ml-models-prod/sagemaker/churn-scorer/v6/model.tar.gz"}',
    ]
    # The candidate comes back right after the endpoint's pins, at the stack's default percent (only versions are restored).
    assert prod.read_text() == trial.replace("        percent: 20\n", "", 1)


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


MODEL_TARGET = """\
config:
  mlops-platform:models:
    - name: fraud
      version: 8
      release: {mode: canary, steps: [5, 10, 25]}
    - name: embedder
      version: 3
      canary:
        version: 4
"""
MODEL_SOURCE = """\
config:
  mlops-platform:models:
    - name: fraud
      version: 9
      canary:
        version: 10
      release: {mode: linear}
    - name: embedder
      version: 3
"""


def test_a_model_has_one_pinned_version_and_no_candidate_block() -> None:
    result = copy_pins(MODEL_TARGET, MODEL_SOURCE, "canary", "prod")
    # Only the version is copied: the source's (removed) canary block is not added, the target's is not removed,
    # and the release block stays the target's own.
    assert result.changes == ["models[fraud].version: 8 -> 9"]
    assert result.notes == []
    assert result.text == MODEL_TARGET.replace("      version: 8\n", "      version: 9\n", 1)
    assert pinned_versions(MODEL_SOURCE, "canary") == {"models[fraud].version": 9, "models[embedder].version": 3}
    assert copy_pins(MODEL_SOURCE, MODEL_SOURCE, "canary", "prod").changes == []
