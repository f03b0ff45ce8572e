"""Schema and data-quality checks of captured rows against the reference data set.

The reference defines the schema: its feature columns, their kinds (numeric or categorical) and,
for numeric columns, the range seen in training. Each check gives one figure per model:

* ``missing_columns``: reference features absent from the capture (count);
* ``unexpected_columns``: captured inputs the reference does not have (count);
* ``type_violations``: share of values of numeric features that are not numbers;
* ``out_of_range_share``: share of numeric values outside the reference's [min, max];
* ``null_share``: share of missing values over the reference features present.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .records import KEYS

SCHEMA_CHECKS = ("missing_columns", "unexpected_columns", "type_violations")
"""Checks that mean the rows do not fit the reference at all (the others are shares of values within it)."""


@dataclass(frozen=True)
class Schema:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    minimum: dict[str, float]
    maximum: dict[str, float]

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def schema_of(reference: pd.DataFrame, exclude: set[str]) -> Schema:
    """Numeric and categorical feature columns of the reference (excluding labels, predictions, keys)."""
    columns = [c for c in reference.columns if c not in exclude and c not in KEYS]
    numeric = tuple(c for c in columns if pd.api.types.is_numeric_dtype(reference[c]) and not pd.api.types.is_bool_dtype(reference[c]))
    categorical = tuple(c for c in columns if c not in numeric)
    return Schema(
        numeric=numeric,
        categorical=categorical,
        minimum={c: float(reference[c].min()) for c in numeric},
        maximum={c: float(reference[c].max()) for c in numeric},
    )


def quality_figures(schema: Schema, current: pd.DataFrame, inputs: set[str]) -> dict[str, float]:
    """The five data-quality figures of the captured rows ``current``; ``inputs`` are its input columns."""
    present = [c for c in schema.features if c in current.columns]
    missing = len(schema.features) - len(present)
    unexpected = len([c for c in inputs if c not in schema.features])
    numeric = [c for c in schema.numeric if c in current.columns]
    values = 0
    violations = 0
    outside = 0
    for column in numeric:
        raw = current[column]
        given = raw.notna()
        as_number = pd.to_numeric(raw, errors="coerce")
        bad = given & as_number.isna()
        values += int(given.sum())
        violations += int(bad.sum())
        ok = as_number[given & ~bad]
        outside += int(((ok < schema.minimum[column]) | (ok > schema.maximum[column])).sum())
    cells = len(current) * len(present)
    nulls = int(current[present].isna().sum().sum()) if present else 0
    return {
        "missing_columns": float(missing),
        "unexpected_columns": float(unexpected),
        "type_violations": violations / values if values else 0.0,
        "out_of_range_share": outside / (values - violations) if values - violations else 0.0,
        "null_share": nulls / cells if cells else 0.0,
    }
