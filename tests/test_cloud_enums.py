"""Every enum-typed input of every cloud resource in every shipped stack holds a value of the pinned SDK's enum.

The SDKs type such inputs `Union[str, SomeEnum]`, so any string passes the type checker and the mocks; the
provider then refuses a value of another API version (`enabled` where the pinned Azure PostgreSQL schema
says `Enabled`). The walk follows each resource's Args class, and each nested `...Args` class, by the wire
names the SDK declares (`@pulumi.getter(name=...)`), down to the string values the program registered.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from types import ModuleType
from typing import Any

import pytest

from .conftest import STACKS

SDKS = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure-native": "pulumi_azure_native"}
OPEN_ENUMS = {
    "pulumi_aws.rds._enums.InstanceType": "a convenience list of RDS instance classes that lags AWS (no db.m7g); RDS checks the class",
}
"""Enums the SDK offers as suggestions only, with why a value outside them is still right."""
_REFERENCE = re.compile(r"ForwardRef\('([A-Za-z_][A-Za-z0-9_]*)'\)|<enum '([A-Za-z_][A-Za-z0-9_]*)'>|<class '[\w.]+\.([A-Za-z_]\w*Args)'>")


def resource_module(token: str) -> tuple[ModuleType, str] | None:
    """The SDK module and class name of a type token such as `aws:eks/nodeGroup:NodeGroup`."""
    package, _, rest = token.partition(":")
    if package not in SDKS:
        return None
    module, _, name = rest.partition(":")
    module = module.split("/")[0]
    return importlib.import_module(f"{SDKS[package]}.{module}"), name


def fields(args_class: type) -> dict[str, list[Any]]:
    """Wire name to the enum classes and nested Args classes its annotation names."""
    module = importlib.import_module(args_class.__module__.rsplit(".", 1)[0])
    out: dict[str, list[Any]] = {}
    for name, parameter in inspect.signature(args_class).parameters.items():
        prop = getattr(args_class, name, None)
        wire = getattr(getattr(prop, "fget", None), "_pulumi_name", None)
        if wire is None:
            continue
        kinds = []
        for groups in _REFERENCE.findall(repr(parameter.annotation)):
            target = getattr(module, next(g for g in groups if g), None)
            if isinstance(target, type) and (issubclass(target, enum.Enum) or target.__name__.endswith("Args")):
                kinds.append(target)
        out[wire] = kinds
    return out


def enum_mistakes(value: Any, args_class: type, path: str) -> list[str]:
    """Every string under ``value`` whose field is enum-typed and that is none of the enum's values."""
    mistakes: list[str] = []
    if not isinstance(value, dict):
        return mistakes
    known = fields(args_class)
    for key, item in value.items():
        kinds = known.get(key, [])
        enums = [k for k in kinds if issubclass(k, enum.Enum) and f"{k.__module__}.{k.__name__}" not in OPEN_ENUMS]
        nested = [k for k in kinds if not issubclass(k, enum.Enum)]
        for element in item if isinstance(item, list) else [item]:
            if isinstance(element, str) and enums:
                allowed = sorted({str(m.value) for e in enums for m in e})
                if element not in allowed:
                    mistakes.append(f"{path}.{key}: {element!r} is not one of {allowed}")
            elif isinstance(element, dict) and nested:
                mistakes += enum_mistakes(element, nested[0], f"{path}.{key}")
    return mistakes


def test_the_walk_finds_an_enum_value_of_another_api_version():
    from pulumi_azure_native import dbforpostgresql

    bad = {"authConfig": {"passwordAuth": "enabled", "activeDirectoryAuth": "Disabled"}, "version": "16"}
    assert enum_mistakes(bad, dbforpostgresql.ServerArgs, "server") == [
        "server.authConfig.passwordAuth: 'enabled' is not one of ['Disabled', 'Enabled']"
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_enum_input_holds_a_value_of_the_pinned_sdk(shipped, stack):
    mistakes: list[str] = []
    checked = 0
    for record in shipped[stack].records:
        found = resource_module(record["type"]) if record["custom"] else None
        if found is None:
            continue
        module, name = found
        args_class = getattr(module, f"{name}Args", None)
        if args_class is None:
            continue
        checked += 1
        mistakes += enum_mistakes(record["inputs"], args_class, record["name"])
    assert mistakes == []
    if stack.startswith("prod"):
        assert checked > 0, "the stack's cloud resources were walked"
