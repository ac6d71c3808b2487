from __future__ import annotations

import pytest

from chalicelib.cells.messages import CountRequest, ResultKeys, parameters_from_metadata
from chalicelib.errors import InvalidInput


def test_request_round_trips_through_its_payload() -> None:
    request = CountRequest("b", "dir/a.png", "abc", 12, "v1", "hough", {"min_radius": "8"})
    assert CountRequest.from_payload(request.to_payload()) == request


@pytest.mark.parametrize("payload", [None, [], "x", {"bucket": "b"}, {"key": "k"}])
def test_malformed_payloads_are_invalid(payload: object) -> None:
    with pytest.raises(InvalidInput):
        CountRequest.from_payload(payload)


def test_metadata_parameters_are_case_and_dash_insensitive() -> None:
    method, params = parameters_from_metadata({"Count-Method": "hough", "count-max-radius": "40"})
    assert method == "hough" and params == {"max_radius": "40"}


def test_result_keys_group_by_image() -> None:
    keys = ResultKeys.for_image("plate 1/A01.tif")
    assert keys.result == "counts/plate 1/A01.tif/result.json"
    assert keys.annotated.endswith("/annotated.png") and keys.cells.endswith("/cells.csv")
