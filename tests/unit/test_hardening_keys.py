"""S3 object keys from clients: one limit for every pipeline, a clear error for what S3 refuses."""

from __future__ import annotations

import pytest

from chalicelib import storage
from chalicelib.cells.messages import LONGEST_RESULT_NAME, CountRequest, ResultKeys
from chalicelib.console.handlers import upload_key
from chalicelib.errors import InvalidInput
from chalicelib.predict import messages as predict_messages
from chalicelib.workers.messages import s3_location


def test_every_pipeline_measures_keys_against_one_limit() -> None:
    assert storage.S3_KEY_BYTES == 1024
    outputs = len(predict_messages.OUTPUT_PREFIX) + len(predict_messages.OUTPUT_SUFFIX)
    assert storage.S3_KEY_BYTES - outputs - 64 == predict_messages.MAX_KEY_BYTES
    longest = "x" * (storage.S3_KEY_BYTES - LONGEST_RESULT_NAME - len("counts//"))
    assert ResultKeys.folder(longest) == f"counts/{longest}/"
    assert ResultKeys.folder(longest + "x").startswith("counts-long-keys/")
    key = "k" * storage.S3_KEY_BYTES
    assert s3_location(f"s3://imgs/{key}") == ("imgs", key)
    with pytest.raises(InvalidInput, match="1,024"):
        s3_location(f"s3://imgs/{key}k")


LONE_SURROGATE = "a\ud800.png"  # what JSON's "a\\ud800.png" decodes to


def test_a_key_with_a_lone_surrogate_is_invalid_input_everywhere() -> None:
    # before: UnicodeEncodeError from key.encode() or inside botocore, retried as an outage
    with pytest.raises(InvalidInput, match="lone surrogate"):
        s3_location(f"s3://imgs/{LONE_SURROGATE}")
    with pytest.raises(InvalidInput, match="lone surrogate"):
        ResultKeys.folder(LONE_SURROGATE)
    with pytest.raises(InvalidInput, match="lone surrogate"):
        CountRequest.from_payload({"bucket": "imgs", "key": LONE_SURROGATE})
    with pytest.raises(InvalidInput, match="lone surrogate"):
        upload_key("plate\ud800", "a.png")
    with pytest.raises(InvalidInput, match="'key' must be an S3 object key"):
        predict_messages.BatchRequest.from_document({"bucket": "data", "key": "a\ud800.csv"})
    assert storage.key_bytes("é") == 2


def test_an_upload_form_is_refused_for_a_key_s3_would_refuse() -> None:
    # before: a presigned POST for a 1,104-byte key; S3 then refused the browser's upload
    assert upload_key("p", "a" * 1018 + ".png") == "p/" + "a" * 1018 + ".png"
    with pytest.raises(InvalidInput, match="1,024"):
        upload_key("p", "a" * 1019 + ".png")
    with pytest.raises(InvalidInput, match="1,024"):
        upload_key("é" * 500, "a" * 20 + ".png")
