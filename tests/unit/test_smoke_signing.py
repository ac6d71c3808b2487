"""``make smoke`` against prod signs its API calls (IAM auth) for execute-api in the region."""

from __future__ import annotations

import boto3

from devtools.smoke import _sigv4


def test_requests_are_signed_for_execute_api_in_the_stage_region() -> None:
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-2"
    )
    sign = _sigv4(session, "eu-west-2")
    headers = sign("POST", "https://abc.execute-api.eu-west-2.amazonaws.com/api/predict", b"{}", {})
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-2/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in headers
