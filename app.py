"""lab-pipelines: wiring only. Each handler is one call into ``chalicelib``.

Nothing heavy is imported here (no OpenCV, NumPy or scikit-learn): every zip
Lambda imports this module on a cold start.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from chalice.app import S3Event

from chalicelib.cells import intake
from chalicelib.config import get_settings
from chalicelib.http import api_errors, route_auth
from chalicelib.predict import service as prediction

app = Chalice(app_name="lab-pipelines")
settings = get_settings()
predict_auth = route_auth(settings.api_auth)  # open locally; API key or IAM in dev/prod


@app.on_s3_event(bucket=settings.images_bucket, events=["s3:ObjectCreated:*"])
def on_image_uploaded(event: S3Event) -> None:
    intake.on_image_uploaded(event.bucket, event.key)


@app.route("/counts", methods=["GET"])
@api_errors
def get_count() -> dict[str, Any]:
    return intake.get_count((app.current_request.query_params or {}).get("key"))


@app.route("/predict", methods=["POST"], content_types=prediction.BODY_TYPES, **predict_auth)
@api_errors(extra={"prediction": ""})
def predict() -> dict[str, Any]:
    return prediction.predict(app.current_request.raw_body)


@app.route("/predict/batch", methods=["POST"], content_types=prediction.BODY_TYPES, **predict_auth)
@api_errors
def predict_batch() -> dict[str, Any]:
    return prediction.predict_batch(app.current_request.raw_body)


@app.route("/model", methods=["GET"], **predict_auth)
@api_errors
def get_model() -> dict[str, Any]:
    return prediction.model_metadata()
