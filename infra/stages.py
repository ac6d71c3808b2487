"""What a deployable stage is made of, read from the one source of truth.

Resource names, limits and the Chalice functions' memory and timeouts come from
``.chalice/config.json`` (the same file the app and the local emulator read);
the Chalice function names come from the app object itself. Only what Chalice
has no place for lives here: the sizes of the container functions and of AWS
Batch, and whether a stage keeps its data when it is destroyed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from chalicelib.config import (
    CHALICE_CONFIG,
    PROJECT_DIR,
    Settings,
    settings_from,
    stage_environment,
)

DEPLOYABLE_STAGES = ("dev", "prod")  # "local" is the embedded emulator
CHALICE_DEFAULT_TIMEOUT = 60  # seconds, Chalice's default when the config names none
CHALICE_DEFAULT_MEMORY = 128


@dataclass(frozen=True)
class FunctionSize:
    """A container function's size; its timeout is a stage setting the callers read too."""

    memory_mb: int
    ephemeral_mb: int = 512
    # Reserved concurrency: the most copies that can run (and bill) at once; a runaway
    # upload loop or a flood of jobs queues instead of scaling to the account limit.
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class InfraStage:
    """The knobs of one stage that Chalice's config cannot hold."""

    name: str
    retain_data: bool  # buckets survive `make destroy` (their data is the lab's)
    batch_max_vcpus: int  # the CellProfiler compute environment's ceiling (min is 0)
    log_retention_days: int
    # A 100-megapixel image peaks at ~1.3 GB decoded; 3 GB also buys CPU.
    cell_counter: FunctionSize = field(default_factory=lambda: FunctionSize(3008))
    # JoinSegments holds the source, its segments and the output of a long video on disk.
    face_blur: FunctionSize = field(default_factory=lambda: FunctionSize(3008, 10240))
    batch_job_timeout_hours: int = 12  # a hung CellProfiler must not run (and bill) forever
    runnable_timeout_minutes: int = 30  # a job no instance can ever fit is cancelled
    # Alarms (infra/monitoring.py)
    queue_age_alarm_minutes: int = 30  # oldest message on a work queue
    error_rate_alarm_percent: float = 5.0  # a function's errors / invocations over 5 minutes


INFRA_STAGES = {
    "dev": InfraStage(
        "dev",
        retain_data=False,
        batch_max_vcpus=16,
        log_retention_days=14,
        cell_counter=FunctionSize(3008, reserved_concurrency=10),
        face_blur=FunctionSize(3008, 4096, reserved_concurrency=5),
    ),
    "prod": InfraStage(
        "prod",
        retain_data=True,
        batch_max_vcpus=256,
        log_retention_days=90,
        cell_counter=FunctionSize(3008, reserved_concurrency=50),
        face_blur=FunctionSize(3008, 4096, reserved_concurrency=10),
    ),
}
# The zip functions' runtime: Chalice picks it from the deploying Python (3.11).
# AWS's runtime deprecation schedule: python3.11 is deprecated on 2027-06-30
# (creating functions blocked 2027-07-31, updating 2027-08-31).
LAMBDA_RUNTIME = "python3.11"
LAMBDA_RUNTIME_DEPRECATION = "2027-06-30"


def chalice_document() -> dict[str, Any]:
    return json.loads(CHALICE_CONFIG.read_text())  # type: ignore[no-any-return]


def chalice_handlers() -> list[str]:
    """Every Lambda function ``chalice deploy`` creates for app.py, by handler name."""
    import app as chalice_app

    application = chalice_app.app
    names = ["api_handler"] if application.routes else []
    names += [f.name for f in application.pure_lambda_functions]
    names += [s.name for s in application.event_sources]
    return names


@dataclass(frozen=True)
class Stage:
    """One deployable stage: settings, Chalice's view of it and the infra knobs."""

    name: str

    @cached_property
    def settings(self) -> Settings:
        return settings_from({}, stage_environment(self.name))

    @cached_property
    def infra(self) -> InfraStage:
        return INFRA_STAGES[self.name]

    @cached_property
    def app_name(self) -> str:
        return str(chalice_document()["app_name"])

    @cached_property
    def chalice(self) -> dict[str, Any]:
        return dict(chalice_document()["stages"][self.name])

    @cached_property
    def handlers(self) -> list[str]:
        return chalice_handlers()

    @cached_property
    def s3_handlers(self) -> list[str]:
        """The handlers S3 invokes (``@app.on_s3_event``): asynchronous, retried by Lambda."""
        from chalice.app import S3EventConfig

        import app as chalice_app

        return [s.name for s in chalice_app.app.event_sources if isinstance(s, S3EventConfig)]

    @cached_property
    def routes(self) -> list[dict[str, str]]:
        return stage_routes(self.name)

    @property
    def prefix(self) -> str:
        return f"{self.app_name}-{self.name}"

    @property
    def stack_name(self) -> str:
        return f"{self.prefix}-infra"

    @property
    def api_stack_name(self) -> str:
        return f"{self.prefix}-api-access"

    def function_name(self, handler: str) -> str:
        """The deployed name Chalice gives a handler (the REST API's is the bare prefix)."""
        return self.prefix if handler == "api_handler" else f"{self.prefix}-{handler}"

    def _function_setting(self, handler: str, key: str, default: int) -> int:
        document = chalice_document()
        for scope in (
            self.chalice.get("lambda_functions", {}).get(handler, {}),
            self.chalice,
            document.get("lambda_functions", {}).get(handler, {}),
            document,
        ):
            if key in scope:
                return int(scope[key])
        return default

    def timeout(self, handler: str) -> int:
        return self._function_setting(handler, "lambda_timeout", CHALICE_DEFAULT_TIMEOUT)

    def memory(self, handler: str) -> int:
        return self._function_setting(handler, "lambda_memory_size", CHALICE_DEFAULT_MEMORY)

    def queue_consumers(self) -> dict[str, str]:
        """SQS queue name (this stage's) -> the handler consuming it.

        The decorators bound the queue names of the stage app.py was imported
        with; map each back to its settings field, then to this stage's name.
        """
        from chalice.app import SQSEventConfig

        import app as chalice_app

        bound = chalice_app.settings
        field_of = {
            getattr(bound, f.name): f.name
            for f in fields(bound)
            if f.name.endswith(("_queue", "_dlq"))
        }
        return {
            getattr(self.settings, field_of[source.queue]): source.name
            for source in chalice_app.app.event_sources
            if isinstance(source, SQSEventConfig)
        }


ROUTES_SCRIPT = """
import json, app
routes = []
for path, methods in app.app.routes.items():
    for method, entry in methods.items():
        authorizer = type(entry.authorizer).__name__ if entry.authorizer else ""
        kind = ("api_key" if entry.api_key_required else "cognito" if "Cognito" in authorizer
                else "iam" if authorizer else "none")
        routes.append({"method": method, "path": path, "auth": kind})
print(json.dumps(routes))
"""


def stage_routes(name: str) -> list[dict[str, str]]:
    """Every route of app.py as ``STAGE=name`` binds it (method, path, auth).

    The decorators read the stage's ``API_AUTH`` when app.py is imported, so the
    answer for another stage than this process's needs a fresh interpreter.
    """
    done = subprocess.run(
        [sys.executable, "-c", ROUTES_SCRIPT],
        cwd=PROJECT_DIR,
        env={**os.environ, "STAGE": name},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def stage(name: str) -> Stage:
    if name not in DEPLOYABLE_STAGES:
        raise SystemExit(f"stage must be one of {', '.join(DEPLOYABLE_STAGES)}; got {name!r}")
    return Stage(name)
