"""lab-pipelines: wiring only. Each handler is one call into ``chalicelib``.

Nothing heavy is imported here (no OpenCV, NumPy or scikit-learn): every zip
Lambda imports this module on a cold start.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Request, Response, S3Event, SQSEvent

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.http import (
    api_errors,
    console_auth,
    current_request,
    parse_json_body,
    route_auth,
    tune_local_server,
)
from chalicelib.lazy import lazy
from chalicelib.predict import BODY_TYPES

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

if TYPE_CHECKING:  # the real modules, so mypy checks every call below
    from chalicelib.cells import handlers as intake
    from chalicelib.console import handlers as console
    from chalicelib.console import pages
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
    console = lazy("chalicelib.console.handlers")
    pages = lazy("chalicelib.console.pages")

if "chalice.local" in sys.modules:  # served by `chalice local` (its CLI imported it first)
    tune_local_server(sys.modules["chalice.local"])

app = Chalice(app_name="lab-pipelines")
app.register_middleware(observability.chalice_middleware, "all")  # JSON logs, correlation id
settings = get_settings()
auth = route_auth(settings.api_auth)  # machine routes: open locally; API key or IAM in dev/prod
page_auth = console_auth(settings)  # the console's routes: open locally; Cognito in dev/prod
app.api.binary_types.append(XLSX_TYPE)  # the plate summary's Excel export


def request() -> Request:
    return current_request(app)


def query() -> dict[str, str]:
    return dict(request().query_params or {})


def json_body() -> Any:
    """The request's JSON body, parsed with a depth bound (client input: a 400, never a 500)."""
    return parse_json_body(request().raw_body)


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
    return Response(body=jobs.submit_job(request().raw_body), status_code=202)


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


@app.route("/painting/jobs/{job_id}/retry", methods=["POST"], **auth)
@api_errors
def retry_painting_job(job_id: str) -> Response:
    return Response(body=painting.retry_job(job_id), status_code=202)


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


# The lab console: the page itself is open (it signs lab members in); the routes it
# calls carry page_auth. Machine clients keep the routes above.
@app.route("/", methods=["GET"])
@api_errors
def console_page() -> Response:
    return pages.static_file("index.html", request().headers)


@app.route("/console/{name}", methods=["GET"])
@api_errors
def console_file(name: str) -> Response:
    return pages.asset(name, request().headers)


@app.route("/console/api/config", methods=["GET"], **page_auth)
@api_errors
def console_config() -> dict[str, Any]:
    return console.config()


@app.route("/console/api/images", methods=["GET"], **page_auth)
@api_errors
def console_images() -> dict[str, Any]:
    return console.list_images(query())


@app.route("/console/api/image", methods=["GET"], **page_auth)
@api_errors
def console_image() -> dict[str, Any]:
    return console.image(query())


@app.route("/console/api/uploads", methods=["POST"], **page_auth)
@api_errors
def console_uploads() -> dict[str, Any]:
    return console.upload_forms(json_body())


@app.route("/console/api/recount", methods=["POST"], **page_auth)
@api_errors
def console_recount() -> Response:
    return Response(body=console.recount(json_body()), status_code=202)


@app.route("/console/api/summary", methods=["GET"], **page_auth)
@api_errors
def console_summary() -> dict[str, Any]:
    return console.summary(query())


@app.route("/console/api/summary/export", methods=["GET"], **page_auth)
@api_errors
def console_summary_export() -> Response:
    return console.summary_file(query())


@app.route("/console/api/painting", methods=["GET"], **page_auth)
@api_errors
def console_painting_jobs() -> dict[str, Any]:
    return console.painting_jobs(query())


@app.route("/console/api/painting/{job_id}", methods=["GET"], **page_auth)
@api_errors
def console_painting_job(job_id: str) -> dict[str, Any]:
    return console.painting_job(job_id)


@app.route("/console/api/painting/{job_id}/retry", methods=["POST"], **page_auth)
@api_errors
def console_painting_retry(job_id: str) -> dict[str, Any]:
    return console.retry_painting_job(job_id)


@app.route("/console/api/videos", methods=["GET"], **page_auth)
@api_errors
def console_videos() -> dict[str, Any]:
    return console.videos(query())


@app.route("/console/api/video", methods=["GET"], **page_auth)
@api_errors
def console_video() -> dict[str, Any]:
    return console.video(query())


@app.route("/console/api/jobs", methods=["GET"], **page_auth)
@api_errors
def console_jobs() -> dict[str, Any]:
    return console.jobs(query())


@app.route("/console/api/jobs", methods=["POST"], **page_auth)
@api_errors
def console_submit_job() -> Response:
    return Response(body=jobs.submit_job(request().raw_body), status_code=202)


@app.route("/console/api/model", methods=["GET"], **page_auth)
@api_errors
def console_model() -> dict[str, Any]:
    return prediction.model_metadata()


@app.route("/console/api/predict", methods=["POST"], content_types=BODY_TYPES, **page_auth)
@api_errors
def console_predict() -> dict[str, Any]:
    return prediction.predict(request().raw_body)
