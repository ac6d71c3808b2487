"""Structured logs, metrics and traces that share one correlation id.

One id follows a piece of work from where it starts (an upload, a queue message,
an HTTP request) through every function, container and Batch job to its result
document. It travels as:

- S3 user metadata ``correlation-id`` (``x-amz-meta-correlation-id`` on upload);
- the SQS message attribute ``correlation_id``;
- the field ``correlation_id`` of a Lambda payload, a Step Functions state and
  every result document;
- the environment variable ``CORRELATION_ID`` of a Batch job;
- the HTTP header ``X-Correlation-Id`` (request and response).

Logs are one JSON object per line with the field names of Powertools for AWS
Lambda's Logger (``level``, ``location``, ``message``, ``timestamp``,
``service``, ``cold_start``, ``function_name``, ``xray_trace_id``) plus
``correlation_id``; metrics are CloudWatch embedded-metric-format (EMF) lines,
the format Powertools' Metrics writes, in the namespace ``LabPipelines`` with a
``stage`` dimension (``infra/monitoring.py`` graphs and alarms on them).

Why not Powertools itself: importing ``aws_lambda_powertools`` costs ≈ 35-50 ms
here (its package ``__init__`` loads Logger, Metrics and Tracer), and the
prediction function's whole cold start budget is 60 ms with ≈ 56 ms already
used; the Batch runner runs under CellProfiler's Python 3.8/3.9 with only boto3.
This module is the standard library only, imports in ≈ 1 ms and writes the same
shapes, so CloudWatch Logs Insights queries and EMF extraction treat both alike.

Tracing sits behind :func:`span`: ``TRACING=none`` (default) only times the
block, ``otel`` uses the OpenTelemetry API when installed, ``xray`` the X-Ray SDK
(in maintenance from 2026-02-25; prefer ``otel``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO, TypeVar

NAMESPACE = "LabPipelines"
HEADER = "X-Correlation-Id"
METADATA_KEY = "correlation-id"  # S3 user metadata
FIELD = "correlation_id"  # SQS attribute, payload / state / result field
ENVIRONMENT = "CORRELATION_ID"  # Batch job environment

# Metric name -> (unit, extra dimension or ""). The dashboard and alarms use these names.
METRICS: dict[str, tuple[str, str]] = {
    "ImagesCounted": ("Count", ""),
    "CountLatency": ("Milliseconds", ""),
    "Failures": ("Count", "reason"),
    "Jobs": ("Count", "status"),
    "PaintingGroups": ("Count", ""),
    "VideoSecondsBlurred": ("Seconds", ""),
    "Predictions": ("Count", ""),
}

_correlation: contextvars.ContextVar[str] = contextvars.ContextVar(FIELD, default="")
_cold_start = True
_configured = False
_metric_sinks: list[list[dict[str, Any]]] = []
log = logging.getLogger(__name__)

F = TypeVar("F", bound="Callable[..., Any]")


# -- the correlation id ----------------------------------------------------------------------
def new_id() -> str:
    """A random (version 4) UUID, without importing ``uuid`` on a cold start."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def correlation_id() -> str:
    """The id of the work this thread is doing now ("" outside any)."""
    return _correlation.get()


def clean(value: Any) -> str:
    """An incoming id as we keep it: printable, at most 128 characters; "" if unusable."""
    text = str(value or "").strip()[:128]
    return text if text.isprintable() else ""


@contextlib.contextmanager
def correlated(value: str | None = None) -> Iterator[str]:
    """Run a block under ``value`` (a new id when empty); every log line carries it."""
    chosen = clean(value) or new_id()
    token = _correlation.set(chosen)
    try:
        yield chosen
    finally:
        _correlation.reset(token)


def from_metadata(metadata: Mapping[str, Any] | None) -> str:
    """The id an uploader put in the S3 object's user metadata ("" when none)."""
    return clean((metadata or {}).get(METADATA_KEY))


def from_attributes(attributes: Mapping[str, Any] | None) -> str:
    """The id in SQS message attributes, as Lambda delivers them or as plain strings."""
    value = (attributes or {}).get(FIELD)
    if isinstance(value, Mapping):
        value = value.get("stringValue") or value.get("StringValue")
    return clean(value)


def stamped(document: Any) -> Any:
    """A JSON document with the current id as ``correlation_id`` (unless it names one)."""
    current = correlation_id()
    if current and isinstance(document, dict) and FIELD not in document:
        return {**document, FIELD: current}
    return document


def object_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """S3 user metadata for an object we write: the caller's, plus the current id."""
    out = dict(metadata or {})
    if correlation_id():
        out.setdefault(METADATA_KEY, correlation_id())
    return out


def sqs_attribute(value: str | None = None) -> dict[str, dict[str, str]]:
    """``MessageAttributes`` entry carrying the id (the current one by default)."""
    return {FIELD: {"DataType": "String", "StringValue": value or correlation_id() or new_id()}}


# -- logs ------------------------------------------------------------------------------------
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with Powertools Logger's field names."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.module}.{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "service": self.service,
            FIELD: getattr(record, FIELD, "") or correlation_id(),
            "cold_start": getattr(record, "cold_start", None),
            "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            "logger": record.name,
        }
        trace = os.environ.get("_X_AMZN_TRACE_ID", "")
        if trace:
            document["xray_trace_id"] = trace.split(";")[0].replace("Root=", "")
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in document:
                document[key] = value
        if record.exc_info:
            document["exception_name"] = getattr(record.exc_info[0], "__name__", "")
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def _record_factory(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        setattr(record, FIELD, correlation_id())
        record.cold_start = _cold_start
        return record

    make.lab_correlation = True  # type: ignore[attr-defined]
    return make


def setup(service: str = "") -> None:
    """Stamp every log record with the correlation id; JSON lines where logs are shipped.

    Idempotent. In Lambda (and a Batch job, and wherever ``LOG_FORMAT=json``) the
    root logger's handlers get the JSON formatter (Lambda's own handler is kept, so
    lines still go to CloudWatch); elsewhere (tests, the CLI) only the records gain
    the ``correlation_id`` attribute.
    """
    global _configured
    current = logging.getLogRecordFactory()
    if not getattr(current, "lab_correlation", False):
        logging.setLogRecordFactory(_record_factory(current))
    if _configured or not shipped():
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))
    formatter = JsonFormatter(service or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lab"))
    for handler in root.handlers:
        handler.setFormatter(formatter)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    _configured = True


def shipped() -> bool:
    """Do this process's stdout lines end up in CloudWatch Logs (Lambda, Batch, or asked)?"""
    return bool(
        os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        or os.environ.get("AWS_BATCH_JOB_ID")
        or os.environ.get("LOG_FORMAT", "").lower() == "json"
    )


# -- metrics ---------------------------------------------------------------------------------
def metric(name: str, value: float, dimension: str = "", out: TextIO | None = None) -> None:
    """Record one data point of a metric in :data:`METRICS` as an EMF line.

    ``dimension`` is the value of the metric's extra dimension (``reason`` of a
    failure, ``status`` of a job). Lines go to stdout where logs are shipped (EMF
    is extracted from the function's log group), to :func:`captured_metrics`
    sinks, and nowhere else.
    """
    stream = out or (sys.stdout if shipped() else None)
    if stream is None and not _metric_sinks:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; add it to METRICS")
        return  # nowhere to go (tests, the CLI, benchmarks): skip building the line
    document = emf_document(name, value, dimension)
    for sink in _metric_sinks:
        sink.append(document)
    if stream is not None:
        stream.write(json.dumps(document) + "\n")
        stream.flush()


def emf_document(name: str, value: float, dimension: str = "") -> dict[str, Any]:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; add it to METRICS")
    unit, extra = METRICS[name]
    dimensions = {"stage": os.environ.get("STAGE", "local")}
    if extra:
        dimensions[extra] = dimension or "unknown"
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dimensions,
        name: value,
        FIELD: correlation_id(),
        "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
    }


@contextlib.contextmanager
def captured_metrics() -> Iterator[list[dict[str, Any]]]:
    """Every EMF document recorded in the block (tests, the smoke test's local run)."""
    sink: list[dict[str, Any]] = []
    _metric_sinks.append(sink)
    try:
        yield sink
    finally:
        _metric_sinks.remove(sink)


# -- traces ----------------------------------------------------------------------------------
@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A traced block. ``TRACING``: ``none`` (timed only), ``otel`` or ``xray``."""
    backend = os.environ.get("TRACING", "none").lower()
    started = time.perf_counter()
    with _backend_span(backend, name, {**attributes, FIELD: correlation_id()}):
        yield
    log.debug("%s took %.1f ms", name, (time.perf_counter() - started) * 1e3)


_tracers: list[Any] = []


@contextlib.contextmanager
def traced_by(tracer: Any) -> Iterator[None]:
    """Use ``tracer`` (an OpenTelemetry ``Tracer``) for ``TRACING=otel`` spans in the block.

    Without one, the OpenTelemetry API's global tracer provider is asked (an SDK or
    the ADOT layer configures it); tests hand in their own.
    """
    _tracers.append(tracer)
    try:
        yield
    finally:
        _tracers.remove(tracer)


def _otel_tracer() -> Any:
    if _tracers:
        return _tracers[-1]
    try:
        from opentelemetry import trace  # type: ignore[import-not-found]
    except ImportError:
        log.warning("TRACING=otel but opentelemetry-api is not installed: not traced")
        return None
    return trace.get_tracer("lab-pipelines")


@contextlib.contextmanager
def _backend_span(backend: str, name: str, attributes: dict[str, Any]) -> Iterator[None]:
    tracer = _otel_tracer() if backend == "otel" else None
    if tracer is not None:
        with tracer.start_as_current_span(name, attributes=_scalars(attributes)):
            yield
        return
    if backend == "xray":
        try:
            from aws_xray_sdk.core import xray_recorder  # type: ignore[import-not-found]
        except ImportError:
            log.warning("TRACING=xray but aws-xray-sdk is not installed: not traced")
        else:
            with xray_recorder.in_subsegment(name) as subsegment:
                for key, value in _scalars(attributes).items():
                    subsegment.put_annotation(key, value)
                yield
            return
    yield


def _scalars(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if isinstance(v, (str, int, float, bool))}


# -- handlers --------------------------------------------------------------------------------
def instrumented(pipeline: str) -> Callable[[F], F]:
    """Decorate an entry point outside Chalice (a container function, the Batch runner).

    JSON logs set up; the id bound from the event's ``correlation_id`` (a Lambda
    payload or Step Functions state), else ``CORRELATION_ID`` (a Batch job's
    environment), else a new one; an exception is logged with the id, counted as a
    ``Failures`` data point (``reason`` = ``<pipeline>:<error kind>``) and re-raised.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            global _cold_start
            setup(pipeline)
            event = args[0] if args else None
            incoming = event.get(FIELD) if isinstance(event, Mapping) else None
            with correlated(incoming or os.environ.get(ENVIRONMENT)):
                try:
                    with span(f"{pipeline}.{function.__name__}"):
                        return function(*args, **kwargs)
                except Exception as error:
                    reason = str(getattr(error, "kind", type(error).__name__))
                    log.exception("%s failed: %s", pipeline, error, extra={"pipeline": pipeline})
                    metric("Failures", 1, f"{pipeline}:{reason}")
                    raise
                finally:
                    _cold_start = False

        return wrapper  # type: ignore[return-value]

    return decorate


def adopt(value: str | None) -> str:
    """Make ``value`` (when usable) the id of the rest of this invocation; the id in force.

    For an entry point that learns the real id after it started, e.g. from the
    uploaded object's metadata; the enclosing :func:`correlated` scope (the
    middleware's) restores the previous id when the invocation ends.
    """
    chosen = clean(value)
    if chosen:
        _correlation.set(chosen)
    return correlation_id()


def event_correlation_id(event: Any) -> str:
    """The id an incoming Chalice event carries, "" when it has none of its own.

    HTTP: the ``X-Correlation-Id`` header, else API Gateway's request id. A
    ``lambda_function`` (a Step Functions task): the state's ``correlation_id``.
    S3 and SQS events: "" (the object's metadata and each message's attributes
    are read where they are parsed).
    """
    headers = getattr(event, "headers", None)
    if headers is not None:
        context = getattr(event, "context", None) or {}
        return clean(headers.get(HEADER.lower()) or headers.get(HEADER)) or clean(
            context.get("requestId")
        )
    to_dict = getattr(event, "to_dict", None)
    payload = to_dict() if callable(to_dict) else None
    if isinstance(payload, Mapping) and "Records" not in payload:
        return clean(payload.get(FIELD))
    return ""


def chalice_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: logs set up, an id bound, failures counted.

    Registered once in ``app.py`` (``app.register_middleware(…, "all")``). An HTTP
    response carries the id back in ``X-Correlation-Id``.
    """
    global _cold_start
    setup()
    with correlated(event_correlation_id(event)) as chosen:
        try:
            with span(type(event).__name__):
                response = get_response(event)
        except Exception as error:
            reason = str(getattr(error, "kind", type(error).__name__))
            log.exception("handler failed: %s", error)
            metric("Failures", 1, f"{type(event).__name__}:{reason}")
            raise
        finally:
            _cold_start = False
        response_headers = getattr(response, "headers", None)
        if isinstance(response_headers, dict):
            response_headers[HEADER] = correlation_id() or chosen
        return response
