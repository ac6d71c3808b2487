"""Correlation ids, JSON log lines and EMF metrics (``chalicelib/observability.py``)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys

import pytest

from chalicelib import observability
from tests.conftest import ROOT


def test_a_block_gets_one_id_and_leaves_none_behind() -> None:
    assert observability.correlation_id() == ""
    with observability.correlated("abc-1") as outer:
        assert outer == observability.correlation_id() == "abc-1"
        with observability.correlated() as inner:
            assert inner != outer and len(inner) == 36
        assert observability.correlation_id() == "abc-1"
    assert observability.correlation_id() == ""


@pytest.mark.parametrize("bad", ["", "  ", "line\nbreak", None])
def test_unusable_incoming_ids_are_replaced(bad: str | None) -> None:
    with observability.correlated(bad) as chosen:
        assert chosen and chosen.isprintable() and chosen.strip() == chosen


def test_ids_come_from_s3_metadata_and_both_sqs_attribute_shapes() -> None:
    assert observability.from_metadata({"correlation-id": "m-1"}) == "m-1"
    assert observability.from_metadata(None) == ""
    lambda_shape = {"correlation_id": {"stringValue": "q-1", "dataType": "String"}}
    assert observability.from_attributes(lambda_shape) == "q-1"
    assert observability.from_attributes({"correlation_id": "q-2"}) == "q-2"
    sent = observability.sqs_attribute("q-3")
    assert observability.from_attributes(sent) == "q-3"
    assert observability.from_attributes({}) == ""


def test_every_record_carries_the_id(caplog: pytest.LogCaptureFixture) -> None:
    observability.setup("test")
    with caplog.at_level(logging.INFO), observability.correlated("rec-1"):
        logging.getLogger("chalicelib.anything").info("hello %s", "there")
    (record,) = [r for r in caplog.records if r.getMessage() == "hello there"]
    assert record.correlation_id == "rec-1"  # type: ignore[attr-defined]


def test_a_json_line_has_powertools_field_names() -> None:
    formatter = observability.JsonFormatter("cells")
    logger = logging.getLogger("test.json")
    record = logger.makeRecord("test.json", logging.WARNING, __file__, 7, "n=%d", (3,), None)
    record.image = "a.png"
    with observability.correlated("line-1"):
        line = json.loads(formatter.format(record))
    assert {"level", "location", "message", "timestamp", "service", "cold_start"} <= set(line)
    assert line["level"] == "WARNING" and line["message"] == "n=3" and line["service"] == "cells"
    assert line["correlation_id"] == "line-1" and line["image"] == "a.png"
    assert line["timestamp"].endswith("Z")


def test_an_exception_is_logged_with_its_name() -> None:
    formatter = observability.JsonFormatter("x")
    try:
        raise ValueError("bad input")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json.loads(formatter.format(record))
    assert line["exception_name"] == "ValueError" and "bad input" in line["exception"]


def test_a_metric_is_a_valid_emf_document() -> None:
    out = io.StringIO()
    with observability.correlated("m-2"), observability.captured_metrics() as captured:
        observability.metric("Failures", 1, "cells:too_large", out=out)
    (document,) = captured
    assert json.loads(out.getvalue()) == document
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == observability.NAMESPACE
    (dimensions,) = directive["Dimensions"]
    assert set(dimensions) == {"stage", "reason"}
    assert all(isinstance(document[d], str) for d in dimensions)  # EMF: dimension values
    (definition,) = directive["Metrics"]
    assert definition == {"Name": "Failures", "Unit": "Count"}
    assert document["Failures"] == 1 and document["reason"] == "cells:too_large"
    assert document["correlation_id"] == "m-2"


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        observability.emf_document("Typo", 1)


def test_metrics_go_nowhere_unless_shipped_or_captured(capsys: pytest.CaptureFixture[str]) -> None:
    assert not observability.shipped()
    observability.metric("Predictions", 1)
    assert capsys.readouterr().out == ""


def test_a_failing_entry_point_is_logged_counted_and_reraised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from chalicelib.errors import TooLarge

    @observability.instrumented("cells")
    def handler(event: dict[str, str], context: object = None) -> None:
        raise TooLarge("too big")

    with (
        caplog.at_level(logging.ERROR),
        observability.captured_metrics() as captured,
        pytest.raises(TooLarge),
    ):
        handler({"correlation_id": "f-1"})
    assert [d["reason"] for d in captured] == ["cells:too_large"]
    (record,) = [r for r in caplog.records if "cells failed" in r.getMessage()]
    assert record.correlation_id == "f-1"  # type: ignore[attr-defined]


def test_spans_without_a_tracer_installed_still_run_the_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = []
    for backend in ("none", "otel", "xray"):
        monkeypatch.setenv("TRACING", backend)
        with observability.span("step", key="k"):
            ran.append(backend)
    assert ran == ["none", "otel", "xray"]


def test_the_module_is_standard_library_only() -> None:
    """The Batch runner imports it under the image's Python 3.8 with only boto3 installed
    (``tests/unit/test_painting_container.py`` runs it there through the image's COPY list)."""
    code = (
        "import sys, json; sys.path.insert(0, '.');"
        "before = set(sys.modules); import chalicelib.observability;"
        "new = {m.split('.')[0] for m in set(sys.modules) - before};"
        "print(json.dumps(sorted(new - set(sys.stdlib_module_names))))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["chalicelib"]


def test_new_ids_are_version_4_uuids() -> None:
    import uuid

    ids = {observability.new_id() for _ in range(100)}
    assert len(ids) == 100
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value


def test_a_batch_job_takes_its_id_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    @observability.instrumented("painting")
    def main(argv: list[str]) -> int:
        seen.append(observability.correlation_id())
        return 0

    monkeypatch.setenv(observability.ENVIRONMENT, "batch-1")
    assert main(["run"]) == 0 and seen == ["batch-1"]
    monkeypatch.delenv(observability.ENVIRONMENT)
    main(["run"])
    assert len(seen[1]) == 36  # a new one


def test_the_chalice_middleware_binds_answers_and_counts() -> None:
    from chalice import Chalice
    from chalice.test import Client

    app = Chalice(app_name="t")
    app.register_middleware(observability.chalice_middleware, "all")
    seen: list[str] = []

    @app.route("/")
    def index() -> dict[str, str]:
        seen.append(observability.correlation_id())
        return {}

    @app.lambda_function(name="step")
    def step(event: dict[str, str], context: object) -> dict[str, str]:
        seen.append(observability.correlation_id())
        return event

    @app.lambda_function(name="broken")
    def broken(event: dict[str, str], context: object) -> None:
        raise ValueError("nope")

    with Client(app) as client:
        response = client.http.get("/", headers={"X-Correlation-Id": "http-1"})
        assert response.headers[observability.HEADER] == "http-1"
        client.lambda_.invoke("step", {"correlation_id": "state-1"})
        with observability.captured_metrics() as captured, pytest.raises(ValueError):
            client.lambda_.invoke("broken", {})
    assert seen == ["http-1", "state-1"]
    assert [d["reason"] for d in captured] == ["LambdaFunctionEvent:ValueError"]


def test_entry_points_open_a_span_with_the_opentelemetry_tracer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TRACING=otel: each entry point is a span of the tracer in force."""
    opened: list[tuple[str, dict[str, object]]] = []

    class Tracer:  # the part of opentelemetry.trace.Tracer the module uses
        def start_as_current_span(
            self, name: str, attributes: dict[str, object]
        ) -> contextlib.AbstractContextManager[None]:
            opened.append((name, attributes))
            return contextlib.nullcontext()

    @observability.instrumented("cells")
    def handle(event: dict[str, str], context: object = None) -> str:
        return "done"

    monkeypatch.setenv("TRACING", "otel")
    with observability.traced_by(Tracer()):
        assert handle({"correlation_id": "t-1"}) == "done"
    assert opened == [("cells.handle", {"correlation_id": "t-1"})]
    monkeypatch.setenv("TRACING", "none")
    handle({})
    assert len(opened) == 1
