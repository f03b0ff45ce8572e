"""Model quality on labelled traffic (concept drift): captured predictions joined with delayed labels.

Labels arrive as files under the model's labels URI (JSONL, CSV or Parquet) with a ``request_id``
column, an optional ``row`` column (the position in a batched request, default 0) and the label
column. Classification gives ``accuracy`` and, for a binary task with a score, ``roc_auc``;
regression gives ``r2`` (pushed as quality, higher is better) and ``rmse`` (pushed as an error).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn import metrics

from .records import REQUEST_ID, ROW


def join_labels(captured: pd.DataFrame, labels: pd.DataFrame, label: str) -> pd.DataFrame:
    """Captured rows that have a label, with the label as column ``__label``."""
    labels = labels.copy()
    if ROW not in labels.columns:
        labels[ROW] = 0
    labels[REQUEST_ID] = labels[REQUEST_ID].astype(str)
    labels[ROW] = labels[ROW].astype(int)
    labels = labels.drop_duplicates([REQUEST_ID, ROW], keep="last")[[REQUEST_ID, ROW, label]].rename(columns={label: "__label"})
    left = captured.copy()
    left[REQUEST_ID] = left[REQUEST_ID].astype(str)
    left[ROW] = left[ROW].astype(int)
    return left.merge(labels, on=[REQUEST_ID, ROW], how="inner")


def classification(joined: pd.DataFrame, prediction: str, decision_threshold: float) -> dict[str, float]:
    truth = joined["__label"]
    score = pd.to_numeric(joined[prediction], errors="coerce")
    binary = set(pd.unique(truth)).issubset({0, 1})
    figures: dict[str, float] = {}
    if binary and score.notna().all() and score.between(0, 1).all():
        predicted = (score >= decision_threshold).astype(int)
        figures["accuracy"] = float(metrics.accuracy_score(truth.astype(int), predicted))
        if truth.nunique() == 2:
            figures["roc_auc"] = float(metrics.roc_auc_score(truth.astype(int), score))
    else:
        figures["accuracy"] = float(np.mean(joined[prediction].astype(str).to_numpy() == truth.astype(str).to_numpy()))
    return figures


def regression(joined: pd.DataFrame, prediction: str) -> tuple[dict[str, float], dict[str, float]]:
    truth = pd.to_numeric(joined["__label"], errors="coerce")
    predicted = pd.to_numeric(joined[prediction], errors="coerce")
    keep = truth.notna() & predicted.notna()
    rmse = math.sqrt(float(metrics.mean_squared_error(truth[keep], predicted[keep])))
    return {"r2": float(metrics.r2_score(truth[keep], predicted[keep]))}, {"rmse": rmse}
