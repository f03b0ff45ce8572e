import base64
import json

import pytest
from mlops_loop import records


def test_batched_tensor_becomes_one_row_per_element_with_indexed_columns():
    inputs = {"features": {"shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}}
    outputs = {"score": {"shape": [2, 1], "datatype": "FP32", "data": [[0.1], [0.9]]}}
    rows = records.rows_from_tensors("r1", inputs, outputs)
    assert rows == [
        {"features.0": 1, "features.1": 2, "features.2": 3, "output:score": 0.1, "request_id": "r1", "row": 0},
        {"features.0": 4, "features.1": 5, "features.2": 6, "output:score": 0.9, "request_id": "r1", "row": 1},
    ]


def test_shape_that_does_not_match_the_data_is_unreadable():
    with pytest.raises(records.UnreadableDataError, match="shape"):
        records.rows_from_tensors("r", {"x": {"shape": [2, 3], "data": [1, 2]}}, None)


def test_a_line_that_is_not_json_names_its_file_and_line():
    with pytest.raises(records.UnreadableDataError, match=r"cap.jsonl:2: not JSON"):
        list(records.parse_jsonl(b'{"request_id":"a","inputs":{}}\n{broken\n', "cap.jsonl", "triton", [], []))


def test_sagemaker_csv_capture_uses_the_declared_column_names():
    line = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1.5,a", "encoding": "CSV"},
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": base64.b64encode(json.dumps([0.7]).encode()).decode(),
                "encoding": "BASE64",
            },
        },
        "eventMetadata": {"eventId": "e1", "inferenceId": "req-9", "inferenceTime": "2026-12-07T00:00:00Z"},
        "eventVersion": "0",
    }
    rows = list(records.parse_jsonl(json.dumps(line).encode(), "sm.jsonl", "sagemaker", ["amount", "country"], ["churn"]))
    assert rows == [{"amount": 1.5, "country": "a", "output:churn": 0.7, "request_id": "req-9", "row": 0}]


def test_sagemaker_row_of_the_wrong_width_is_unreadable():
    line = {
        "captureData": {"endpointInput": {"observedContentType": "text/csv", "data": "1,2,3", "encoding": "CSV"}},
        "eventMetadata": {"eventId": "e"},
    }
    with pytest.raises(records.UnreadableDataError, match="3 values, expected 2"):
        list(records.parse_jsonl(json.dumps(line).encode(), "sm.jsonl", "sagemaker", ["a", "b"], []))
