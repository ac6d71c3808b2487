"""JSON objects that repeat a key are refused, naming it: which value counts is ambiguous.

Python's json keeps the last, silently; another reader (a proxy, a WAF, a log viewer) may
keep the first, so the value checked or shown is not the value used.
"""

from __future__ import annotations

import json

import pytest

from chalicelib import jsonsafe
from chalicelib.painting.messages import InvalidJob, parse_body
from chalicelib.workers.messages import MalformedJob, parse_job
from tests.predict_data import SEED_BENIGN

BODY = json.dumps(SEED_BENIGN)[:-1] + ', "worstArea": 1e30}'  # worstArea twice


def test_a_prediction_body_repeating_a_feature_is_a_400(client) -> None:
    # before: 200, predicted from the last value (1e30), the first (677.9) ignored
    response = client.http.post("/predict", headers={"Content-Type": "application/json"}, body=BODY)
    assert response.status_code == 400
    assert "worstArea" in json.loads(response.body)["reason"]


def test_nested_objects_and_lists_are_checked_too() -> None:
    with pytest.raises(jsonsafe.JSONError, match="repeats the key 'a'"):
        jsonsafe.loads('[{"b": {"a": 1, "a": 1}}]')
    assert jsonsafe.loads('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


def test_a_job_or_a_painting_message_repeating_a_key_is_refused_with_the_reason() -> None:
    with pytest.raises(MalformedJob, match="repeats the key 'task'"):
        parse_job('{"task": "predict", "task": "count", "input": "s3://b/k.png"}', "m1")
    [job] = parse_body('{"pipeline": "p", "input": "i/", "output": "a/", "output": "i/x/"}')
    assert isinstance(job, InvalidJob) and "repeats the key 'output'" in job.reason
