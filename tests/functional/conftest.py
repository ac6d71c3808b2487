from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws
from chalicelib.config import Settings, get_settings
from tests.conftest import ROOT


class FakeLambda:
    """Records invokes instead of running functions."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append({**kwargs, "Payload": json.loads(kwargs["Payload"])})
        return {"StatusCode": 202}


class CountingS3:
    """A real (moto) S3 client that counts the writes made through it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.puts: list[str] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs["Key"])
        return self._inner.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-memory AWS (moto) for plain boto3 clients, with fake credentials."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[CountingS3]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset()
    with mock_aws():
        client = CountingS3(aws.client("s3"))
        for bucket in settings.buckets:
            client.create_bucket(Bucket=bucket)
        lambda_ = FakeLambda()
        with aws.injected(s3=client, lambda_=lambda_):
            yield client
    aws.reset()


@pytest.fixture
def fake_lambda(s3: CountingS3) -> FakeLambda:
    return aws.client("lambda")  # type: ignore[no-any-return]


@pytest.fixture
def client() -> Iterator[Client]:
    import app

    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client
