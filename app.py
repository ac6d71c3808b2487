"""lab-pipelines: wiring only. Each handler is one call into ``chalicelib``.

Nothing heavy is imported here (no OpenCV, NumPy or scikit-learn): every zip
Lambda imports this module on a cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Request, Response, S3Event, SQSEvent

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.http import api_errors, current_request, route_auth
from chalicelib.lazy import lazy
from chalicelib.predict import BODY_TYPES

if TYPE_CHECKING:  # the real modules, so mypy checks every call below
    from chalicelib.cells import handlers as intake
    from chalicelib.faces import handlers as workflow
    from chalicelib.painting import handlers as painting
    from chalicelib.predict import handlers as prediction
    from chalicelib.workers import handlers as jobs
else:  # each function imports only its own pipeline's code, on first use (cold starts)
    intake = lazy("chalicelib.cells.handlers")
    workflow = lazy("chalicelib.faces.handlers")
    jobs = lazy("chalicelib.workers.handlers")
    painting = lazy("chalicelib.painting.handlers")
    prediction = lazy("chalicelib.predict.handlers")

app = Chalice(app_name="lab-pipelines")
app.register_middleware(observability.chalice_middleware, "all")  # JSON logs, correlation id
settings = get_settings()
auth = route_auth(settings.api_auth)  # every route: open locally; API key or IAM in dev/prod


def request() -> Request:
    return current_request(app)


def query_param(name: str) -> str | None:
    params = request().query_params
    return params.get(name) if params else None


@app.on_s3_event(bucket=settings.images_bucket, events=["s3:ObjectCreated:*"])
def on_image_uploaded(event: S3Event) -> None:
    intake.on_image_uploaded(event.bucket, event.key)


@app.route("/counts", methods=["GET"], **auth)
@api_errors
def get_count() -> dict[str, Any]:
    return intake.get_count(query_param("key"), query_param("run"), query_param("runs"))


@app.on_s3_event(bucket=settings.videos_bucket, events=["s3:ObjectCreated:*"])
def on_video_uploaded(event: S3Event) -> None:
    workflow.on_video_uploaded(event.bucket, event.key)


# Face-blur workflow steps (statemachines/face-blur.asl.json): state in, state out.
@app.lambda_function(name="start_face_detection")
def start_face_detection(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.run_step("start", event)


@app.lambda_function(name="get_face_detection_status")
def get_face_detection_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.run_step("status", event)


@app.lambda_function(name="get_face_detections")
def get_face_detections(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.run_step("faces", event)


@app.lambda_function(name="record_face_blur_failure")
def record_face_blur_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.run_step("failure", event)


# Queue workers: jobs from a chat bot (or POST /jobs) on the jobs queue.
@app.on_sqs_message(
    queue=settings.jobs_queue,
    batch_size=settings.worker_batch_size,
    maximum_concurrency=settings.worker_max_concurrency,
)
def on_job_messages(event: SQSEvent) -> None:
    jobs.on_job_messages(event)


@app.route("/jobs", methods=["POST"], **auth)
@api_errors
def submit_job() -> Response:
    return Response(body=jobs.submit_job(request().json_body), status_code=202)


@app.route("/jobs/{job_id}", methods=["GET"], **auth)
@api_errors
def get_job(job_id: str) -> dict[str, Any]:
    return jobs.get_job(job_id)


@app.on_sqs_message(queue=settings.painting_queue, batch_size=10)
def on_painting_message(event: SQSEvent) -> None:
    painting.on_painting_messages(event)


@app.route("/painting/jobs/{job_id}", methods=["GET"], **auth)
@api_errors
def get_painting_job(job_id: str) -> dict[str, Any]:
    return painting.get_job(job_id)


@app.route("/predict", methods=["POST"], content_types=BODY_TYPES, **auth)
@api_errors(extra={"prediction": ""})
def predict() -> dict[str, Any]:
    return prediction.predict(request().raw_body)


@app.route("/predict/batch", methods=["POST"], content_types=BODY_TYPES, **auth)
@api_errors
def predict_batch() -> dict[str, Any]:
    return prediction.predict_batch(request().raw_body)


@app.route("/model", methods=["GET"], **auth)
@api_errors
def get_model() -> dict[str, Any]:
    return prediction.model_metadata()
