"""Imports run one way: catalog → config → shared pieces → components → platform → program.

An AST check of every module of the runtime package (``components/``): what each layer may import from this
package, and that nothing in it imports the repository's tools, tests or policy pack. Components do not import
each other; what two of them must agree on lives in a shared piece (``contracts.py`` and the like).

The policy pack (``policies/``) is a dependent like any program: it imports the installed ``mlops_platform``
plainly, never patches ``sys.path``, never imports a module by its name in a string, and never reaches into the
repository's ``components``, ``tools`` or ``tests`` (Pulumi runs it from its own folder, where none of them are).
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


# --- the policy pack -----------------------------------------------------------------------------------------------------

PACK = ROOT / "policies"
PACK_FOREIGN = ("components", "tools", "tests", "policies")
"""Absolute imports the pack must not make: the repository's trees (the package is ``mlops_platform``), and
``policies`` itself (under Pulumi the pack's folder is the import root, so its package is ``mlops_policies``)."""
DYNAMIC_IMPORTS = {"import_module", "__import__", "spec_from_file_location", "run_module", "run_path"}


def pack_problems(path: Path) -> list[str]:
    """What makes a module of the pack depend on where the repository is rather than on what is installed, by line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append((line, "sys.path"))
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and any(alias.name == "path" for alias in node.names):
            found.append((line, "from sys import path"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in DYNAMIC_IMPORTS:
                found.append((line, f"imports by name ({name})"))
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and node.module.split(".")[0] in PACK_FOREIGN:
            found.append((line, f"from {node.module} import ..."))
        elif isinstance(node, ast.Import):
            found += [(line, f"import {a.name}") for a in node.names if a.name.split(".")[0] in PACK_FOREIGN]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(tuple(f"{t}." for t in PACK_FOREIGN)):
            found.append((line, f"names the module {node.value!r} in a string"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


PACK_MODULES = sorted(p for p in PACK.rglob("*.py") if not {".venv", "__pycache__"} & set(p.relative_to(PACK).parts))


@pytest.mark.parametrize("path", PACK_MODULES, ids=[str(p.relative_to(ROOT)) for p in PACK_MODULES])
def test_the_policy_pack_imports_only_what_is_installed(path: Path):
    problems = pack_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}: {problems}; import mlops_platform (policies/requirements.txt installs it)"


def test_the_pack_check_sees_a_violation(tmp_path: Path):
    """The pack's former entry point (sys.path patched to the repository root) and catalog import (by a string
    naming ``components.``) are both caught, as is a plain import of the repository's tree."""
    entry = tmp_path / "__main__.py"
    entry.write_text(
        "import sys\nfrom pathlib import Path\nROOT = Path(__file__).resolve().parents[1]\n"
        "if str(ROOT) not in sys.path:\n    sys.path.insert(0, str(ROOT))\n"
        "from policies.mlops_policies import ALL_POLICIES\n"
    )
    assert pack_problems(entry) == ["line 4: sys.path", "line 5: sys.path", "line 6: from policies.mlops_policies import ..."]
    cost = tmp_path / "cost.py"
    cost.write_text(
        'import importlib\nOFFERS_MODULE = "components.catalog.offers"\n'
        "def offers():\n    return importlib.import_module(OFFERS_MODULE)\n"
        "from components.catalog import offers as catalog\n"
    )
    assert pack_problems(cost) == [
        "line 2: names the module 'components.catalog.offers' in a string",
        "line 4: imports by name (import_module)",
        "line 5: from components.catalog import ...",
    ]
    assert PACK / "__main__.py" in PACK_MODULES and PACK / "mlops_policies" / "cost.py" in PACK_MODULES
