"""S3 object keys from clients: one limit for every pipeline, a clear error for what S3 refuses."""

from __future__ import annotations

import pytest

from chalicelib import storage
from chalicelib.cells.messages import LONGEST_RESULT_NAME, ResultKeys
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
