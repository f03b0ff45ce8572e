"""The drift and data-quality job: per model, captured traffic since the last run against reference data.

Run as ``python -m mlops_loop.drift``; settings come from the JSON document in ``DRIFT_CONFIG`` (or
the file named by ``--config``). For each model it

1. reads the reference data set (Parquet, CSV or JSONL: one file or every file under a prefix);
2. reads the capture objects written since its watermark and at least ``settle_seconds`` ago (the
   capture service's JSONL, or SageMaker's data capture), at most ``max_rows`` rows a run (a backlog
   is worked off over several runs), and waits, without moving the watermark, until ``min_rows``
   rows exist; unreadable lines are skipped and counted (``unreadable_lines``);
3. checks schema and data quality (``checks``); when the schema holds, scores drift per feature with
   Evidently and, when a labels URI is set, joins delayed labels on ``request_id`` for quality
   (``quality``). Rows that lack a reference feature are a pipeline fault: they raise the data-quality
   alert, not drift, so they never retrain;
4. replaces the model's group on the Pushgateway, then moves its watermark.

Drift methods are fixed so that a threshold means the same at every sample size and higher always
means more drift: Evidently's ``wasserstein`` (Wasserstein distance normed by the reference's standard
deviation) for numeric columns and ``jensenshannon`` (Jensen-Shannon distance, 0-1) for categorical
ones. Evidently's default instead switches between p-value tests (lower means drift) below 1,000 rows
and distances above. The drift score of a feature set is the share of its columns whose distance
exceeds ``feature_threshold``.

A model whose data cannot be read (its reference, or not one line of its new capture) is logged and
skipped: nothing is pushed for it (its staleness alert fires), the others are still scored, and the
job exits 1. A run whose capture was all unreadable still moves past it, so one bad object fails one
run, not every run after it.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import checks, quality, records, store
from .push import Gauges, push

LOG = logging.getLogger("drift-monitor")
NUMERIC_METHOD = "wasserstein"
CATEGORICAL_METHOD = "jensenshannon"
OUTPUT_PREFIX = "output:"


@dataclass(frozen=True)
class ModelSettings:
    name: str
    version: str
    capture_uri: str
    reference_uri: str
    capture_format: Literal["triton", "sagemaker"] = "triton"
    labels_uri: str | None = None
    label: str = "label"
    prediction: str | None = None
    """The prediction column (``output:<tensor>``); default: the only output column when there is one."""
    task: Literal["classification", "regression"] = "classification"
    decision_threshold: float = 0.5
    feature_threshold: float = 0.1
    input_columns: tuple[str, ...] = ()
    """SageMaker CSV/array capture only: the names of the request's values, in order."""
    output_columns: tuple[str, ...] = ()
    ignore_tensors: tuple[str, ...] = ()
    """Tensors left out of the rows: those of variable per-row size (token ids), which have no per-column reference."""


@dataclass(frozen=True)
class Settings:
    pushgateway_url: str
    state_uri: str
    models: tuple[ModelSettings, ...]
    job: str = "drift-monitor"
    environment: str = ""
    min_rows: int = 1000
    max_rows: int = 200_000
    min_labelled_rows: int = 200
    label_lookback_hours: int = 72
    settle_seconds: int = 120

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Settings:
        models = tuple(
            ModelSettings(
                **{
                    **m,
                    "version": str(m["version"]),
                    "input_columns": tuple(m.get("input_columns", ())),
                    "output_columns": tuple(m.get("output_columns", ())),
                    "ignore_tensors": tuple(m.get("ignore_tensors", ())),
                }
            )
            for m in document["models"]
        )
        return cls(**{**document, "models": models})


@dataclass
class Result:
    gauges: Gauges = field(default_factory=Gauges)
    rows: int = 0
    ready: bool = False
    scored: bool = False
    unreadable: int = 0


def read_table(uri: str) -> pd.DataFrame:
    """A data set from one file or every data file under a prefix, by extension."""
    location = store.open_location(uri)
    if location.fs.isdir(location.path):
        paths = [o.path for o in store.list_objects(location) if o.path.endswith((".parquet", ".csv", ".jsonl", ".json"))]
    else:
        paths = [location.path]
    if not paths:
        raise FileNotFoundError(f"no .parquet, .csv or .jsonl data under {uri}")
    frames = [_read_one(location, path) for path in paths]
    return pd.concat(frames, ignore_index=True)


def _read_one(location: store.Location, path: str) -> pd.DataFrame:
    data = store.read_bytes(location, path)
    if path.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    if path.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data))
    return pd.read_json(io.BytesIO(data), lines=True)


class Watermark:
    """Where a model's scoring stands: the newest capture object it consumed (modification time, and the paths at
    that time) and when it last scored drift."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.location = store.open_location(settings.state_uri).child(f"{model}.json")
        self.time: datetime | None = None
        self.paths: set[str] = set()
        self.scored_at: float | None = None
        if store.exists(self.location):
            state = json.loads(store.read_bytes(self.location))
            self.time = datetime.fromisoformat(state["time"])
            self.paths = set(state["paths"])
            self.scored_at = state.get("scored_at")

    def new(self, objects: list[store.StoredObject], settled_before: datetime) -> list[store.StoredObject]:
        """Objects after the watermark that are old enough to be listed in order: an upload's modification time is
        when it started, so a younger object could still appear behind a newer one and be skipped for good."""
        fresh = [o for o in objects if o.modified <= settled_before]
        if self.time is None:
            return fresh
        return [o for o in fresh if o.modified > self.time or (o.modified == self.time and o.path not in self.paths)]

    def advance(self, consumed: list[store.StoredObject], scored_at: float | None = None) -> None:
        if not consumed and scored_at is None:
            return
        state: dict[str, Any] = {"time": self.time.isoformat() if self.time else None, "paths": sorted(self.paths)}
        if consumed:
            newest = max(o.modified for o in consumed)
            paths = {o.path for o in consumed if o.modified == newest}
            if newest == self.time:
                paths |= self.paths
            state = {"time": newest.isoformat(), "paths": sorted(paths)}
        state["scored_at"] = scored_at if scored_at is not None else self.scored_at
        if state["time"] is None:
            return
        store.write_bytes(self.location, json.dumps(state, indent=1).encode())


class UnreadableRunError(Exception):
    """No captured line of a run could be read: the run fails, but moves past those objects so the next one can succeed."""

    def __init__(self, message: str, consumed: list[store.StoredObject]) -> None:
        super().__init__(message)
        self.consumed = consumed


def captured_rows(
    model: ModelSettings,
    location: store.Location,
    objects: list[store.StoredObject],
    errors: list[str] | None = None,
    max_rows: int | None = None,
    keep_ids: set[str] | None = None,
) -> tuple[pd.DataFrame, list[store.StoredObject]]:
    """Captured rows of ``objects`` in order, and the objects consumed: up to ``max_rows`` rows (whole objects; the
    rest wait for the next run), only the requests in ``keep_ids`` when given. Built one object at a time: at 1M rows
    x 20 features, every row as a dict at once peaked at 3.5 GB; one frame per object stays near the table's size."""
    frames = []
    consumed = []
    total = 0
    ignored = set(model.ignore_tensors)
    for obj in objects:
        if max_rows is not None and total >= max_rows:
            break
        data = store.read_bytes(location, obj.path)
        rows = records.parse_jsonl(data, obj.path, model.capture_format, list(model.input_columns), list(model.output_columns), errors)
        kept = [r for r in rows if keep_ids is None or str(r[records.REQUEST_ID]) in keep_ids]
        del data
        consumed.append(obj)
        if kept:
            frame = pd.DataFrame(kept)
            if ignored:
                frame = frame.drop(columns=[c for c in frame.columns if c.split(".", 1)[0].removeprefix(OUTPUT_PREFIX) in ignored])
            frames.append(frame)
            total += len(frame)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), consumed


def distances(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str], threshold: float
) -> dict[str, float]:
    """Evidently's distance per column (fixed methods, see the module docstring)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    columns = numeric + categorical
    if not columns:
        return {}
    ref = reference[columns].copy()
    cur = current[columns].copy()
    for column in numeric:
        ref[column] = pd.to_numeric(ref[column], errors="coerce")
        cur[column] = pd.to_numeric(cur[column], errors="coerce")
    for column in categorical:
        ref[column] = ref[column].astype(str)
        cur[column] = cur[column].astype(str)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report(
        [ValueDrift(column=c, method=NUMERIC_METHOD if c in numeric else CATEGORICAL_METHOD, threshold=threshold) for c in columns]
    )
    snapshot = report.run(Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition))
    values = [m["value"] for m in snapshot.dict()["metrics"]]
    return {c: float(v) for c, v in zip(columns, values, strict=True)}


def score_model(settings: Settings, model: ModelSettings, watermark: Watermark, now: datetime) -> tuple[Result, list[store.StoredObject]]:
    """Everything one model's run pushes, and the capture objects it consumed."""
    result = Result()
    g = result.gauges
    labels = {"model": model.name, "version": model.version}
    reference = read_table(model.reference_uri)
    location = store.open_location(model.capture_uri)
    objects = store.list_objects(location)
    new = watermark.new(objects, now - timedelta(seconds=settings.settle_seconds))
    errors: list[str] = []
    current, consumed = captured_rows(model, location, new, errors, max_rows=settings.max_rows)
    if errors and current.empty:
        raise UnreadableRunError(f"no captured line could be read ({len(errors)} unreadable), first: {errors[0]}", consumed)
    for error in errors[:5]:
        LOG.warning("%s: skipped %s", model.name, error)
    result.rows = len(current)
    result.unreadable = len(errors)
    g.add(
        "mlops_drift_rows",
        "Rows the drift monitor compared (current: captured since the last scored run).",
        len(current),
        window="current",
        **labels,
    )
    g.add("mlops_drift_rows", "", len(reference), window="reference", **labels)
    if len(current) < settings.min_rows:
        LOG.info(
            "%s: %d captured rows since the last scored run, fewer than min_rows %d: waiting", model.name, len(current), settings.min_rows
        )
        g.add(
            "mlops_drift_waiting_for_rows", "1 while a model has fewer captured rows than min_rows since its last scored run.", 1, **labels
        )
        return result, []
    result.ready = True
    g.add("mlops_drift_waiting_for_rows", "", 0, **labels)
    if len(current) > settings.max_rows:
        current = current.sample(n=settings.max_rows, random_state=0)
    outputs = [c for c in current.columns if c.startswith(OUTPUT_PREFIX)]
    prediction = model.prediction or (outputs[0] if len(outputs) == 1 else None)
    exclude = {model.label, *outputs, *(c for c in reference.columns if c.startswith(OUTPUT_PREFIX))}
    schema = checks.schema_of(reference, exclude)
    inputs = {c for c in current.columns if not c.startswith(OUTPUT_PREFIX) and c not in records.KEYS}
    figures = checks.quality_figures(schema, current, inputs)
    figures["unreadable_lines"] = float(len(errors))
    for check, value in figures.items():
        g.add("mlops_data_quality", "Data-quality figures of the captured rows against the reference schema.", value, check=check, **labels)
    if figures["missing_columns"] > 0:
        # without a reference feature there is no comparable row: a pipeline fault, not a reason to retrain
        LOG.warning("%s: captured rows lack reference features (%s): drift and quality not scored", model.name, figures)
        return result, consumed
    numeric = [c for c in schema.numeric if c in current.columns]
    categorical = [c for c in schema.categorical if c in current.columns]
    per_feature = distances(reference, current, numeric, categorical, model.feature_threshold)
    predicted = [c for c in outputs if c in reference.columns]
    ref_numeric = [c for c in predicted if pd.api.types.is_numeric_dtype(reference[c])]
    per_prediction = distances(reference, current, ref_numeric, [c for c in predicted if c not in ref_numeric], model.feature_threshold)
    for feature_set, found in (("inputs", per_feature), ("predictions", per_prediction)):
        if not found:
            continue
        drifted = [c for c, d in found.items() if d > model.feature_threshold]
        g.add(
            "mlops_drift_score",
            "Share of a feature set's columns whose drift distance exceeds the feature threshold (0-1).",
            len(drifted) / len(found),
            feature_set=feature_set,
            **labels,
        )
        for column, value in found.items():
            method = NUMERIC_METHOD if column in numeric or column in ref_numeric else CATEGORICAL_METHOD
            g.add(
                "mlops_feature_drift_distance",
                "Drift distance of one column (normed Wasserstein or Jensen-Shannon; higher is more drift).",
                value,
                feature=column,
                feature_set=feature_set,
                method=method,
                **labels,
            )
    if model.labels_uri and prediction:
        _quality(settings, model, location, objects, prediction, now, result)
    result.scored = True
    return result, consumed


def _quality(
    settings: Settings,
    model: ModelSettings,
    location: store.Location,
    objects: list[store.StoredObject],
    prediction: str,
    now: datetime,
    result: Result,
) -> None:
    assert model.labels_uri is not None
    since = now - timedelta(hours=settings.label_lookback_hours)
    labels_location = store.open_location(model.labels_uri)
    label_objects = [o for o in store.list_objects(labels_location) if o.modified >= since]
    g = result.gauges
    tags = {"model": model.name, "version": model.version}
    if not label_objects:
        LOG.info("%s: no labels under %s in the last %d hours", model.name, model.labels_uri, settings.label_lookback_hours)
        return
    labels = pd.concat([_read_one(labels_location, o.path) for o in label_objects], ignore_index=True)
    if records.REQUEST_ID not in labels.columns or model.label not in labels.columns:
        raise records.UnreadableDataError(f"labels under {model.labels_uri} need columns {records.REQUEST_ID!r} and {model.label!r}")
    ids = set(labels[records.REQUEST_ID].astype(str))
    recent, _ = captured_rows(model, location, [o for o in objects if o.modified >= since], [], keep_ids=ids)
    joined = quality.join_labels(recent, labels, model.label) if len(recent) else recent
    g.add("mlops_drift_rows", "", len(joined), window="labelled", **tags)
    if len(joined) < settings.min_labelled_rows:
        LOG.info("%s: %d labelled rows, fewer than min_labelled_rows %d", model.name, len(joined), settings.min_labelled_rows)
        return
    if model.task == "classification":
        figures, errors = quality.classification(joined, prediction, model.decision_threshold), dict[str, float]()
    else:
        figures, errors = quality.regression(joined, prediction)
    for metric, value in figures.items():
        g.add("mlops_model_quality", "Model quality on labelled traffic (higher is better).", value, metric=metric, **tags)
    for metric, value in errors.items():
        g.add("mlops_model_error", "Model error on labelled traffic (lower is better).", value, metric=metric, **tags)


def run(settings: Settings, now: datetime | None = None) -> int:
    """Score every model; 0 when all succeeded, 1 when any model's data could not be read or pushed."""
    failed = []
    for model in settings.models:
        started = time.monotonic()
        watermark: Watermark | None = None
        try:
            watermark = Watermark(settings, model.name)
            result, consumed = score_model(settings, model, watermark, now or datetime.now(tz=UTC))
            finished = time.time()
            result.gauges.add(
                "mlops_drift_run_seconds",
                "Seconds the model's last successful run took.",
                time.monotonic() - started,
                model=model.name,
                version=model.version,
            )
            scored_at = finished if result.scored else watermark.scored_at
            if scored_at is not None:
                result.gauges.add(
                    "mlops_drift_last_scored_timestamp_seconds",
                    "Unix time the model's drift was last scored (a run with at least min_rows rows).",
                    scored_at,
                    model=model.name,
                    version=model.version,
                )
            result.gauges.add(
                "mlops_drift_last_success_timestamp_seconds",
                "Unix time of the model's last successful drift-monitor run.",
                finished,
                model=model.name,
                version=model.version,
            )
            push(settings.pushgateway_url, settings.job, model.name, result.gauges)
            watermark.advance(consumed, finished if result.scored else None)
            LOG.info("%s: scored %d captured rows%s", model.name, result.rows, "" if result.ready else " (waiting for more)")
        except UnreadableRunError as error:
            LOG.error("%s: run failed, nothing pushed: %s", model.name, error)
            assert watermark is not None  # score_model raises it only after reading the watermark
            watermark.advance(error.consumed)
            failed.append(model.name)
        except Exception as error:  # one model's bad data must not stop the others
            LOG.error("%s: run failed, nothing pushed: %s: %s", model.name, type(error).__name__, error)
            failed.append(model.name)
    if failed:
        LOG.error("failed models: %s", ", ".join(failed))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_loop.drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="settings file (JSON); default: the DRIFT_CONFIG environment variable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s drift-monitor %(levelname)s %(message)s", stream=sys.stderr)
    try:
        if args.config:
            with open(args.config, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = os.environ["DRIFT_CONFIG"]
        settings = Settings.from_json(json.loads(text))
    except (OSError, KeyError, ValueError, TypeError) as error:
        LOG.error("cannot read the settings: %s: %s", type(error).__name__, error)
        return 2
    np.seterr(all="ignore")
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
