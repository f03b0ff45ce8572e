"""Synthesize one stack of a source tree and write what the review diff needs as JSON.

Run as a script, never imported: ``python snapshot.py <tree> <stack> <out.json>``. It imports the tree's
*own* program (``tools.synthesis``, ``components``, ``policies``) so a base commit is judged by its code,
with the interpreter (and so the virtualenv) that runs it. Output keys:

- ``exists``: the tree has ``stacks/Pulumi.<stack>.yaml``;
- ``config_error``: the loader's message when the configuration is invalid (then nothing else is set);
- ``records``: every resource (secrets already ``"[secret]"``);
- ``cost``: ``tools.synth.cost_summary`` totals, or ``cost_unavailable`` with the reason;
- ``policy``: ``{"results": [...]}`` from ``policies.mlops_policies.runner``, or ``{"unavailable": reason}``.

Exit status 0 when the JSON was written, 3 when the tree's program failed unexpectedly (traceback on stderr).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def snapshot(tree: Path, stack: str) -> dict[str, Any]:
    out: dict[str, Any] = {"stack": stack, "exists": (tree / "stacks" / f"Pulumi.{stack}.yaml").is_file()}
    if not out["exists"]:
        return out
    from mlops_platform.config import ConfigError
    from tools.synthesis import read_stack_file, synthesize

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = synthesize(stack, read_stack_file(stack, root=tree), root=tree)
    except ConfigError as error:
        out["config_error"] = str(error)
        return out
    cfg = result.config
    out["environment"] = cfg.environment
    out["cloud"] = cfg.cloud.provider
    out["records"] = result.records
    try:
        from tools.synth import cost_summary

        cost = cost_summary(result)
        out["cost"] = {k: cost[k] for k in ("total_monthly_at_min_usd", "total_monthly_at_max_usd", "gpu_monthly_budget_usd")}
    except Exception as error:
        out["cost_unavailable"] = _reason(error)
    try:
        from policies.mlops_policies.runner import evaluate, pack_config_for
    except Exception as error:
        out["policy"] = {"unavailable": _reason(error)}
        return out
    try:
        pack = pack_config_for(cfg.environment, cfg.budget.gpu_monthly_usd, cfg.cloud.provider, cfg.cloud.region)
        results = evaluate(result.records, pack)
        out["policy"] = {"results": [{"level": r.level, "policy": r.policy, "urn": r.urn, "message": r.message} for r in results]}
    except Exception as error:
        out["policy"] = {"unavailable": f"the policy pack failed: {_reason(error)}"}
    return out


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: snapshot.py <tree> <stack> <out.json>", file=sys.stderr)
        return 2
    tree, stack, target = Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3])
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(tree)] + [p for p in sys.path if p not in ("", here)]
    os.chdir(tree)
    try:
        data = snapshot(tree, stack)
    except Exception:
        traceback.print_exc()
        return 3
    target.write_text(json.dumps(data, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
