"""Imports run one way: catalog → config → shared pieces → components → platform → program.

An AST check of every module of the runtime package (``components/``): what each layer may import from this
package, and that nothing in it imports the repository's tools, tests or policy pack. Components do not import
each other; what two of them must agree on lives in a shared piece (``contracts.py`` and the like).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "components"

SHARED = {"charts", "contracts", "loop_image", "namespace", "pool_wiring", "security", "clouds", "identity"}
"""Pieces every component may use: Helm charts, security contexts, contracts, cloud adapters, workload identity."""
COMPONENTS = {"cluster", "endpoints", "gpu", "mlflow", "monitoring", "serving"}

ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "testing": set(),
    "catalog": set(),
    "config": {"catalog"},
    **{shared: {"catalog", "config"} | (SHARED - {shared}) for shared in SHARED},
    **{component: {"catalog", "config"} | SHARED for component in COMPONENTS},
    "platform": {"catalog", "config"} | SHARED | COMPONENTS,
}
"""Top-level unit of ``components`` to the units it may import (besides itself)."""

FOREIGN = ("tools", "tests", "policies", "components", "mlops_platform")
"""Absolute imports the runtime package must not make (the package itself is imported relatively)."""


def unit_of(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return parts[0]


def imported_units(path: Path, root: Path = PACKAGE) -> tuple[set[str], set[str]]:
    """The units of ``components`` a module imports (relative imports), and the absolute imports of FOREIGN."""
    package = list(path.relative_to(root).parent.parts)
    units: set[str] = set()
    foreign: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = base + (node.module.split(".") if node.module else [])
            if target:
                units.add(target[0])
            else:  # `from . import x` at the package root
                units.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FOREIGN:
            foreign.add(node.module)
        elif isinstance(node, ast.Import):
            foreign.update(alias.name for alias in node.names if alias.name.split(".")[0] in FOREIGN)
    return units, foreign


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_unit_has_a_layer():
    units = {unit_of(p) for p in MODULES}
    assert units <= set(ALLOWED), f"units without a layer in this test: {sorted(units - set(ALLOWED))}"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_imports_run_one_way(path: Path):
    unit = unit_of(path)
    units, foreign = imported_units(path)
    wrong = sorted(units - ALLOWED[unit] - {unit})
    assert not wrong, f"{path.relative_to(ROOT)} ({unit}) imports {wrong}; {unit} may import {sorted(ALLOWED[unit])}"
    assert not foreign, f"{path.relative_to(ROOT)} imports {sorted(foreign)}: the runtime package stands alone"


def test_the_check_sees_a_violation(tmp_path: Path):
    """A config module importing a component, and a component importing a tool, are both caught."""
    package = tmp_path / "components"
    (package / "config").mkdir(parents=True)
    bad = package / "config" / "x.py"
    bad.write_text("from ..serving.deployment import TritonDeployment\nfrom tools.synth import main\n")
    units, foreign = imported_units(bad, package)
    assert units == {"serving"} and foreign == {"tools.synth"}
    assert "serving" not in ALLOWED[unit_of(bad, package)]
