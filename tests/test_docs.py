"""The configuration reference is generated from the models and kept fresh."""

from __future__ import annotations

from pydantic import BaseModel

from components.config.platform import PlatformConfig
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
