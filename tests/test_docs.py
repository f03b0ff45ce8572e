"""The configuration reference is generated from the models and kept fresh."""

from __future__ import annotations

import re

from pydantic import BaseModel

from mlops_platform.config.platform import PlatformConfig
from tools import config_docs


def test_config_reference_is_up_to_date():
    assert config_docs.TARGET.read_text() == config_docs.render(), "docs/config.md is stale: run `make docs`"


def test_every_field_documents_its_default_or_that_it_is_required():
    models: list[type[BaseModel]] = []
    config_docs._walk(PlatformConfig, models)
    assert len(models) > 10
    for model in models:
        for name, info in model.model_fields.items():
            text = info.description or ""
            assert "Default" in text or "Required" in text, f"{model.__name__}.{name}"


def test_config_reference_headings_are_unique_and_every_link_finds_its_section():
    from tools.config_docs import anchor, render

    text = render()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    anchors = [anchor(h) for h in headings]
    assert len(set(anchors)) == len(anchors), sorted(a for a in anchors if anchors.count(a) > 1)
    links = set(re.findall(r"\]\(#([a-z0-9_-]+)\)", text))
    assert links and links <= set(anchors), sorted(links - set(anchors))


def test_the_component_reference_is_generated_and_fresh():
    from tools import component_docs

    assert component_docs.main(["--check"]) == 0, "docs/components.md is stale: run `python -m tools.component_docs`"
    text = component_docs.TARGET.read_text()
    for _, component, args in component_docs.COMPONENTS:
        assert f"## {component}\n" in text and f"**{args}**" in text


def test_every_field_of_every_component_args_says_what_it_is():
    """The args are the components' contract: each field, and each field of a dataclass they hold, carries a docstring
    (the reference's description)."""
    import importlib
    import sys

    from tools import component_docs

    from .args_fields import field_types

    roots = [getattr(importlib.import_module(module), args) for module, _, args in component_docs.COMPONENTS]
    held = {cls for cls, _, _ in field_types(roots)}  # the args and every dataclass their fields hold
    assert {"ModelRoute", "CaptureTarget", "PoolWiring", "ObjectStoreGrant", "ScrapeTarget"} <= {cls.__name__ for cls in held}
    undocumented = sorted(
        f"{cls.__name__}.{name}"
        for cls in held
        for name, (_, doc) in component_docs.field_docs(sys.modules[cls.__module__], cls.__name__).items()
        if not doc
    )
    assert undocumented == []


def test_every_component_of_the_package_is_in_the_reference():
    """A new ComponentResource must be added to the reference's list."""
    import ast
    from pathlib import Path

    from tools import component_docs

    root = Path(component_docs.__file__).resolve().parents[1] / "components"
    found = {
        node.name
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "pulumi.ComponentResource" for b in node.bases)
    }
    assert found == {component for _, component, _ in component_docs.COMPONENTS}
