"""The drift job on a local object store against a Pushgateway stand-in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlops_loop import drift

FEATURES = 5


def reference(path: Path, rows: int = 5000, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"features.{i}": rng.normal(0, 1, rows) for i in range(FEATURES)})
    frame["country"] = rng.choice(["de", "fr", "us"], rows)
    frame["output:score"] = rng.uniform(0, 1, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return str(path)


def capture(
    root: Path, model: str, rows: int, *, shift: float = 0.0, seed: int = 1, name: str = "a", broken: bool = False, batch: int = 10
) -> list[str]:
    """Capture-service records of ``rows`` rows in batches; feature 0 shifted by ``shift`` standard deviations."""
    rng = np.random.default_rng(seed)
    lines = []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        values = rng.normal(0, 1, (n, FEATURES))
        values[:, 0] += shift
        scores = rng.uniform(0, 1, n)
        inputs = {
            "features": {"shape": [n, FEATURES], "datatype": "FP32", "data": values.ravel().tolist()},
            "country": {"shape": [n, 1], "datatype": "BYTES", "data": rng.choice(["de", "fr", "us"], n).tolist()},
        }
        if broken:
            inputs = {"features": {"shape": [n, FEATURES - 1], "datatype": "FP32", "data": values[:, 1:].ravel().tolist()}}
            inputs["extra"] = {"shape": [n, 1], "datatype": "BYTES", "data": ["x"] * n}
        record = {"request_id": f"{name}-{start}", "inputs": inputs, "outputs": {"score": {"shape": [n, 1], "data": scores.tolist()}}}
        lines.append(json.dumps(record))
    folder = root / model / "2026/12/07/10"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return [f"{name}-{s}" for s in range(0, rows, batch)]


def settings(tmp_path: Path, url: str, **models: dict) -> drift.Settings:
    return drift.Settings.from_json(
        {
            "pushgateway_url": url,
            "state_uri": str(tmp_path / "state"),
            "min_rows": 500,
            "min_labelled_rows": 100,
            "settle_seconds": 0,
            "models": [
                {
                    "name": name,
                    "version": 3,
                    "capture_uri": str(tmp_path / "capture" / name),
                    "reference_uri": reference(tmp_path / "ref" / f"{name}.parquet"),
                    **extra,
                }
                for name, extra in models.items()
            ],
        }
    )


def pushed(recorder, model: str) -> dict[str, float]:
    bodies = [
        body for method, path, body, _ in recorder.requests if method == "PUT" and path == f"/metrics/job/drift-monitor/model/{model}"
    ]
    assert bodies, f"nothing pushed for {model}"
    out = {}
    for line in bodies[-1].decode().splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', name))
        key = name.split("{")[0] + "".join(f"|{labels[k]}" for k in ("feature_set", "check", "metric", "window", "feature") if k in labels)
        out[key] = float(value)
    return out


def test_unshifted_traffic_scores_no_drift_and_moves_the_watermark(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 2000)
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    figures = pushed(recorder, "fraud")
    assert figures["mlops_drift_score|inputs"] == 0.0
    assert figures["mlops_drift_score|predictions"] == 0.0
    assert figures["mlops_drift_rows|current"] == 2000
    assert figures["mlops_data_quality|missing_columns"] == 0
    assert figures["mlops_data_quality|type_violations"] == 0
    assert figures["mlops_data_quality|null_share"] == 0
    assert figures["mlops_drift_waiting_for_rows"] == 0
    assert "mlops_drift_last_success_timestamp_seconds" in figures
    # the next run sees no new capture: it waits, and pushes no drift score that could read as "no drift"
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    again = pushed(recorder, "fraud")
    assert again["mlops_drift_rows|current"] == 0 and again["mlops_drift_waiting_for_rows"] == 1
    assert not any(k.startswith("mlops_drift_score") for k in again)


def test_a_shifted_feature_is_one_drifted_column_of_six(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 2000, shift=1.0)
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    figures = pushed(recorder, "fraud")
    assert figures["mlops_drift_score|inputs"] == pytest.approx(1 / 6)
    assert figures["mlops_feature_drift_distance|inputs|features.0"] > 0.5
    assert figures["mlops_feature_drift_distance|inputs|features.1"] < 0.1


@pytest.mark.parametrize("rows", [1000, 20000])
def test_the_same_shift_gives_the_same_distance_at_any_sample_size(tmp_path, http_recorder, rows):
    """A p-value would fall with the row count; the normed Wasserstein distance stays near the shift."""
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", rows, shift=0.3)
    drift.run(settings(tmp_path, url, fraud={}))
    figures = pushed(recorder, "fraud")
    assert figures["mlops_feature_drift_distance|inputs|features.0"] == pytest.approx(0.3, abs=0.1)
    assert max(figures[f"mlops_feature_drift_distance|inputs|features.{i}"] for i in range(1, FEATURES)) < 0.1


def test_a_broken_schema_is_reported_as_data_quality_not_as_a_failure(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 1000, broken=True)
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    figures = pushed(recorder, "fraud")
    # the reference has features.0-4 and country; the capture lost features.4 (renumbered) and country, and added extra
    assert figures["mlops_data_quality|missing_columns"] == 2
    assert figures["mlops_data_quality|unexpected_columns"] == 1
    # rows without a reference feature are not scored for drift: they must not trigger retraining
    assert not any(k.startswith(("mlops_drift_score", "mlops_feature_drift_distance")) for k in figures)


def test_unreadable_capture_fails_that_model_only_once_and_pushes_nothing_for_it(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "good", 1000)
    bad = tmp_path / "capture" / "bad" / "2026/12/07/10"
    bad.mkdir(parents=True)
    (bad / "x.jsonl").write_text('{"request_id": "1", "inputs": {}}\n{not json\n')
    assert drift.run(settings(tmp_path, url, good={}, bad={})) == 1
    assert pushed(recorder, "good")["mlops_drift_rows|current"] == 1000
    assert not [p for _, p, _, _ in recorder.requests if p.endswith("/model/bad")]
    # the run moved past the unreadable object: the next run waits for new capture instead of failing again
    assert json.loads((tmp_path / "state" / "bad.json").read_text())["paths"] == [str(bad / "x.jsonl")]
    assert drift.run(settings(tmp_path, url, good={}, bad={})) == 0
    assert pushed(recorder, "bad")["mlops_drift_waiting_for_rows"] == 1


def test_a_few_unreadable_lines_are_skipped_and_counted(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 1000)
    folder = tmp_path / "capture" / "fraud" / "2026/12/07/10"
    (folder / "z.jsonl").write_text('{not json\n{"request_id": "x", "inputs": {"features": {"shape": [2, 5], "data": [1]}}}\n')
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    figures = pushed(recorder, "fraud")
    assert figures["mlops_data_quality|unreadable_lines"] == 2 and figures["mlops_drift_rows|current"] == 1000
    assert figures["mlops_drift_score|inputs"] == 0.0


def test_a_backlog_is_worked_off_in_runs_of_at_most_max_rows(tmp_path, http_recorder):
    url, recorder = http_recorder
    for part in range(3):
        capture(tmp_path / "capture", "fraud", 1000, seed=part, name=f"part{part}")
    config = settings(tmp_path, url, fraud={})
    capped = drift.Settings(**{**config.__dict__, "max_rows": 1500})
    assert drift.run(capped) == 0
    assert pushed(recorder, "fraud")["mlops_drift_rows|current"] == 2000  # whole objects, until the cap is reached
    assert drift.run(capped) == 0
    assert pushed(recorder, "fraud")["mlops_drift_rows|current"] == 1000
    assert drift.run(capped) == 0
    assert pushed(recorder, "fraud")["mlops_drift_rows|current"] == 0


def test_variable_length_tensors_are_left_out(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 1000)
    # requests of another client carry a token-id tensor of varying length
    folder = tmp_path / "capture" / "fraud" / "2026/12/07/10"
    lines = []
    for i, length in enumerate((3, 7)):
        inputs = {"ids": {"shape": [1, length], "data": list(range(length))}}
        lines.append(json.dumps({"request_id": f"t{i}", "inputs": inputs}))
    (folder / "tokens.jsonl").write_text("\n".join(lines) + "\n")
    assert drift.run(settings(tmp_path, url, fraud={"ignore_tensors": ["ids"]})) == 0
    figures = pushed(recorder, "fraud")
    assert figures["mlops_data_quality|unexpected_columns"] == 0
    assert "mlops_drift_score|inputs" in figures


def test_rows_from_one_settling_upload_wait_for_the_next_run(tmp_path, http_recorder):
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 2000)
    config = settings(tmp_path, url, fraud={})
    settling = drift.Settings(**{**config.__dict__, "settle_seconds": 3600})
    assert drift.run(settling) == 0
    assert pushed(recorder, "fraud")["mlops_drift_rows|current"] == 0
    assert drift.run(config) == 0
    assert pushed(recorder, "fraud")["mlops_drift_rows|current"] == 2000


def test_delayed_labels_give_accuracy_and_auc(tmp_path, http_recorder):
    url, recorder = http_recorder
    ids = capture(tmp_path / "capture", "fraud", 1000)
    # labels agree with the captured score for 70 % of rows
    captured = [json.loads(line) for line in next((tmp_path / "capture" / "fraud").rglob("*.jsonl")).read_text().splitlines()]
    rng = np.random.default_rng(5)
    labels = []
    for record in captured:
        for row, score in enumerate(record["outputs"]["score"]["data"]):
            truth = int(score >= 0.5) if rng.uniform() < 0.7 else int(score < 0.5)
            labels.append({"request_id": record["request_id"], "row": row, "label": truth})
    assert len(ids) == len(captured)
    (tmp_path / "labels").mkdir()
    pd.DataFrame(labels).to_json(tmp_path / "labels" / "day1.jsonl", orient="records", lines=True)
    assert drift.run(settings(tmp_path, url, fraud={"labels_uri": str(tmp_path / "labels")})) == 0
    figures = pushed(recorder, "fraud")
    assert figures["mlops_model_quality|accuracy"] == pytest.approx(0.7, abs=0.05)
    assert 0.5 < figures["mlops_model_quality|roc_auc"] < 0.9
    assert figures["mlops_drift_rows|labelled"] == 1000


def test_unreadable_settings_exit_2(monkeypatch):
    monkeypatch.setenv("DRIFT_CONFIG", "{")
    assert drift.main([]) == 2


def test_each_series_is_pushed_once_when_a_model_is_scored_again(tmp_path, http_recorder):
    """The Pushgateway refuses a push that repeats a series: the last-scored time must appear once, also on a second scored run."""
    url, recorder = http_recorder
    capture(tmp_path / "capture", "fraud", 2000, name="first")
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    capture(tmp_path / "capture", "fraud", 2000, seed=2, name="second")
    assert drift.run(settings(tmp_path, url, fraud={})) == 0
    body = [b for m, p, b, _ in recorder.requests if m == "PUT"][-1].decode()
    series = [line.rsplit(" ", 1)[0] for line in body.splitlines() if not line.startswith("#")]
    assert len(series) == len(set(series))
    assert sum(s.startswith("mlops_drift_last_scored_timestamp_seconds") for s in series) == 1
