"""A local AWS Batch: the emulator records jobs, this runs them.

moto records Batch jobs but cannot run them without Docker. ``LocalBatch``
wraps the emulator's WSGI app: a ``SubmitJob`` goes to moto first (which
validates the queue and job definition and assigns the id), then this executor
runs the job the way Batch would: array jobs as children with
``AWS_BATCH_JOB_ARRAY_INDEX``, ``dependsOn`` honoured (a dependent of a failed
job fails), ``retryStrategy`` attempts with ``evaluateOnExit`` rules, and at most
``workers`` containers at once (the core count). ``DescribeJobs`` for these jobs
is answered from here, with their real status.

A "container" is a process running the job definition's entry point, the same
job runner the CellProfiler image runs, under the CellProfiler virtualenv's
Python when ``make cellprofiler`` has created it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.config import PROJECT_DIR

log = logging.getLogger(__name__)

CELLPROFILER_VENV = PROJECT_DIR / ".venv-cellprofiler"
RUNNER_ENTRY = ("-m", "chalicelib.painting.container")
TERMINAL = ("SUCCEEDED", "FAILED")
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Launch:
    """One attempt of one container: what the process gets."""

    job_id: str
    job_name: str
    command: tuple[str, ...]
    environment: dict[str, str]
    attempt: int


@dataclass(frozen=True)
class Exit:
    code: int
    log_tail: str = ""


Launcher = Callable[[Launch], Exit]


@dataclass
class LocalJob:
    """Mutable state of a job (or an array child), guarded by ``LocalBatch._lock``."""

    job_id: str
    name: str
    queue: str
    definition: str
    command: tuple[str, ...]
    environment: dict[str, str]
    resources: list[dict[str, str]]
    attempts: int = 1
    exit_rules: list[dict[str, str]] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    array_size: int = 0
    index: int | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    status: str = "SUBMITTED"
    reason: str = ""
    exit_code: int | None = None
    tries: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    stopped_at: float | None = None


def container_settings(
    definition: dict[str, Any], overrides: dict[str, Any]
) -> tuple[tuple[str, ...], dict[str, str], list[dict[str, str]]]:
    """(command, environment, resources) of a job: its definition with the overrides applied.

    >>> container_settings({"command": ["run"], "environment": [{"name": "A", "value": "1"}]},
    ...                    {"environment": [{"name": "B", "value": "2"}]})
    (('run',), {'A': '1', 'B': '2'}, [])
    """
    command = tuple(overrides.get("command") or definition.get("command") or ())
    environment = {e["name"]: e["value"] for e in definition.get("environment", [])}
    environment.update({e["name"]: e["value"] for e in overrides.get("environment", [])})
    resources = list(
        overrides.get("resourceRequirements") or definition.get("resourceRequirements") or []
    )
    return command, environment, resources


def retry_action(rules: list[dict[str, str]], code: int, reason: str) -> str:
    """``RETRY`` or ``EXIT`` for a failed attempt, by Batch's ``evaluateOnExit`` rules.

    >>> rules = [{"onExitCode": "3", "action": "EXIT"}, {"onReason": "*", "action": "RETRY"}]
    >>> retry_action(rules, 3, "Essential container in task exited"), retry_action(rules, 1, "x")
    ('EXIT', 'RETRY')
    """
    for rule in rules:
        checks = [
            ("onExitCode", str(code)),
            ("onReason", reason),
            ("onStatusReason", reason),
        ]
        relevant = [(k, v) for k, v in checks if k in rule]
        if relevant and all(fnmatch.fnmatchcase(v, rule[k]) for k, v in relevant):
            return str(rule.get("action", "RETRY")).upper()
    return "RETRY"


class LocalBatch:
    def __init__(
        self,
        launcher: Launcher,
        definitions: Callable[[str], dict[str, Any]] | None = None,
        workers: int | None = None,
    ) -> None:
        self._launcher = launcher
        self._definitions = definitions or (lambda name: {})
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="batch")
        self._lock = threading.Condition()
        self._jobs: dict[str, LocalJob] = {}
        self.submissions: list[dict[str, Any]] = []  # every SubmitJob request, in order
        self._closed = False
        _hold_moto_batch()

    # -- the WSGI middleware --------------------------------------------------------
    def wrap(self, backend: WSGIApp) -> WSGIApp:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if environ.get("REQUEST_METHOD") != "POST" or path not in HANDLED:
                return backend(environ, start_response)
            body = _read_body(environ)
            if path == "/v1/submitjob":
                return self._submit(backend, environ, start_response, body)
            return self._describe(backend, environ, start_response, body)

        return app

    def _submit(
        self, backend: WSGIApp, environ: dict[str, Any], start_response: StartResponse, body: bytes
    ) -> Iterable[bytes]:
        status, headers, answer = _call(backend, environ, body)
        if status.startswith("200"):
            self.record(json.loads(body or b"{}"), json.loads(answer)["jobId"])
        start_response(status, headers)
        return [answer]

    def _describe(
        self, backend: WSGIApp, environ: dict[str, Any], start_response: StartResponse, body: bytes
    ) -> Iterable[bytes]:
        wanted = list(json.loads(body or b"{}").get("jobs", []))
        known = self.describe(wanted)
        unknown = [job_id for job_id in wanted if job_id not in {j["jobId"] for j in known}]
        others: list[dict[str, Any]] = []
        if unknown:
            status, headers, answer = _call(
                backend, environ, json.dumps({"jobs": unknown}).encode()
            )
            if not status.startswith("200"):
                start_response(status, headers)
                return [answer]
            others = json.loads(answer).get("jobs", [])
        payload = json.dumps({"jobs": known + others}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    # -- recording and scheduling ---------------------------------------------------
    def record(self, request: dict[str, Any], job_id: str) -> None:
        """Take a submitted job (moto has accepted it and given it ``job_id``)."""
        definition = self._definitions(str(request.get("jobDefinition", "")))
        command, environment, resources = container_settings(
            definition, request.get("containerOverrides") or {}
        )
        retry = request.get("retryStrategy") or {}
        job = LocalJob(
            job_id=job_id,
            name=str(request.get("jobName", "")),
            queue=str(request.get("jobQueue", "")),
            definition=str(request.get("jobDefinition", "")),
            command=command,
            environment=environment,
            resources=resources,
            attempts=int(retry.get("attempts", 1)),
            exit_rules=list(retry.get("evaluateOnExit", [])),
            depends_on=[d["jobId"] for d in request.get("dependsOn", [])],
            array_size=int((request.get("arrayProperties") or {}).get("size", 0)),
        )
        with self._lock:
            self.submissions.append({**request, "jobId": job_id})
            self._jobs[job_id] = job
            for index in range(job.array_size):
                child = dataclasses.replace(
                    job, job_id=f"{job_id}:{index}", index=index, parent=job_id, array_size=0,
                    children=[], tries=[],
                )  # fmt: skip
                job.children.append(child.job_id)
                self._jobs[child.job_id] = child
            self._schedule()

    def _schedule(self) -> None:
        """Start every job whose dependencies succeeded; fail those whose dependencies failed."""
        changed = True
        while changed:
            changed = False
            for job in list(self._jobs.values()):
                if job.status not in ("SUBMITTED", "PENDING") or job.children:
                    continue
                deps = [self._status(d) for d in job.depends_on]
                if any(status == "FAILED" for status in deps):
                    self._finish(job, "FAILED", "Dependent Job failed", None)
                    changed = True
                elif all(status == "SUCCEEDED" for status in deps):
                    job.status = "RUNNABLE"
                    if not self._closed:
                        self._pool.submit(self._run, job.job_id)
                else:
                    job.status = "PENDING"
        self._lock.notify_all()

    def _run(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.status, job.started_at = "RUNNING", time.time()
        for attempt in range(1, job.attempts + 1):
            launch = Launch(
                job.job_id, job.name, job.command, self._environment(job, attempt), attempt
            )
            try:
                result = self._launcher(launch)
            except Exception as exc:
                log.exception("local Batch could not start %s", job.job_id)
                result = Exit(255, f"could not start the container: {exc}")
            reason = "" if result.code == 0 else "Essential container in task exited"
            with self._lock:
                job.tries.append(
                    {"exitCode": result.code, "statusReason": reason, "logTail": result.log_tail}
                )
            if result.code == 0:
                return self._done(job, "SUCCEEDED", "", 0)
            if retry_action(job.exit_rules, result.code, reason) == "EXIT" or self._closed:
                break
        return self._done(job, "FAILED", "Essential container in task exited", result.code)

    def _environment(self, job: LocalJob, attempt: int) -> dict[str, str]:
        environment = dict(job.environment)
        environment.update(AWS_BATCH_JOB_ID=job.job_id, AWS_BATCH_JOB_ATTEMPT=str(attempt),
                           AWS_BATCH_JQ_NAME=job.queue)  # fmt: skip
        if job.index is not None:
            environment["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.index)
        return environment

    def _done(self, job: LocalJob, status: str, reason: str, code: int | None) -> None:
        with self._lock:
            self._finish(job, status, reason, code)
            self._schedule()

    def _finish(self, job: LocalJob, status: str, reason: str, code: int | None) -> None:
        job.status, job.reason, job.exit_code, job.stopped_at = status, reason, code, time.time()
        log.info("local Batch job %s (%s): %s %s", job.job_id, job.name, status, reason)

    def _status(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        if job is None:
            return "SUCCEEDED"  # a dependency this executor never saw: Batch would have it
        if not job.children:
            return job.status
        statuses = [self._jobs[c].status for c in job.children]
        if all(s == "SUCCEEDED" for s in statuses):
            return "SUCCEEDED"
        if all(s in TERMINAL for s in statuses):
            return "FAILED"
        return "RUNNING" if any(s in ("RUNNING", *TERMINAL) for s in statuses) else "PENDING"

    # -- reading --------------------------------------------------------------------
    def describe(self, job_ids: list[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [self._description(self._jobs[i]) for i in job_ids if i in self._jobs]

    def _description(self, job: LocalJob) -> dict[str, Any]:
        status = self._status(job.job_id)
        described: dict[str, Any] = {
            "jobArn": f"arn:aws:batch:us-east-1:123456789012:job/{job.job_id}",
            "jobName": job.name,
            "jobId": job.job_id,
            "jobQueue": job.queue,
            "jobDefinition": job.definition,
            "status": status,
            "statusReason": job.reason if status == "FAILED" and job.reason else "",
            "createdAt": int(job.created_at * 1000),
            "dependsOn": [{"jobId": d} for d in job.depends_on],
            "attempts": [
                {"container": {"exitCode": t["exitCode"]}, "statusReason": t["statusReason"]}
                for t in job.tries
            ],
            "container": {
                "command": list(job.command),
                "environment": [{"name": k, "value": v} for k, v in job.environment.items()],
                "resourceRequirements": job.resources,
                **({"exitCode": job.exit_code} if job.exit_code is not None else {}),
            },
        }
        if job.started_at:
            described["startedAt"] = int(job.started_at * 1000)
        if job.stopped_at:
            described["stoppedAt"] = int(job.stopped_at * 1000)
        if job.children:
            summary: dict[str, int] = {}
            for child in job.children:
                summary[self._jobs[child].status] = summary.get(self._jobs[child].status, 0) + 1
            described["arrayProperties"] = {"size": len(job.children), "statusSummary": summary}
        elif job.index is not None:
            described["arrayProperties"] = {"index": job.index}
        return described

    def status(self, job_id: str) -> str:
        with self._lock:
            return self._status(job_id)

    def wait(self, job_id: str, timeout: float) -> str:
        """Block until ``job_id`` is SUCCEEDED or FAILED (or ``timeout``); its status."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._status(job_id) not in TERMINAL and time.monotonic() < deadline:
                self._lock.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            return self._status(job_id)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        stop = getattr(self._launcher, "stop", None)
        if stop is not None:
            stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        # The hold stays: releasing it would let moto's parked job threads try Docker.


HANDLED = ("/v1/submitjob", "/v1/describejobs")


def _hold_moto_batch() -> None:
    """Keep moto's own Batch jobs in SUBMITTED, so moto never tries to run them in Docker.

    moto advances a job's status as it is read; "manual" progression with a
    huge tick count freezes it (this executor reports the real status instead).
    The setting is moto's, per process, and stays for the process's lifetime.
    """
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name=MOTO_JOB_MODEL, transition={"progression": "manual", "times": 10**9}
    )


MOTO_JOB_MODEL = "batch::job"


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _call(backend: WSGIApp, environ: dict[str, Any], body: bytes) -> tuple[str, list[Any], bytes]:
    """Call the wrapped app with ``body``; its (status, headers, body)."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        captured.update(status=status, headers=headers)
        return lambda data: None

    environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    chunks = backend(environ, start_response)
    try:
        answer = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(answer))))
    return str(captured["status"]), headers, answer


# -- containers as processes -------------------------------------------------------------
class ProcessLauncher:
    """Runs a job's container command as ``PYTHON -m chalicelib.painting.container COMMAND``.

    The environment is this process's (so the emulator's endpoint and test
    credentials carry over) plus the job's; ``CELLPROFILER`` names the command.
    """

    def __init__(self, python: str, cellprofiler: str, timeout: float = 3600.0) -> None:
        self.python = python
        self.cellprofiler = cellprofiler
        self._timeout = timeout
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def __call__(self, launch: Launch) -> Exit:
        environment = {
            **os.environ,
            **launch.environment,
            "PYTHONPATH": str(PROJECT_DIR),
            "CELLPROFILER": self.cellprofiler,
        }
        command = [self.python, *RUNNER_ENTRY, *launch.command]
        with self._lock:
            if self._stopped:
                return Exit(143, "the local cloud is stopping")
            process = subprocess.Popen(
                command, env=environment, cwd=str(PROJECT_DIR), text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            self._running.add(process)
        try:
            output, _ = process.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        finally:
            with self._lock:
                self._running.discard(process)
        if process.returncode != 0:
            log.warning("job %s exited %s:\n%s", launch.job_id, process.returncode, output[-3000:])
        return Exit(process.returncode, "\n".join(output.splitlines()[-20:]))

    def stop(self) -> None:
        """Terminate the containers still running (the local cloud is stopping)."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            process.terminate()


def cellprofiler_installed(venv: Path = CELLPROFILER_VENV) -> bool:
    return (venv / "bin" / "cellprofiler").exists() and (venv / "bin" / "python").exists()


def default_launcher(venv: Path = CELLPROFILER_VENV) -> ProcessLauncher:
    """The job runner under the CellProfiler virtualenv's Python, as in the container.

    Without ``make cellprofiler`` the runner still runs (under this Python) and
    every job fails with a manifest saying CellProfiler is not installed.
    """
    override = os.environ.get("LOCAL_CELLPROFILER")
    if cellprofiler_installed(venv):
        return ProcessLauncher(
            str(venv / "bin" / "python"), override or str(venv / "bin" / "cellprofiler")
        )
    return ProcessLauncher(sys.executable, override or "cellprofiler")


def job_definition_reader(batch: Callable[[], Any]) -> Callable[[str], dict[str, Any]]:
    """Container properties of a job definition (name, name:revision or ARN), from the emulator."""

    def read(reference: str) -> dict[str, Any]:
        name = reference.rsplit("/", 1)[-1] if reference.startswith("arn:") else reference
        try:
            found = batch().describe_job_definitions(
                jobDefinitionName=name.split(":", 1)[0], status="ACTIVE"
            )
        except Exception:
            log.debug("could not read job definition %s", reference, exc_info=True)
            return {}
        definitions = sorted(found.get("jobDefinitions", []), key=lambda d: d.get("revision", 0))
        return dict(definitions[-1].get("containerProperties", {})) if definitions else {}

    return read
