"""The mlops-platform CrossGuard policy pack.

Importing this package (or ``policies.mlops_policies``) never starts the policy server; only
``policies/__main__.py`` constructs the ``PolicyPack``, and nothing imports it.
"""
