"""The benchmark's scaling verdict rests on its exponent fit; check the fit on exact power laws."""

from __future__ import annotations

import pytest

from tools.bench import fit_exponent


def test_fit_exponent_recovers_exact_power_laws() -> None:
    sizes = [10, 100, 500]
    for scale, power in [(0.003, 1.0), (2e-6, 2.0), (0.5, 0.0), (0.01, 0.5)]:
        assert fit_exponent(sizes, [scale * n**power for n in sizes]) == pytest.approx(power, abs=1e-9)
    with pytest.raises(ValueError):
        fit_exponent([100, 100], [1.0, 2.0])  # one distinct size: no slope to fit


def test_generated_platform_config_is_valid():
    """The scaling series' generated models must pass the same validation as a stack file."""
    import json

    from components.config import validate_platform
    from tools.bench import generated_config
    from tools.synthesis import PROJECT

    config = generated_config(10)
    prefix = f"{PROJECT}:"
    values = {k[len(prefix) :]: json.loads(v) if v[:1] in "[{" else v for k, v in config.values.items() if k.startswith(prefix)}
    platform, _ = validate_platform("bench", values, set(), allow_missing_secrets=True)
    assert len(platform.models) == 10
