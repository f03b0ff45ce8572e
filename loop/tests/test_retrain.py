"""The retraining trigger against a stand-in for GitHub's workflow_dispatch API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from mlops_loop import retrain


def alert(name: str, model: str, status: str = "firing", category: str = "drift", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": name, "model": model, "category": category, "version": "8", **labels},
        "annotations": {"value": "0.5"},
        "startsAt": "2026-12-07T10:00:00Z",
    }


@pytest.fixture
def trigger(tmp_path, http_recorder):
    url, recorder = http_recorder
    recorder.status = 204
    token = tmp_path / "token"
    token.write_text("ghs_test\n")
    settings = retrain.RetrainSettings(
        record_uri=str(tmp_path / "records"),
        github=retrain.GitHubDispatch(repository="acme/ml", workflow="retrain.yml", ref="main", token_file=str(token), api_url=url),
        window_minutes=60,
    )
    return retrain.Trigger(settings), recorder, tmp_path / "records"


def test_one_dispatch_per_model_and_window_with_the_figures(trigger):
    service, recorder, records = trigger
    now = datetime(2026, 12, 7, 10, 5, tzinfo=UTC)
    payload = {
        "alerts": [
            alert("ModelDataDrift", "fraud", feature_set="inputs"),
            alert("ModelQualityDegraded", "fraud", category="quality", metric="accuracy"),
        ]
    }
    assert service.handle(payload, now) == ["fraud"]
    assert service.handle(payload, now + timedelta(minutes=30)) == []
    assert service.handle(payload, now + timedelta(minutes=61)) == ["fraud"]
    assert len(recorder.requests) == 2
    method, path, body, headers = recorder.requests[0]
    assert (method, path) == ("POST", "/repos/acme/ml/actions/workflows/retrain.yml/dispatches")
    assert headers["Authorization"] == "Bearer ghs_test"
    sent = json.loads(body)
    assert sent["ref"] == "main"
    assert sent["inputs"]["model"] == "fraud" and sent["inputs"]["version"] == "8"
    assert sent["inputs"]["alert"] == "ModelDataDrift,ModelQualityDegraded"
    figures = json.loads(sent["inputs"]["figures"])
    assert figures["ModelDataDrift"][0] == {"feature_set": "inputs", "value": "0.5", "since": "2026-12-07T10:00:00Z"}
    kept = sorted(p.name for p in (records / "fraud").iterdir())
    assert kept == ["20261207T100500000000Z.json", "20261207T110600000000Z.json", "latest.json"]
    assert json.loads((records / "fraud" / "latest.json").read_text())["dispatch_status"] == 204
    assert 'outcome="deduplicated"} 1' in service.metrics()


def test_resolved_alerts_and_other_categories_trigger_nothing(trigger):
    service, recorder, _ = trigger
    payload = {
        "alerts": [alert("ModelDataDrift", "fraud", status="resolved"), alert("ModelDataQualityFailed", "fraud", category="data_quality")]
    }
    assert service.handle(payload) == []
    assert recorder.requests == []


def test_a_permanent_refusal_is_not_retried_and_unknown_models_are_ignored(trigger):
    service, recorder, records = trigger
    recorder.status = 422
    assert service.handle({"alerts": [alert("ModelDataDrift", "fraud")]}) == []  # no exception: Alertmanager gets 200
    assert 'outcome="refused"} 1' in service.metrics() and not records.exists()
    restricted = retrain.Trigger(retrain.RetrainSettings(**{**service.settings.__dict__, "models": ("other",)}))
    recorder.status = 204
    assert restricted.handle({"alerts": [alert("ModelDataDrift", "fraud")]}) == []
    assert len(recorder.requests) == 1


def test_a_record_that_cannot_be_written_still_deduplicates(trigger, tmp_path):
    service, recorder, _ = trigger
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the records folder would be")
    broken = retrain.Trigger(retrain.RetrainSettings(**{**service.settings.__dict__, "record_uri": str(blocker)}))
    assert broken.handle({"alerts": [alert("ModelDataDrift", "fraud")]}) == ["fraud"]
    assert broken.handle({"alerts": [alert("ModelDataDrift", "fraud")]}) == []
    assert len(recorder.requests) == 1 and 'outcome="unrecorded"} 1' in broken.metrics()


def test_a_failed_dispatch_records_nothing_so_the_retry_dispatches(trigger):
    service, recorder, records = trigger
    recorder.status = 500
    with pytest.raises(OSError):
        service.handle({"alerts": [alert("ModelDataDrift", "fraud")]})
    assert not records.exists()
    recorder.status = 204
    assert service.handle({"alerts": [alert("ModelDataDrift", "fraud")]}) == ["fraud"]
