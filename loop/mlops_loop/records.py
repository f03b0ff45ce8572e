"""Captured inferences as table rows: the capture service's JSONL and SageMaker's data capture.

A capture record is one request. Its tensors become columns, one row per batch element: a tensor
``features`` of per-row shape ``[64]`` gives the columns ``features.0`` ... ``features.63``; a tensor
with one value per row gives the column ``features``. Tensors of variable per-row size (token ids)
cannot be compared column by column: the job drops the tensors its settings name in ``ignore_tensors``
(the platform lists every tensor with a ``-1`` dimension).
Every row carries ``request_id`` and ``row`` (its index in the batch) so delayed labels can be joined.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

REQUEST_ID = "request_id"
ROW = "row"
KEYS = (REQUEST_ID, ROW)


class UnreadableDataError(ValueError):
    """A capture line the job cannot interpret: the run fails rather than score partial data."""


def _tensor_rows(name: str, tensor: dict[str, Any], batch: int | None) -> list[dict[str, Any]]:
    """One dict of columns per batch element. ``batch`` is the request's batch size when another tensor tells it:
    a one-dimensional tensor of that length is then one value per row (outputs with ``reshape: []``)."""
    shape = [int(d) for d in tensor.get("shape", [])]
    data = tensor.get("data")
    if not isinstance(data, list):
        raise UnreadableDataError(f"tensor {name!r} has no data list")
    flat = _flatten(data)
    if len(shape) > 1:
        rows, width = shape[0], math.prod(shape[1:])
    elif batch is not None and len(flat) == batch and batch > 1:
        rows, width = batch, 1
    else:
        rows, width = 1, len(flat)
    if rows * width != len(flat):
        raise UnreadableDataError(f"tensor {name!r}: shape {shape} does not match {len(flat)} values")
    out = []
    for b in range(rows):
        values = flat[b * width : (b + 1) * width]
        out.append({name: values[0]} if width == 1 else {f"{name}.{j}": v for j, v in enumerate(values)})
    return out


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def rows_from_tensors(
    request_id: str, inputs: dict[str, dict[str, Any]], outputs: dict[str, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The rows of one request; output tensors are prefixed ``output:`` so they never collide with inputs."""
    tensors = [(name, tensor) for name, tensor in inputs.items()] + [("output:" + name, t) for name, t in (outputs or {}).items()]
    batch = next((int(t["shape"][0]) for _, t in tensors if len(t.get("shape", [])) > 1), None)
    per_row: list[dict[str, Any]] = []
    for name, tensor in tensors:
        rows = _tensor_rows(name, tensor, batch)
        if not per_row:
            per_row = [{} for _ in rows]
        if len(rows) != len(per_row):
            raise UnreadableDataError(f"request {request_id}: tensor {name!r} has {len(rows)} rows, others {len(per_row)}")
        for target, row in zip(per_row, rows, strict=True):
            target.update(row)
    for index, row in enumerate(per_row):
        row[REQUEST_ID] = request_id
        row[ROW] = index
    return per_row


def triton_request_tensors(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The input tensors of a KServe v2 (Triton HTTP/JSON) inference request or response."""
    tensors = body.get("inputs") if "inputs" in body else body.get("outputs")
    if not isinstance(tensors, list):
        raise UnreadableDataError("not a KServe v2 inference body: no 'inputs' or 'outputs' list")
    out: dict[str, dict[str, Any]] = {}
    for tensor in tensors:
        if not isinstance(tensor, dict) or "name" not in tensor:
            raise UnreadableDataError("a tensor without a name")
        out[str(tensor["name"])] = {"shape": tensor.get("shape", []), "datatype": tensor.get("datatype"), "data": tensor.get("data")}
    return out


def capture_line(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of one line of the capture service's JSONL."""
    try:
        yield from rows_from_tensors(str(record["request_id"]), record["inputs"], record.get("outputs"))
    except (KeyError, TypeError) as error:
        raise UnreadableDataError(f"capture record without {error}") from error


def _decode_sagemaker(part: dict[str, Any]) -> str:
    data = str(part.get("data", ""))
    if str(part.get("encoding", "")).upper() == "BASE64":
        return base64.b64decode(data).decode()
    return data


def _sagemaker_values(part: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    text = _decode_sagemaker(part)
    content = str(part.get("observedContentType", "")).split(";")[0].strip()
    if content == "text/csv" or str(part.get("encoding", "")).upper() == "CSV":
        rows = []
        for values in csv.reader(io.StringIO(text)):
            if len(values) != len(columns):
                raise UnreadableDataError(f"SageMaker CSV row of {len(values)} values, expected {len(columns)} ({', '.join(columns)})")
            rows.append({c: _number(v) for c, v in zip(columns, values, strict=True)})
        return rows
    body = json.loads(text)
    if isinstance(body, dict) and "inputs" in body and isinstance(body["inputs"], list) and body["inputs"] and "name" in body["inputs"][0]:
        return rows_from_tensors("", triton_request_tensors(body), None)
    instances = body.get("instances", body.get("predictions", body)) if isinstance(body, dict) else body
    if not isinstance(instances, list):
        instances = [instances]
    rows = []
    for instance in instances:
        if isinstance(instance, dict):
            rows.append(dict(instance))
        else:
            values = instance if isinstance(instance, list) else [instance]
            if len(values) != len(columns):
                raise UnreadableDataError(f"SageMaker JSON instance of {len(values)} values, expected {len(columns)}")
            rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _number(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value if value != "" else None


def sagemaker_line(record: dict[str, Any], input_columns: list[str], output_columns: list[str]) -> Iterator[dict[str, Any]]:
    """Rows of one line of SageMaker's data capture (``captureData.endpointInput`` / ``endpointOutput``)."""
    try:
        data = record["captureData"]
        meta = record.get("eventMetadata", {})
        request_id = str(meta.get("inferenceId") or meta["eventId"])
        inputs = _sagemaker_values(data["endpointInput"], input_columns)
        outputs = _sagemaker_values(data["endpointOutput"], output_columns) if "endpointOutput" in data else []
    except (KeyError, TypeError, json.JSONDecodeError, ValueError) as error:
        if isinstance(error, UnreadableDataError):
            raise
        raise UnreadableDataError(f"not a SageMaker capture record ({error})") from error
    if outputs and len(outputs) != len(inputs):
        raise UnreadableDataError(f"SageMaker record {request_id}: {len(inputs)} inputs but {len(outputs)} outputs")
    rows = []
    for index, row in enumerate(inputs):
        merged = dict(row)
        if outputs:
            merged.update({f"output:{k}": v for k, v in outputs[index].items()})
        merged[REQUEST_ID] = request_id
        merged[ROW] = index
        rows.append(merged)
    return iter(rows)


def parse_jsonl(
    data: bytes, source: str, fmt: str, input_columns: list[str], output_columns: list[str], errors: list[str] | None = None
) -> Iterable[dict[str, Any]]:
    """Rows of one capture object; ``fmt`` is ``triton`` (the capture service) or ``sagemaker``.

    With ``errors``, an unreadable line is recorded there and skipped; without, it raises.
    """
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UnreadableDataError(f"not JSON ({error.msg})") from error
            rows = list(sagemaker_line(record, input_columns, output_columns) if fmt == "sagemaker" else capture_line(record))
        except UnreadableDataError as error:
            message = f"{source}:{number}: {error}"
            if errors is None:
                raise UnreadableDataError(message) from error
            errors.append(message)
            continue
        yield from rows
