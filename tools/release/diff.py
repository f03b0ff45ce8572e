"""`make diff BASE=<git ref> STACK=<name>`: what a change does to one stack, offline.

The stack is synthesized twice under Pulumi's mocks, each time by its own program: at ``BASE`` (a
``git archive`` of that commit in a temporary directory) and in the work tree, both with the current
interpreter. The text compares the two:

- resources added (``+``), changed (``~``, with each changed input path and old → new value) and removed
  (``-``), by URN; values of Kubernetes Secrets and of keys that name credentials are never shown;
- the policy pack's results now (mandatory/advisory counts, every message, new ones marked) and the ones
  the change resolves;
- the monthly GPU cost at minimum and maximum size, before, after and the delta.

The text is Markdown, deterministic (same inputs, same bytes) and is what the pull-request comment carries.

Exit codes: 0 printed; 1 printed, but the stack's configuration is invalid in the work tree;
2 bad input (not a git repository, unknown ref or stack, a commit whose program cannot run).
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .common import STACK_NAME, ReleaseError, repo_root, resolve_commit, run_cli, stack_names, stacks_at

SNAPSHOT = Path(__file__).resolve().with_name("snapshot.py")
TIMEOUT_SECONDS = 900
_MISSING: Any = object()
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CREDENTIAL_KEY = re.compile(
    r"(password|passwd|token|privatekey|private_key|secretkey|secret_key|accesskey|access_key|clientsecret|client_secret)$"
)
_LONG = 120
_TEXT_LINES = 30
_ARROW = "→"


# -- synthesis of both sides -------------------------------------------------------------------------


def _extract(root: Path, commit: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=root, capture_output=True, check=False)
    if archive.returncode != 0:
        raise ReleaseError(f"git archive {commit[:12]} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def _snapshots(trees: dict[str, Path], stack: str, scratch: Path) -> dict[str, dict[str, Any]]:
    """Run snapshot.py in every tree at once; each side's JSON by label."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPATH", None)
    running = {}
    for label, tree in trees.items():
        out = scratch / f"{label}.json"
        running[label] = (
            out,
            subprocess.Popen(
                [sys.executable, str(SNAPSHOT), str(tree), stack, str(out)],
                cwd=tree,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    results: dict[str, dict[str, Any]] = {}
    failures = []
    for label, (out, process) in running.items():
        try:
            _, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            failures.append(f"{label}: synthesis took longer than {TIMEOUT_SECONDS} s")
            continue
        if process.returncode != 0 or not out.is_file():
            lines = [line for line in stderr.strip().splitlines() if line.strip()]
            failures.append(f"{label}: {lines[-1] if lines else f'exit status {process.returncode}'}")
            continue
        results[label] = json.loads(out.read_text())
    if failures:
        raise ReleaseError(f"cannot synthesize stack {stack!r}: " + "; ".join(failures))
    return results


# -- rendering ---------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _named(items: list[Any]) -> list[str] | None:
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
        return [str(n) for n in names]
    return None


def _walk(old: Any, new: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), _join(path, str(key)), out)
        return
    if isinstance(old, list) and isinstance(new, list):
        old_names, new_names = _named(old), _named(new)
        if old_names is not None and new_names is not None and old and new:
            before = dict(zip(old_names, old, strict=True))
            after = dict(zip(new_names, new, strict=True))
            order = new_names + [n for n in old_names if n not in after]
            if [n for n in old_names if n in after] != [n for n in new_names if n in before]:
                out.append((f"{path} (order)", old_names, new_names))
            for name in order:
                _walk(before.get(name, _MISSING), after.get(name, _MISSING), f"{path}[name={name}]", out)
            return
        for index in range(max(len(old), len(new))):
            _walk(old[index] if index < len(old) else _MISSING, new[index] if index < len(new) else _MISSING, f"{path}[{index}]", out)
        return
    out.append((path, old, new))


def _hidden(record_type: str, path: str) -> bool:
    """Paths whose string values are never shown: Kubernetes Secret payloads and keys that name credentials."""
    if record_type.endswith(":Secret") and re.match(r"^(data|stringData)\b", path):
        return True
    last = re.split(r"[.\[]", path.rstrip("]"))[-1].strip('"').lower()
    return bool(_CREDENTIAL_KEY.search(last))


def _mask(record_type: str, path: str, value: Any) -> Any:
    """``value`` with every string under a hidden path replaced by "[secret]"."""
    if isinstance(value, dict):
        return {k: _mask(record_type, _join(path, str(k)), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(record_type, f"{path}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, str) and _hidden(record_type, path):
        return "[secret]"
    return value


def _value(record_type: str, path: str, value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(_mask(record_type, path, value), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"


def _change_lines(record_type: str, path: str, old: Any, new: Any) -> list[str]:
    if "[secret]" in (old, new) or (_hidden(record_type, path) and (isinstance(old, str) or isinstance(new, str))):
        return [f"    {path}: [secret] (value changed)"]
    if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new or max(len(old), len(new)) > _LONG):
        delta = [
            line
            for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))
        ]
        shown = [f"        {line}" for line in delta[:_TEXT_LINES]]
        if len(delta) > _TEXT_LINES:
            shown.append(f"        … {len(delta) - _TEXT_LINES} more lines")
        return [f"    {path}: text changed ({len(delta)} lines)", *shown]
    return [f"    {path}: {_value(record_type, path, old)} {_ARROW} {_value(record_type, path, new)}"]


def resource_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The changed input paths (and resource options) of one resource, as indented lines."""
    found: list[tuple[str, Any, Any]] = []
    _walk(old.get("inputs") or {}, new.get("inputs") or {}, "", found)
    options = sorted((set(old) | set(new)) - {"urn", "type", "name", "inputs", "operation"})
    for option in options:
        if old.get(option, _MISSING) != new.get(option, _MISSING):
            found.append((f"({option})", old.get(option, _MISSING), new.get(option, _MISSING)))
    lines: list[str] = []
    for path, before, after in found:
        lines += _change_lines(new.get("type") or old.get("type") or "", path or "(inputs)", before, after)
    return lines


def _records(snap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in snap.get("records") or []}


def _resources_section(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    before, after = _records(base), _records(head)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = {urn: resource_changes(before[urn], after[urn]) for urn in sorted(set(before) & set(after))}
    changed = {urn: lines for urn, lines in changed.items() if lines}
    lines = [
        f"### Resources: {len(added)} added, {len(changed)} changed, {len(removed)} removed ({len(before)} {_ARROW} {len(after)})",
        "",
    ]
    if not (added or changed or removed):
        return [*lines, "No resource changes.", ""]
    lines.append("```diff")
    lines += [f"+ {urn}" for urn in added]
    for urn, detail in changed.items():
        lines += [f"~ {urn}", *detail]
    lines += [f"- {urn}" for urn in removed]
    return [*lines, "```", ""]


def _policy_key(result: dict[str, Any]) -> tuple[int, str, str, str]:
    return (0 if result["level"] == "mandatory" else 1, result["policy"], result["urn"] or "", result["message"])


def _counts(results: list[dict[str, Any]]) -> str:
    mandatory = sum(1 for r in results if r["level"] == "mandatory")
    return f"{mandatory} mandatory, {len(results) - mandatory} advisory"


def _policy_line(result: dict[str, Any], mark: str) -> str:
    where = f"`{result['urn']}`" if result["urn"] else "(stack)"
    message = " ".join(str(result["message"]).split())
    return f"- {mark}{result['level']} `{result['policy']}` on {where}: {message}"


def _policy_section(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    policy = head.get("policy") or {}
    if "unavailable" in policy:
        return ["### Policies: policy pack unavailable", "", f"The pack could not run: {policy['unavailable']}.", ""]
    now = sorted(policy.get("results") or [], key=_policy_key)
    old_policy = base.get("policy") or {}
    comparable = "results" in old_policy
    then = sorted(old_policy.get("results") or [], key=_policy_key)
    then_keys = {_policy_key(r) for r in then}
    now_keys = {_policy_key(r) for r in now}
    if comparable:
        base_note = f"base: {_counts(then)}"
    elif base.get("records"):
        base_note = f"base: policy pack unavailable ({old_policy.get('unavailable', 'not run')})"
    else:
        base_note = "base: no resources"
    lines = [f"### Policies: {_counts(now)} ({base_note})", ""]
    if not now and not (then_keys - now_keys if comparable else set()):
        return [*lines, "No policy violations.", ""]
    for result in now:
        lines.append(_policy_line(result, "**new** " if comparable and _policy_key(result) not in then_keys else ""))
    if comparable:
        lines += [_policy_line(r, "**resolved** ") for r in then if _policy_key(r) not in now_keys]
    return [*lines, ""]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _delta(old: float, new: float) -> str:
    change = round(new - old, 2)
    if change == 0:
        return "±$0.00"
    return ("+" if change > 0 else "−") + _money(abs(change))


def _cost_section(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    lines = ["### Monthly cost (GPU node pools)", ""]
    old, new = base.get("cost"), head.get("cost")
    if new is None:
        return [*lines, f"Unavailable: {head.get('cost_unavailable', 'no cost summary')}.", ""]
    if old is None:
        old = {"total_monthly_at_min_usd": 0.0, "total_monthly_at_max_usd": 0.0}
        if base.get("records"):
            lines += [f"Base cost unavailable ({base.get('cost_unavailable', 'no cost summary')}); counted as $0.00.", ""]
    lines += ["| | base | now | delta |", "|---|---:|---:|---:|"]
    for label, key in (("at min nodes", "total_monthly_at_min_usd"), ("at max nodes", "total_monthly_at_max_usd")):
        lines.append(f"| {label} | {_money(old[key])} | {_money(new[key])} | {_delta(old[key], new[key])} |")
    budget = new.get("gpu_monthly_budget_usd")
    if budget:
        lines += ["", f"Budget {_money(budget)}/month: {100 * new['total_monthly_at_max_usd'] / budget:.1f} % used at max nodes."]
    return [*lines, ""]


def render(stack: str, base_label: str, base: dict[str, Any], head: dict[str, Any]) -> str:
    """The review text for one stack from the two snapshots; ``base_label`` is Markdown (the ref in backticks)."""
    lines = [f"## Stack `{stack}`: changes against {base_label}", ""]
    facts = [
        f"environment `{head['environment']}`" if head.get("environment") else "",
        f"cloud `{head['cloud']}`" if head.get("cloud") else "",
    ]
    facts = [f for f in facts if f]
    if facts:
        lines += [f"Work tree compared with the base: {', '.join(facts)}.", ""]
    if not base.get("exists"):
        lines += ["The stack is new: it has no stack file at the base.", ""]
    if not head.get("exists"):
        lines += ["The stack file is deleted in the work tree: every resource is removed.", ""]
    if base.get("config_error"):
        lines += ["The base configuration was invalid, so every resource shows as added:", "", "```", base["config_error"], "```", ""]
    if head.get("config_error"):
        lines += ["### Configuration: invalid", "", "```", head["config_error"], "```", ""]
        return "\n".join(lines)
    lines += _resources_section(base, head)
    if head.get("exists"):
        lines += _policy_section(base, head)
        lines += _cost_section(base, head)
    return "\n".join(lines).rstrip("\n") + "\n"


# -- command -----------------------------------------------------------------------------------------


def review(root: Path, base_ref: str, stack: str) -> tuple[str, int]:
    """The review text and the exit status for ``stack`` between ``base_ref`` and the work tree."""
    root = repo_root(root)
    commit = resolve_commit(root, base_ref)
    if not STACK_NAME.match(stack or ""):
        raise ReleaseError(f"invalid stack name {stack!r}")
    here, there = stack_names(root), stacks_at(root, commit)
    if stack not in here and stack not in there:
        raise ReleaseError(f"unknown stack {stack!r}: no stack file in the work tree or at {base_ref}; stacks: {', '.join(here)}")
    label = f"`{commit}`" if base_ref == commit else f"`{base_ref}` (`{commit[:12]}`)"
    with tempfile.TemporaryDirectory(prefix="release-diff-") as tmp:
        scratch = Path(tmp)
        base_tree = scratch / "base"
        base_tree.mkdir()
        _extract(root, commit, base_tree)
        snaps = _snapshots({"base": base_tree, "work tree": root}, stack, scratch)
    text = render(stack, label, snaps["base"], snaps["work tree"])
    return text, 1 if snaps["work tree"].get("config_error") else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git ref to compare the work tree with (e.g. origin/main)")
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    parser.add_argument("--out", type=Path, help="also write the text to this file")
    args = parser.parse_args(argv)

    def body() -> int:
        text, status = review(args.root, args.base, args.stack)
        sys.stdout.write(text)
        if args.out is not None:
            args.out.write_text(text)
        return status

    return run_cli("diff", body)


if __name__ == "__main__":
    sys.exit(main())
