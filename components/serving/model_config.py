"""Triton `config.pbtxt` from the typed model spec, checked against Triton's own protobuf schema."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

from ..config.serving import ModelConfig, TensorSpec

PLATFORMS = {
    "onnxruntime": ("platform", "onnxruntime_onnx"),
    "tensorrt": ("platform", "tensorrt_plan"),
    "pytorch": ("platform", "pytorch_libtorch"),
    "tensorflow": ("platform", "tensorflow_savedmodel"),
    "python": ("backend", "python"),
}
"""Backend name to the `platform` (or `backend`) field Triton expects."""


def _tensor(kind: str, tensor: TensorSpec) -> list[str]:
    dims = ", ".join(str(d) for d in tensor.dims)
    return [f"{kind} {{", f'  name: "{tensor.name}"', f"  data_type: TYPE_{tensor.data_type}", f"  dims: [ {dims} ]", "}"]


def render(model: ModelConfig, version: int) -> str:
    """The model's config.pbtxt, loading exactly ``version``; byte-identical for the same spec."""
    key, value = PLATFORMS[model.backend]
    kind = "KIND_GPU" if model.gpus_per_replica > 0 else "KIND_CPU"
    lines = [f'name: "{model.name}"', f'{key}: "{value}"', f"max_batch_size: {model.max_batch_size}"]
    lines += ["version_policy {", "  specific {", f"    versions: [ {version} ]", "  }", "}"]
    for tensor in model.inputs:
        lines += _tensor("input", tensor)
    for tensor in model.outputs:
        lines += _tensor("output", tensor)
    count = model.instances_per_gpu
    gpus = f"\n    gpus: [ {', '.join(str(i) for i in range(model.gpus_per_replica))} ]" if model.gpus_per_replica else ""
    lines += ["instance_group [", "  {", f"    count: {count}", f"    kind: {kind}{gpus}", "  }", "]"]
    if model.dynamic_batching is not None:
        lines.append("dynamic_batching {")
        if model.dynamic_batching.preferred_batch_sizes:
            sizes = ", ".join(str(s) for s in model.dynamic_batching.preferred_batch_sizes)
            lines.append(f"  preferred_batch_size: [ {sizes} ]")
        lines += [f"  max_queue_delay_microseconds: {model.dynamic_batching.max_queue_delay_us}", "}"]
    return "\n".join(lines) + "\n"


@functools.cache
def _model_config_class() -> Any:
    """`inference.ModelConfig` from the tritonclient wheel's generated module.

    Built from the serialized descriptor embedded in `model_config_pb2.py`, so it works with any
    protobuf runtime (the wheel's generated code itself insists on protobuf >= 6.33).
    """
    import tritonclient
    from google.protobuf import descriptor_pool, message_factory

    source = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            serialized = node.args[0].value  # type: ignore[attr-defined]
            break
    else:  # pragma: no cover - a tritonclient layout change
        raise RuntimeError(f"no serialized descriptor in {source}")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(serialized)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


def parse(text: str) -> Any:
    """Parse a config.pbtxt with Triton's schema; raises `google.protobuf.text_format.ParseError`."""
    from google.protobuf import text_format

    return text_format.Parse(text, _model_config_class()())
