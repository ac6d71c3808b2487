"""Run Lambda invokes of our container functions in-process, as Lambda would.

``RequestResponse`` invokes run at once and return the handler's result (or
Lambda's error shape). ``Event`` invokes are queued and run on a small thread
pool; a failing event is retried twice, as Lambda retries asynchronous
invocations (about 1 and 2 minutes later: ``AWS_ASYNC_RETRY_DELAYS``; a timer
re-queues it, so a waiting retry holds no worker), and then sent with its
reason to the function's on-failure queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from threading import current_thread as current
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]
ASYNC_ATTEMPTS = 3  # Lambda: the first try and two retries
AWS_ASYNC_RETRY_DELAYS = (60.0, 120.0)  # Lambda waits ~1 min, then ~2 min, between them


@dataclass
class LocalContext:
    """The parts of Lambda's context object our handlers use."""

    function_name: str
    aws_request_id: str
    timeout_s: float = 900.0
    memory_limit_in_mb: int = 3008

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LocalFunction:
    name: str
    load: Callable[[], Handler]  # imported on first call, as a cold start would
    on_failure: Callable[[dict[str, Any]], None] | None = None


class LocalFunctions:
    def __init__(
        self,
        functions: list[LocalFunction],
        workers: int = 2,
        retry_delays: tuple[float, ...] = AWS_ASYNC_RETRY_DELAYS,
    ):
        self._functions = {f.name: f for f in functions}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._retry_delays = retry_delays
        self._pending: set[Future[None]] = set()
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self._running = 0  # synchronous invokes in progress (a Step Functions task's, say)
        self._done = threading.Condition(self._lock)

    def __contains__(self, name: str) -> bool:
        return name in self._functions

    def invoke(self, name: str, payload: bytes) -> tuple[bool, Any]:
        """Run ``name`` synchronously: (ok, result or Lambda's error document)."""
        with self._lock:
            self._running += 1
        try:
            event = json.loads(payload or b"{}")
            return True, self._handler(name)(event, LocalContext(name, str(uuid.uuid4())))
        except Exception as exc:
            log.exception("function %s failed", name)
            return False, {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
        finally:
            with self._lock:
                self._running -= 1
                self._done.notify_all()

    def invoke_async(self, name: str, payload: bytes, attempt: int = 1) -> None:
        with self._lock:
            if self._closed:
                return
            future = self._pool.submit(self._run_async, name, payload, attempt)
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _run_async(self, name: str, payload: bytes, attempt: int) -> None:
        ok, result = self.invoke(name, payload)
        if ok:
            return
        if attempt >= ASYNC_ATTEMPTS:
            self._report_failure(name, payload, result)
            return
        delay = self._retry_delays[min(attempt, len(self._retry_delays)) - 1]
        timer = threading.Timer(delay, self._retry, (name, payload, attempt + 1))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _retry(self, name: str, payload: bytes, attempt: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not current()}
        self.invoke_async(name, payload, attempt)

    @property
    def waiting(self) -> int:
        """Asynchronous invokes running, queued or waiting for a retry."""
        with self._lock:
            return len(self._pending) + sum(1 for t in self._timers if t.is_alive())

    def _report_failure(self, name: str, payload: bytes, error: Any) -> None:
        record = {
            "requestContext": {
                "functionArn": name,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": ASYNC_ATTEMPTS,
            },
            "requestPayload": json.loads(payload or b"{}"),
            "responsePayload": error,
        }
        on_failure = self._functions[name].on_failure
        if on_failure is None:
            log.error("async invoke of %s failed %d times: %s", name, ASYNC_ATTEMPTS, error)
            return
        on_failure(record)

    def _handler(self, name: str) -> Handler:
        with self._lock:
            if name not in self._handlers:
                self._handlers[name] = self._functions[name].load()
            return self._handlers[name]

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, seconds: float = 15.0) -> None:
        """Wait (at most ``seconds``) for synchronous invocations in progress to end, as
        Lambda lets a function run on after its caller (a timed-out task) has gone."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while self._running and time.monotonic() < deadline:
                self._done.wait(timeout=max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
