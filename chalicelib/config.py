"""Every setting of the app, read once from the stage environment.

Resource names come from the stage's ``environment_variables`` in
``.chalice/config.json``. In a deployed Lambda those are real environment
variables. Everywhere else (tests, the CLI, ``chalice deploy`` evaluating the
decorators in ``app.py``) the same file is read for the stage named by
``STAGE`` (default ``local``), so one file is the single source of truth and
``import app`` is safe with nothing set.

Precedence: process environment > ``.chalice/config.json`` stage > defaults.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
DEFAULT_STAGE = "local"


@dataclass(frozen=True)
class Settings:
    """Resource names and limits; each field is read from the upper-cased env var."""

    stage: str = DEFAULT_STAGE
    # Operations (chalicelib/observability.py, infra/monitoring.py)
    bucket_suffix: str = ""  # appended as "-<suffix>" to every bucket name (names are global)
    alarm_email: str = ""  # infra only: the alarm topic's e-mail subscription
    log_level: str = "INFO"
    tracing: str = "none"  # none | xray | otel (observability.span)
    cell_counter_timeout: int = 120  # seconds; the container function's timeout (infra)
    face_blur_timeout: int = 900  # ditto; synchronous callers wait a little longer, never retry
    # Cell counting
    images_bucket: str = "lab-local-images"
    results_bucket: str = "lab-local-results"
    cell_counter_function: str = "lab-local-cell-counter"
    cell_counter_failures_queue: str = "lab-local-cell-counter-failures"
    # S3-triggered handlers (in AWS: async invokes by S3): events that fail every retry
    upload_failures_queue: str = "lab-local-upload-failures"
    max_image_bytes: int = 200 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    # Prediction API
    data_bucket: str = "lab-local-data"
    # data_bucket is the trusted bucket: the only one /predict/batch reads joblib/pickle from
    api_auth: str = "none"  # none | api_key | iam, bound to the routes at import
    max_predict_body_bytes: int = 1024 * 1024
    max_predict_rows: int = 1000
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_rows: int = 100_000
    # Cell Painting Batch
    painting_queue: str = "lab-local-painting"
    painting_dlq: str = "lab-local-painting-dlq"
    batch_job_queue: str = "lab-local-cellprofiler"
    batch_job_definition: str = "lab-local-cellprofiler"
    painting_job_queues: str = ""  # more job queues a message may name (comma-separated)
    painting_job_definitions: str = ""  # more job definitions a message may name
    painting_job_attempts: int = 2  # AWS Batch attempts per CellProfiler job
    # Queue workers
    jobs_queue: str = "lab-local-jobs"
    jobs_dlq: str = "lab-local-jobs-dlq"
    job_results_queue: str = "lab-local-job-results"
    worker_batch_size: int = 5  # jobs per worker invocation
    worker_max_concurrency: int = 2  # worker invocations at once (Lambda's SQS scaling cap)
    # Face blurring
    videos_bucket: str = "lab-local-videos"
    blurred_videos_bucket: str = "lab-local-blurred-videos"
    face_blur_state_machine: str = "lab-local-face-blur"
    face_blur_function: str = "lab-local-face-blur"
    face_detector: str = "opencv"  # "opencv" (ours, in the container) or "rekognition"
    face_sample_hz: float = 5.0  # face detections per second of video (opencv)
    face_poll_seconds: int = 1  # the workflow's wait between detection status checks
    face_strict: str = "off"  # "on": over-blur when unsure (also per upload: metadata)
    face_segment_seconds: float = 0.0  # > 0: fixed segment length; 0: from the rate below
    face_pixel_rate: float = 3_000_000.0  # pixels/s one core blurs end to end (lab bench blur)
    face_segment_budget_seconds: int = 240  # a segment is planned to take this long
    face_segment_timeout_seconds: int = 600  # a segment task running longer fails the run
    max_video_seconds: int = 600
    # Queues: receives before a message moves to its dead-letter queue
    max_receive_count: int = 3
    # The lab console (the web page at /): how lab members sign in
    console_auth: str = "none"  # none | cognito, bound to the console's routes at import
    cognito_user_pool_arn: str = ""  # `make deploy` sets it from the stack for chalice deploy
    console_signin_parameter: str = "/lab-local/console-signin"  # SSM: hosted UI domain, client

    @property
    def queues_with_dlq(self) -> dict[str, str]:
        """Work queue name -> its dead-letter queue name."""
        return {
            self.painting_queue: self.painting_dlq,
            self.jobs_queue: self.jobs_dlq,
        }

    @property
    def allowed_job_queues(self) -> list[str]:
        """Batch job queues a painting message may name: the default and the listed ones."""
        return [self.batch_job_queue, *_names(self.painting_job_queues)]

    @property
    def allowed_job_definitions(self) -> list[str]:
        return [self.batch_job_definition, *_names(self.painting_job_definitions)]

    @property
    def plain_queues(self) -> list[str]:
        return [
            self.job_results_queue,
            self.cell_counter_failures_queue,
            self.upload_failures_queue,
        ]

    @property
    def buckets(self) -> list[str]:
        return [
            self.images_bucket,
            self.results_bucket,
            self.data_bucket,
            self.videos_bucket,
            self.blurred_videos_bucket,
        ]


BUCKET_FIELDS = tuple(f.name for f in fields(Settings) if f.name.endswith("_bucket"))


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def env_name(field_name: str) -> str:
    return field_name.upper()


def stage_environment(stage: str, path: Path = CHALICE_CONFIG) -> dict[str, str]:
    """The environment variables ``chalice`` would give functions of ``stage``."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    merged = dict(document.get("environment_variables", {}))
    stage_doc = document.get("stages", {}).get(stage, {})
    merged.update(stage_doc.get("environment_variables", {}))
    return merged


def settings_from(environ: Mapping[str, str], file_env: Mapping[str, str]) -> Settings:
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = environ.get(env_name(field.name), file_env.get(env_name(field.name)))
        if raw is None:
            continue
        values[field.name] = _typed(field.type, raw, env_name(field.name))
    suffix = str(values.get("bucket_suffix", "")).strip("-")
    if suffix:
        for name in BUCKET_FIELDS:
            base = str(values.get(name, getattr(Settings, name)))
            values[name] = f"{base}-{suffix}"
    return Settings(**values)  # type: ignore[arg-type]


def _typed(kind: object, raw: str, name: str = "the setting") -> object:
    """``raw`` as the field's type; a ``ValueError`` naming the variable when it is not one.

    Numeric settings are limits, timeouts and rates: finite and never negative.
    """
    if kind not in (int, "int", float, "float"):
        return raw
    try:
        value = int(raw) if kind in (int, "int") else float(raw)
    except ValueError:
        what = "a whole number" if kind in (int, "int") else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process's stage, read once."""
    stage = os.environ.get("STAGE", DEFAULT_STAGE)
    return settings_from(os.environ, stage_environment(stage))


def reload_settings() -> Settings:
    """Forget the cached settings (after the environment changed) and read again."""
    get_settings.cache_clear()
    return get_settings()
