"""Entry point of the policy pack: `pulumi preview --policy-pack policies [--policy-pack-config policies/config/<env>.json]`.

Constructing the PolicyPack starts the analyzer's gRPC server and blocks, so nothing may import this
module; tests and synth import ``policies.mlops_policies`` instead.
"""

import sys
from pathlib import Path

# The repository root, so `policies.mlops_policies` and the price catalog (`components.catalog.offers`) import.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.mlops_policies import ALL_POLICIES, PACK_NAME  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=list(ALL_POLICIES),
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Security, reliability and cost guardrails of the mlops-platform stacks.",
)
