"""Entry point of the policy pack: `pulumi preview --policy-pack policies [--policy-pack-config policies/config/<env>.json]`.

Pulumi runs this directory as a program (``python -u policies``), so the pack's own folder is the first
entry of ``sys.path`` and its policies import as ``mlops_policies``; everything else (``pulumi_policy``,
the price catalog of ``mlops_platform``) comes from the virtualenv of PulumiPolicy.yaml, which
requirements.txt here describes. Constructing the PolicyPack starts the analyzer's gRPC server and
blocks, so nothing may import this module; tests and synth import ``policies.mlops_policies`` instead.
"""

# mypy checks the pack as policies.mlops_policies (its files are under policies/); here it is the top-level
# package it is when Pulumi runs the pack.
from mlops_policies import ALL_POLICIES, PACK_NAME  # type: ignore[import-not-found]
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=list(ALL_POLICIES),
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Security, reliability and cost guardrails of the mlops-platform stacks.",
)
