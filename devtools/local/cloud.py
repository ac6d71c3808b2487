"""``LocalCloud``: the whole app on a laptop, with no account and no Docker.

Starts the emulator on loopback, points this process's AWS clients at it,
creates every resource the stage names, starts the event pump and (optionally)
serves the HTTP routes with ``chalice local``'s server. A context manager:
leaving it stops everything and restores the environment.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.config import PROJECT_DIR, Settings, reload_settings
from chalicelib.functions import CONTAINER_FUNCTIONS
from devtools.local.batch import LocalBatch, default_launcher, job_definition_reader
from devtools.local.emulator import Emulator
from devtools.local.faults import FaultInjector, SqsRequestChecks
from devtools.local.functions import AWS_ASYNC_RETRY_DELAYS, LocalFunction, LocalFunctions
from devtools.local.persist import BucketMirror
from devtools.local.pump import EventPump
from devtools.local.resources import Provisioned, Provisioner

log = logging.getLogger(__name__)

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def load_app() -> Any:
    """The Chalice app object of this project (``app.py``)."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    return importlib.import_module("app").app


def _same(value: Any) -> Any:
    return value


class AlreadyRunning(RuntimeError):
    """A second local cloud in one process: moto keeps its state per process, not per server."""


_running_lock = threading.Lock()
_running: LocalCloud | None = None  # the one local cloud started in this process


class LocalCloud:
    """At most one runs per process: two would share moto's queues and buckets, and each
    one's event pump would take the other's messages (and a start resets the other)."""

    def __init__(
        self,
        port: int = 0,
        http_port: int | None = None,
        stage: str = "local",
        retry_delay: float | None = None,
        visibility_timeout: int = 30,
        async_retry_delays: tuple[float, float] | None = None,
        workers: int = 2,
        app: Any = None,
        batch_launcher: Any = None,
        state_dir: Path | None = None,
    ) -> None:
        self.stage = stage
        self._port = port
        self._http_port = http_port
        self._retry_delay = retry_delay
        self._visibility = visibility_timeout
        self._async_delays = async_retry_delays
        self._workers = workers
        self._app = app
        self.faults: FaultInjector | None = None
        self._batch_launcher = batch_launcher  # None: the job runner under CellProfiler's venv
        self._state_dir = state_dir  # None: the buckets live in memory only
        self.mirror: BucketMirror | None = None
        self.restored = 0
        self.batch: LocalBatch | None = None
        self._saved_env: dict[str, str | None] = {}
        self.emulator: Emulator | None = None
        self.pump: EventPump | None = None
        self.provisioned: Provisioned | None = None
        self.settings: Settings | None = None
        self._http: Any = None
        self._http_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        try:
            self.start()
        except AlreadyRunning:
            raise  # nothing of ours was started; the running one is left alone
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        global _running
        with _running_lock:
            if _running is not None and _running is not self:
                where = _running.emulator.endpoint if _running.emulator else "starting"
                raise AlreadyRunning(
                    f"a local cloud is already running in this process ({where}); stop it "
                    "first: moto keeps one state per process, so two would share and reset "
                    "each other's queues"
                )
            _running = self
        self._set_env({**FAKE_CREDENTIALS, "STAGE": self.stage})
        settings = reload_settings()
        self.settings = settings
        app = self._app if self._app is not None else load_app()
        # As in AWS unless told otherwise: a failed queue message comes back after the
        # queue's visibility timeout, a failed async invoke after ~1 and ~2 minutes.
        # A retry_delay (the fast tests) shortens both.
        delays = self._async_delays or (
            AWS_ASYNC_RETRY_DELAYS
            if self._retry_delay is None
            else (self._retry_delay / 2, self._retry_delay)
        )
        functions = LocalFunctions(
            self._local_functions(settings) + self._app_functions(app),
            workers=self._workers,
            retry_delays=delays,
        )
        self.batch = LocalBatch(
            self._batch_launcher or default_launcher(),
            job_definition_reader(lambda: aws.client("batch")),
        )
        wrappers: list[Callable[[Any], Any]] = [self.batch.wrap, SqsRequestChecks, self._faulty]
        self.emulator = Emulator(functions, port=self._port, wrappers=wrappers)
        self.emulator.start()
        endpoint = self.emulator.endpoint
        self._set_env({"AWS_ENDPOINT_URL": endpoint, "MOTO_PORT": str(self.emulator.port)})
        aws.reset()
        provisioner = Provisioner(settings, aws.client, self._visibility)
        self.provisioned = provisioner.provision(app.event_sources)
        self.emulator.execute_state_machines()
        provisioner.state_machine(settings.face_blur_state_machine, self._face_blur_definition(app))
        if self._state_dir is not None:
            self.mirror = BucketMirror(aws.client("s3"), settings.buckets, self._state_dir)
            self.restored = self.mirror.restore()
            self.mirror.start()
        self.pump = EventPump(app, aws.client("sqs"), self.provisioned, self._retry_delay)
        self.pump.start()
        if self._http_port is not None:
            self._serve_http(app, self._http_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server.server_close()
            self._http = None
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        if self.mirror is not None:
            self.mirror.stop()  # the last sync: results written until now are kept
            self.mirror = None
        if self.batch is not None:
            self.batch.shutdown()
            self.batch = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        self._restore_env()
        aws.reset()
        reload_settings()
        global _running
        with _running_lock:
            if _running is self:
                _running = None

    # -- parts ----------------------------------------------------------------
    def _faulty(self, backend: Any) -> FaultInjector:
        self.faults = FaultInjector(backend)
        return self.faults

    @property
    def endpoint(self) -> str:
        assert self.emulator is not None, "start() first"
        return self.emulator.endpoint

    @property
    def http_url(self) -> str | None:
        if self._http is None:
            return None
        return f"http://127.0.0.1:{self._http.server.server_port}"

    def _local_functions(self, settings: Settings) -> list[LocalFunction]:
        functions = []
        for definition in CONTAINER_FUNCTIONS:
            failures = (
                getattr(settings, definition.async_failures_setting)
                if definition.async_failures_setting
                else None
            )
            functions.append(
                LocalFunction(
                    name=getattr(settings, definition.name_setting),
                    load=definition.load,
                    on_failure=self._failure_reporter(failures) if failures else None,
                )
            )
        return functions

    def deployed_name(self, app: Any, function: str) -> str:
        """The name Chalice deploys an ``@app.lambda_function`` under."""
        return f"{app.app_name}-{self.stage}-{function}"

    def _app_functions(self, app: Any) -> list[LocalFunction]:
        """Every ``@app.lambda_function``, discovered on the app object."""
        return [
            LocalFunction(name=self.deployed_name(app, f.name), load=functools.partial(_same, f))
            for f in app.pure_lambda_functions
        ]

    def _face_blur_definition(self, app: Any) -> str:
        from chalicelib.faces.handlers import (
            CONTAINER_TASKS,
            TASK_FUNCTIONS,
            state_machine_definition,
        )

        assert self.settings is not None
        prefix = f"arn:aws:lambda:{FAKE_CREDENTIALS['AWS_REGION']}:123456789012:function:"
        arns = {var: prefix + self.deployed_name(app, name) for var, name in TASK_FUNCTIONS.items()}
        arns |= {
            var: prefix + getattr(self.settings, field) for var, field in CONTAINER_TASKS.items()
        }
        return state_machine_definition(arns)

    def _failure_reporter(self, queue: str) -> Any:
        def report(record: dict[str, Any]) -> None:
            assert self.provisioned is not None
            aws.client("sqs").send_message(
                QueueUrl=self.provisioned.url(queue), MessageBody=json.dumps(record, default=str)
            )

        return report

    def _serve_http(self, app: Any, port: int) -> None:
        from devtools.local.http import create_server

        self._http = create_server(app, self.stage, "127.0.0.1", port)
        self._http_thread = threading.Thread(
            target=self._http.server.serve_forever, name="chalice-local", daemon=True
        )
        self._http_thread.start()

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
