"""Generate docs/components.md, the component reference, from the code: for each component its type token, what it
creates (the class docstring), its args (each field with its type, default and docstring) and its outputs (the keys it
registers). ``python -m tools.component_docs`` rewrites the file; a test fails while it is stale.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "components.md"

COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("mlops_platform.platform", "MlopsPlatform", "MlopsPlatformArgs"),
    ("mlops_platform.cluster", "ClusterAccess", "ClusterAccessArgs"),
    ("mlops_platform.namespace", "PlatformNamespace", "PlatformNamespaceArgs"),
    ("mlops_platform.gpu.pool", "GpuNodePool", "GpuNodePoolArgs"),
    ("mlops_platform.gpu.operator", "GpuOperator", "GpuOperatorArgs"),
    ("mlops_platform.serving.deployment", "TritonDeployment", "TritonDeploymentArgs"),
    ("mlops_platform.serving.gateway", "ServingGateway", "ServingGatewayArgs"),
    ("mlops_platform.serving.keda", "Keda", "KedaArgs"),
    ("mlops_platform.serving.capture", "InferenceCapture", "InferenceCaptureArgs"),
    ("mlops_platform.serving.flagger", "Flagger", "FlaggerArgs"),
    ("mlops_platform.mlflow.server", "MlflowServer", "MlflowServerArgs"),
    ("mlops_platform.monitoring.stack", "MonitoringStack", "MonitoringStackArgs"),
    ("mlops_platform.endpoints.endpoint", "ManagedEndpoint", "ManagedEndpointArgs"),
    ("mlops_platform.identity", "WorkloadIdentity", "WorkloadIdentityArgs"),
)
"""Module, component class and args class of every component, in the order the reference lists them."""


def _class_node(module: Any, name: str) -> ast.ClassDef:
    tree = ast.parse(inspect.getsource(module))
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def field_docs(module: Any, name: str) -> dict[str, tuple[str, str]]:
    """Field name to (annotation as written, the docstring under it) of a dataclass."""
    body = _class_node(module, name).body
    docs: dict[str, tuple[str, str]] = {}
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            after = body[i + 1] if i + 1 < len(body) else None
            doc = (
                after.value.value
                if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)
                else ""
            )
            docs[node.target.id] = (ast.unparse(node.annotation), " ".join(doc.split()))
    return docs


def type_token(module: Any, name: str) -> str:
    """The first argument of the component's ``super().__init__`` call."""
    for node in ast.walk(_class_node(module, name)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            return str(node.args[0].value)
    raise ValueError(f"{name}: no super().__init__ with a type token")


def outputs(module: Any, name: str) -> list[str]:
    """The keys the component passes to ``register_outputs``."""
    for node in ast.walk(_class_node(module, name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register_outputs":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Dict):
                return [k.value for k in arg.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            return []
    raise ValueError(f"{name}: no register_outputs call")


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        return f"`{made!r}`" if made in ({}, [], ()) else f"`{getattr(field.default_factory, '__name__', 'factory')}()`"
    return "required"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    lines = [
        "# Component reference",
        "",
        "Generated from the code by `python -m tools.component_docs` (a test fails while it is stale). Each component is",
        "a Pulumi `ComponentResource`: pass its args and `pulumi.ResourceOptions` (providers come from `opts`);",
        "children are named after the component and parented to it. The stack configuration maps onto these args in",
        "`components/platform.py`; the configuration itself is in [config.md](config.md).",
        "",
    ]
    for module_name, component, args_name in COMPONENTS:
        module = importlib.import_module(module_name)
        cls = getattr(module, component)
        args_cls = getattr(module, args_name)
        lines += [f"## {component}", "", f"`{type_token(module, component)}` in `{module_name}`", ""]
        lines += [inspect.cleandoc(cls.__doc__ or ""), ""]
        docs = field_docs(module, args_name)
        lines += [f"**{args_name}**", "", "| arg | type | default | meaning |", "|---|---|---|---|"]
        for field in dataclasses.fields(args_cls):
            annotation, doc = docs.get(field.name, (str(field.type), ""))
            lines.append(f"| `{field.name}` | `{_cell(annotation)}` | {_cell(_default(field))} | {_cell(doc)} |")
        keys = outputs(module, component)
        lines += ["", "**Registered outputs**: " + (", ".join(f"`{k}`" for k in keys) if keys else "none"), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    text = render()
    if "--check" in args:
        if TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `python -m tools.component_docs`")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
