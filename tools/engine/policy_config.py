"""Print the policy pack config of a stack, from its environment, budget, cloud and region.

The pack config is derived from the validated stack config, never written by hand per stack, so a
stack file that loosens its own guardrails is still held to its environment's policies.
Usage: python -m tools.engine.policy_config <stack>
"""

from __future__ import annotations

import json
import sys

from mlops_platform.config.errors import ConfigError
from policies.mlops_policies.runner import pack_config_for
from tools.synthesis import read_stack_file, validate_stack


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.engine.policy_config <stack>", file=sys.stderr)
        return 2
    try:
        # the size limit is left to the engine, which reports it (synth checks it beforehand)
        cfg, _ = validate_stack(args[0], read_stack_file(args[0]), engine_limits=False)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    config = pack_config_for(cfg.environment, cfg.budget.gpu_monthly_usd, cfg.cloud.provider, cfg.cloud.region)
    json.dump(config, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
