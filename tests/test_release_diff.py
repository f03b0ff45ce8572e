"""`make diff`: the review text of a real two-commit history, its refusals, and the rendering rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlops_platform.gpu.cost import pool_cost
from tests.test_release_repo import assert_refused, commit, git, make, make_repo, run
from tools.release.common import platform_config
from tools.release.diff import render, resource_changes

STAGING = "stacks/Pulumi.staging.yaml"
CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQtbmV2ZXItc2hvd24="
URN = "urn:pulumi:staging::mlops-platform::mlops:serving:TritonDeployment$kubernetes:"
LINEAR = "      release: {mode: linear, step_percent: 20, max_percent: 40, interval_seconds: 30}\n"
STEPS = "      release: {mode: canary, steps: [10, 25], interval_seconds: 30}\n"
EMBEDDER = "    - name: text-embedder\n"
POOL = "      max_nodes: 8\n"


def _costs(text: str) -> tuple[float, float]:
    config = platform_config("staging", text, "test")
    costs = [pool_cost(pool, config.cloud.provider) for pool in config.gpu_pools]
    return round(sum(c.monthly_at_min for c in costs), 2), round(sum(c.monthly_at_max for c in costs), 2)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, str]:
    """Commit 1: the project (staging runs fraud-detector 9, released linearly, and text-embedder 4). Commit 2:
    staging moves fraud-detector to version 10 released in canary steps, retires text-embedder and holds an
    encrypted secret. Work tree, uncommitted: staging's GPU pool may grow to 40 nodes. Returns (repo, base
    text, head text, make output)."""
    repo = make_repo(tmp_path_factory.mktemp("diff") / "repo")
    stack = repo / STAGING
    base = stack.read_text()
    assert LINEAR in base and EMBEDDER in base and POOL in base
    committed = base.replace("      version: 9\n", "      version: 10\n", 1).replace(LINEAR, STEPS, 1)
    committed = committed[: committed.index(EMBEDDER)] + committed[committed.index("  mlops-platform:serving:\n") :]
    committed += f"  mlops-platform:slackWebhookUrl:\n    secure: {CIPHERTEXT}\n"
    stack.write_text(committed)
    commit(repo, "staging: fraud-detector 10, text-embedder retired")
    head = committed.replace(POOL, "      max_nodes: 40\n", 1)
    stack.write_text(head)
    done = make(repo, "diff", "BASE=HEAD~1", "STACK=staging")
    assert done.returncode == 0, done.stderr
    return repo, base, head, done.stdout


def test_diff_of_a_real_history(history: tuple[Path, str, str, str]) -> None:
    repo, base, head, text = history
    first = git(repo, "rev-parse", "HEAD~1").strip()
    lines = text.splitlines()
    assert lines[0] == f"## Stack `staging`: changes against `HEAD~1` (`{first[:12]}`)"

    # Resources: the counts agree with the listed URNs; the retired model's objects go, fraud-detector's change.
    header = next(line for line in lines if line.startswith("### Resources:"))
    added, changed, removed = (int(n) for n in re.findall(r"(\d+) (?:added|changed|removed)", header))
    assert (added, changed, removed) == (
        sum(1 for line in lines if line.startswith("+ urn:")),
        sum(1 for line in lines if line.startswith("~ urn:")),
        sum(1 for line in lines if line.startswith("- urn:")),
    )
    assert added == 0 and changed > 0 and removed > 0
    assert f"- {URN}apps/v1:Deployment::mlops-model-text-embedder-deployment" in lines
    assert f"- {URN}flagger.app/v1beta1:Canary::mlops-model-text-embedder-canary" in lines
    assert not any(line.startswith(("- urn:", "+ urn:")) and "fraud-detector" in line for line in lines)  # one Deployment, updated

    def changes_of(urn: str) -> list[str]:
        start = lines.index(f"~ {URN}{urn}")
        end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    "))
        return lines[start + 1 : end]

    deployment = changes_of("apps/v1:Deployment::mlops-model-fraud-detector-deployment")
    assert '    metadata.labels["mlops.platform/model-version"]: "9" → "10"' in deployment
    assert (
        '    spec.template.spec.initContainers[name=fetch-model].args[3]: "/models/fraud-detector/9" → "/models/fraud-detector/10"'
        in deployment
    )
    canary = changes_of("flagger.app/v1beta1:Canary::mlops-model-fraud-detector-canary")
    assert canary[:3] == [
        "    spec.analysis.maxWeight: 40.0 → (absent)",
        "    spec.analysis.stepWeight: 20.0 → (absent)",
        "    spec.analysis.stepWeights: (absent) → [10.0, 25.0]",
    ]
    assert '    metadata.name: "triton-fraud-detector-v9" → "triton-fraud-detector-v10"' in changes_of(
        "core/v1:Service::mlops-model-fraud-detector-version-svc"
    )
    assert '    spec.rules[0].matches[0].path.value: "/v2/models/fraud-detector/versions/9" → "/v2/models/fraud-detector/versions/10"' in (
        changes_of("gateway.networking.k8s.io/v1:HTTPRoute::mlops-model-fraud-detector-version-route")
    )
    assert "~ urn:pulumi:staging::mlops-platform::mlops:compute:GpuNodePool$aws:eks/nodeGroup:NodeGroup::mlops-gpu-l4-serving-ng" in lines
    assert "    scalingConfig.maxSize: 8.0 → 40.0" in lines  # the uncommitted work tree, not HEAD

    # Policies: the pool at 40 nodes breaks the budget (new), the retired model's finding is resolved.
    policies = next(line for line in lines if line.startswith("### Policies:"))
    assert re.fullmatch(r"### Policies: [1-9]\d* mandatory, \d+ advisory \(base: 0 mandatory, \d+ advisory\)", policies), policies
    assert any(line.startswith("- **new** mandatory `gpu-budget-limit` on `urn:") for line in lines)
    assert any(
        line.startswith(f"- **resolved** advisory `k8s-min-replicas` on `{URN}apps/v1:Deployment::mlops-model-text-embedder-deployment`")
        for line in lines
    )
    removed_urns = {line[2:] for line in lines if line.startswith("- urn:")}
    current = [line for line in lines if re.match(r"- (\*\*new\*\* )?(mandatory|advisory) `", line)]
    assert not any(urn in line for urn in removed_urns for line in current)  # findings on removed resources are not "now"

    # Cost: before and after from the price table, with the delta.
    (base_min, base_max), (head_min, head_max) = _costs(base), _costs(head)
    assert f"| at min nodes | ${base_min:,.2f} | ${head_min:,.2f} | ±$0.00 |" in lines
    assert f"| at max nodes | ${base_max:,.2f} | ${head_max:,.2f} | +${head_max - base_max:,.2f} |" in lines

    # Secrets: neither the ciphertext nor the synthesis placeholder is ever printed.
    assert CIPHERTEXT not in text and "synth-placeholder-secret" not in text


def test_diff_is_deterministic_and_reads_the_work_tree(history: tuple[Path, str, str, str]) -> None:
    repo, _, _, text = history
    again = run(repo, "tools.release.diff", "--base", "HEAD~1", "--stack", "staging")
    assert again.returncode == 0, again.stderr
    assert again.stdout == text
    assert git(repo, "status", "--porcelain").strip() == f"M {STAGING}"  # nothing else written in the repository


def test_invalid_work_tree_config_is_reported_with_status_1(history: tuple[Path, str, str, str]) -> None:
    repo, _, head, _ = history
    stack = repo / STAGING
    broken = head.replace("      version: 10\n", "      version: latest\n", 1)
    assert broken != head
    stack.write_text(broken)
    try:
        done = run(repo, "tools.release.diff", "--base", "HEAD", "--stack", "staging")
    finally:
        stack.write_text(head)
    assert done.returncode == 1, done.stderr
    assert "### Configuration: invalid" in done.stdout
    assert "invalid configuration for stack 'staging'" in done.stdout and "models[0].version" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_diff_refuses_bad_input(history: tuple[Path, str, str, str], tmp_path: Path) -> None:
    repo = history[0]
    assert_refused(run(repo, "tools.release.diff", "--base", "nope", "--stack", "staging"), "diff", "unknown git ref 'nope'")
    assert_refused(run(repo, "tools.release.diff", "--base", "HEAD", "--stack", "qa"), "diff", "unknown stack 'qa'")
    assert_refused(run(repo, "tools.release.diff", "--base", "HEAD", "--stack", "../../etc"), "diff", "invalid stack name")
    done = make(repo, "diff", "STACK=staging")
    assert done.returncode == 2 and "make diff: BASE=<git ref> is required" in done.stderr

    # A commit that holds stack files but no program: the base cannot be synthesized, said in one line.
    bare = tmp_path / "bare"
    (bare / "stacks").mkdir(parents=True)
    (bare / "stacks" / "Pulumi.staging.yaml").write_text((repo / STAGING).read_text())
    git(bare, "init", "--quiet", "--initial-branch=main")
    commit(bare, "stacks only")
    assert_refused(
        run(repo, "tools.release.diff", "--root", str(bare), "--base", "HEAD", "--stack", "staging"),
        "diff",
        "cannot synthesize stack 'staging': base: ModuleNotFoundError: No module named 'mlops_platform'",
    )


# -- rendering rules, on hand-made snapshots --------------------------------------------------------------


def _record(urn: str, type_: str, inputs: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"urn": urn, "type": type_, "name": urn.rsplit("::", 1)[1], "inputs": inputs, "custom": True, "protect": False, **options}


def _snap(records: list[dict[str, Any]], results: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {"exists": True, "environment": "prod", "cloud": "aws", "records": records, **extra}
    snap["policy"] = (
        {"results": results} if results is not None else {"unavailable": "ModuleNotFoundError: No module named 'pulumi_policy'"}
    )
    snap.setdefault("cost", {"total_monthly_at_min_usd": 10.0, "total_monthly_at_max_usd": 20.0, "gpu_monthly_budget_usd": 100})
    return snap


SECRET = "urn:pulumi:prod::mlops-platform::kubernetes:core/v1:Secret::creds"
DB = "urn:pulumi:prod::mlops-platform::aws:rds/instance:Instance::db"


def test_secret_values_are_never_shown() -> None:
    old = [
        _record(SECRET, "kubernetes:core/v1:Secret", {"stringData": {"url": "https://hooks.example/AAA"}, "metadata": {"name": "creds"}}),
        _record(
            DB,
            "aws:rds/instance:Instance",
            {
                "password": "hunter2-old",
                "tags": {"a": "b"},
                "masterUserSecret": "[secret]",
                "auth": {"clientSecret": "s3cr3t", "user": "u"},
            },
        ),
    ]
    new = [
        _record(SECRET, "kubernetes:core/v1:Secret", {"stringData": {"url": "https://hooks.example/BBB"}, "metadata": {"name": "creds"}}),
        _record(
            DB, "aws:rds/instance:Instance", {"password": "hunter2-new", "tags": {"a": "c"}, "masterUserSecret": "[secret]"}, protect=True
        ),
    ]
    text = render("prod", "`main`", _snap(old), _snap(new))
    for value in ("AAA", "BBB", "hunter2", "s3cr3t"):
        assert value not in text
    assert "    stringData.url: [secret] (value changed)" in text
    assert "    password: [secret] (value changed)" in text
    assert '    tags.a: "b" → "c"' in text
    token_flag = resource_changes(
        {"type": "kubernetes:core/v1:Pod", "inputs": {"automountServiceAccountToken": True}},
        {"type": "kubernetes:core/v1:Pod", "inputs": {"automountServiceAccountToken": False}},
    )
    assert token_flag == ["    automountServiceAccountToken: true → false"]  # a flag, not a credential
    assert "    (protect): false → true" in text
    assert "masterUserSecret" not in text  # "[secret]" on both sides: no visible change
    assert '    auth: {"clientSecret": "[secret]", "user": "u"} → (absent)' in text


def test_unavailable_pack_new_stack_and_ordering() -> None:
    records = [_record(f"urn:pulumi:prod::mlops-platform::t:m:R::r{i}", "t:m:R", {"i": i}) for i in (3, 1, 2)]
    text = render("prod", "`main`", {"exists": False}, _snap(records))
    assert "The stack is new: it has no stack file at the base." in text
    assert "### Policies: policy pack unavailable" in text
    assert "The pack could not run: ModuleNotFoundError: No module named 'pulumi_policy'." in text
    plus = [line for line in text.splitlines() if line.startswith("+ ")]
    assert plus == sorted(plus) and len(plus) == 3
    assert text == render("prod", "`main`", {"exists": False}, _snap(list(reversed(records))))
    assert "| at max nodes | $0.00 | $20.00 | +$20.00 |" in text


def test_policy_results_are_counted_and_marked() -> None:
    urn = "urn:pulumi:prod::mlops-platform::t:m:R::r"
    keep = {"level": "advisory", "policy": "b-policy", "urn": urn, "message": "still here"}
    gone = {"level": "advisory", "policy": "c-policy", "urn": None, "message": "fixed"}
    new = {"level": "mandatory", "policy": "a-policy", "urn": urn, "message": "broken\nover two lines"}
    text = render("prod", "`main`", _snap([], [keep, gone]), _snap([], [keep, new]))
    assert "### Policies: 1 mandatory, 1 advisory (base: 0 mandatory, 2 advisory)" in text
    assert f"- **new** mandatory `a-policy` on `{urn}`: broken over two lines" in text
    assert f"- advisory `b-policy` on `{urn}`: still here" in text
    assert "- **resolved** advisory `c-policy` on (stack): fixed" in text


def test_named_lists_and_long_text_changes() -> None:
    old: dict[str, Any] = {
        "urn": "u",
        "type": "kubernetes:apps/v1:Deployment",
        "inputs": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b"}]},
    }
    new = {"urn": "u", "type": "kubernetes:apps/v1:Deployment", "inputs": {"containers": [{"name": "a", "image": "x:2"}], "doc": "l1\nl2"}}
    old["inputs"]["doc"] = "l1\nl3"
    assert resource_changes(old, new) == [
        '    containers[name=a].image: "x:1" → "x:2"',
        '    containers[name=b]: {"name": "b"} → (absent)',
        "    doc: text changed (2 lines)",
        "        -l3",
        "        +l2",
    ]
