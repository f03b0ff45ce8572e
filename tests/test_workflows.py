"""The GitHub Actions workflows: actionlint (with its shellcheck integration) and yamllint are clean, and the
release rules hold: pinned actions, OIDC and no stored keys, least privilege, per-stack concurrency, the
dev → staging → canary → gate → prod order behind Environments, and the manual rollback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.test_release_repo import GIT_ENV
from tools.release.common import stack_names as deployed_stacks
from tools.synthesis import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@([0-9a-f]{40}|v\d+\.\d+\.\d+)$")
OIDC_ACTIONS = ("aws-actions/configure-aws-credentials", "google-github-actions/auth", "azure/login", "pulumi/auth-actions")


def load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:  # YAML 1.1 reads the `on:` key as a boolean
        data["on"] = data.pop(True)
    return data


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in FILES for name, job in load(path.name)["jobs"].items()]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def tool(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"{name} is missing from the virtualenv: install requirements-dev.txt (make test does)"
    return str(path)


def actionlint(cwd: Path, *files: Path) -> list[dict[str, Any]]:
    assert shutil.which("shellcheck"), "shellcheck is not installed: actionlint would skip its shell checks (apt-get install shellcheck)"
    done = subprocess.run(
        [tool("actionlint"), "-format", "{{json .}}", *map(str, files)], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return list(json.loads(done.stdout or "[]"))


def test_the_workflows_exist() -> None:
    assert [p.name for p in FILES] == ["deploy.yml", "loop-image.yml", "pull-request.yml", "pulumi-up.yml", "retrain.yml", "rollback.yml"]


def test_actionlint_is_clean() -> None:
    errors = actionlint(ROOT, *FILES)
    assert errors == [], "\n".join(f"{e['filepath']}:{e['line']}: [{e['kind']}] {e['message']}" for e in errors)


def test_actionlint_and_its_shellcheck_catch_a_broken_workflow(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet"], cwd=tmp_path, check=True, env={**GIT_ENV, "PATH": "/usr/bin:/bin"})
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.write_text(
        "name: broken\non:\n  pull_request:\npermissions:\n  contents: read\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    needs: [missing]\n    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - run: |\n          x=$(ls)\n          echo $x\n"
    )
    kinds = {e["kind"] for e in actionlint(tmp_path, broken)}
    assert kinds == {"job-needs", "expression", "shellcheck"}


def test_yamllint_is_clean() -> None:
    done = subprocess.run(
        [tool("yamllint"), "-s", "-f", "parsable", "-c", str(ROOT / ".yamllint.yaml"), str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_catches_duplicate_keys(tmp_path: Path) -> None:
    bad = tmp_path / "dup.yml"
    bad.write_text("name: a\nname: b\n")
    done = subprocess.run(
        [tool("yamllint"), "-s", "-f", "parsable", "-c", str(ROOT / ".yamllint.yaml"), str(bad)], capture_output=True, text=True
    )
    assert done.returncode == 1 and "key-duplicates" in done.stdout


def test_actions_are_pinned_and_credentials_come_from_oidc() -> None:
    text = "\n".join(p.read_text() for p in FILES)
    for file, name, job in jobs():
        for step in steps(job):
            uses = step.get("uses")
            if uses:
                assert PINNED.match(uses), f"{file}:{name}: {uses} is not pinned to a commit SHA or an exact version"
                assert re.search(r"@[0-9a-f]{40}$", uses), f"{file}:{name}: {uses}: pin to the commit SHA (version in a comment)"
        if "uses" in job:
            assert job["uses"].startswith("./.github/workflows/"), f"{file}:{name}: only local reusable workflows"
    assert "secrets." not in text, "no stored secrets: OIDC federation only (and github.token)"
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "credentials_json", "creds:", "PULUMI_ACCESS_TOKEN:", "client-secret"):
        assert forbidden not in text, forbidden
    oidc = {step["uses"].split("@")[0]: step.get("with", {}) for _, _, job in jobs() for step in steps(job) if "uses" in step}
    assert "role-to-assume" in oidc["aws-actions/configure-aws-credentials"]
    assert "workload_identity_provider" in oidc["google-github-actions/auth"]
    assert {"client-id", "tenant-id", "subscription-id"} <= set(oidc["azure/login"])


def _permissions(job: dict[str, Any]) -> dict[str, str]:
    permissions = job.get("permissions")
    assert isinstance(permissions, dict), "every job sets its own permissions"
    return permissions


def test_least_privilege_permissions() -> None:
    for path in FILES:
        assert load(path.name)["permissions"] == {"contents": "read"}, f"{path.name}: workflow-level permissions are contents: read"
    writes: dict[str, set[str]] = {}
    for file, name, job in jobs():
        permissions = _permissions(job)
        assert "write-all" not in str(permissions)
        assert permissions.get("contents") in ("read", "write")
        uses = [s.get("uses", "").split("@")[0] for s in steps(job)]
        needs_oidc = any(u in OIDC_ACTIONS for u in uses) or job.get("uses") == "./.github/workflows/pulumi-up.yml"
        assert (permissions.get("id-token") == "write") == needs_oidc, f"{file}:{name}: id-token write exactly where OIDC is used"
        for scope, level in permissions.items():
            if level == "write" and scope != "id-token":
                writes.setdefault(f"{scope}", set()).add(f"{file}:{name}")
    assert writes == {
        "pull-requests": {"pull-request.yml:preview", "rollback.yml:record"},
        "contents": {"rollback.yml:prepare"},
        "packages": {"loop-image.yml:publish"},
    }


def test_previews_use_the_official_action_with_the_policy_pack_and_one_comment_per_stack() -> None:
    workflow = load("pull-request.yml")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == ["changes"] and "fromJSON(needs.changes.outputs.matrix)" in preview["strategy"]["matrix"]
    assert preview["concurrency"] == {
        "group": "preview-${{ github.event.pull_request.number }}-${{ matrix.stack }}",
        "cancel-in-progress": True,
    }
    pulumi = next(s for s in steps(preview) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policy-config.json" and pulumi["continue-on-error"] is True
    runs = "\n".join(s.get("run", "") for s in steps(preview))
    assert 'make --no-print-directory -s diff BASE="$BASE_SHA" STACK="$STACK"' in runs
    assert "python -m tools.release.pr_comment" in runs and "--post" in runs
    assert steps(preview)[-1]["if"] == "steps.preview.outcome != 'success' || steps.review.outputs.status != '0'"
    assert "make test" in "\n".join(s.get("run", "") for s in steps(workflow["jobs"]["test"]))
    assert "actionlint" in "\n".join(s.get("run", "") for s in steps(workflow["jobs"]["lint"]))


def test_deploy_order_environments_gate_and_concurrency() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["concurrency"] == {"group": "deploy-main", "cancel-in-progress": False}
    stages = deploy["jobs"]
    expected = {
        "dev": ["plan"],
        "staging": ["plan", "dev"],
        "canary": ["plan", "staging"],
        "canary-gate": ["plan", "canary"],
        "prod": ["plan", "canary-gate"],
    }
    for stage, needs in expected.items():
        assert stages[stage]["needs"] == needs, stage
    for stage in ("dev", "staging", "canary", "prod"):
        assert stages[stage]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert stages[stage]["with"] == {"stacks": f"${{{{ needs.plan.outputs.{stage} }}}}", "environment": stage}
    assert "needs.canary-gate.result == 'success'" in stages["prod"]["if"]
    gate = "\n".join(s.get("run", "") for s in steps(stages["canary-gate"]))
    assert "python -m tools.release.health_gate --stack canary --prometheus-url http://127.0.0.1:9090" in gate

    up = load("pulumi-up.yml")
    assert set(up["on"]) == {"workflow_call"}
    job = up["jobs"]["up"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "pulumi-up-${{ matrix.stack }}", "cancel-in-progress": False}
    pulumi = next(s for s in steps(job) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "up" and pulumi["with"]["policyPacks"] == "policies"


def test_rollback_is_manual_and_goes_through_make_rollback() -> None:
    rollback = load("rollback.yml")
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    options, stacks = set(inputs["stack"]["options"]), set(deployed_stacks(ROOT))
    assert not stacks - options, (
        f"stacks/ has {', '.join(sorted(stacks - options))}: add it to on.workflow_dispatch.inputs.stack.options "
        "in .github/workflows/rollback.yml, so the stack can be rolled back"
    )
    assert not options - stacks, f"rollback.yml offers {', '.join(sorted(options - stacks))}, which stacks/ no longer has: remove it"
    assert inputs["ref"]["required"] is True
    prepare = rollback["jobs"]["prepare"]
    runs = "\n".join(s.get("run", "") for s in steps(prepare))
    assert 'make --no-print-directory rollback STACK="$STACK" TO="$TARGET_REF"' in runs
    assert rollback["jobs"]["apply"]["uses"] == "./.github/workflows/pulumi-up.yml"
    assert rollback["jobs"]["apply"]["with"]["ref"] == "${{ needs.prepare.outputs.ref }}"


def test_no_expression_is_expanded_inside_a_script() -> None:
    """Inputs, event fields and outputs reach scripts through env only (no script injection)."""
    for file, name, job in jobs():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), f"{file}:{name}: {step.get('name')}: pass values through env"


def test_retraining_takes_the_triggers_inputs_through_env_only() -> None:
    """The inputs the retraining trigger sends (loop/mlops_loop/retrain.py) are the workflow's, and reach scripts via env."""
    workflow = load("retrain.yml")
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert sorted(inputs) == ["alert", "figures", "model", "version"] and all(i["required"] for i in inputs.values())
    assert workflow["concurrency"] == {"group": "retrain-${{ inputs.model }}", "cancel-in-progress": False}
    trigger = (ROOT / "loop" / "mlops_loop" / "retrain.py").read_text()
    assert all(f'"{name}":' in trigger for name in inputs)
