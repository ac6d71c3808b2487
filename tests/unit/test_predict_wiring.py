"""The prediction routes: auth bound per stage at import, and a cold start that stays light."""

from __future__ import annotations

import json
import os

import pytest

from chalicelib.http import route_auth
from tests.conftest import run_python as run_in_project
from tests.predict_data import SEED_BENIGN

ROUTES = [("/predict", "POST"), ("/predict/batch", "POST"), ("/model", "GET")]


def run_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("STAGE", "API_AUTH")}
    return run_in_project(code, {**clean, **env})


@pytest.mark.parametrize(
    ("stage", "expected"),
    [("local", [False, None]), ("dev", [True, None]), ("prod", [False, "IAMAuthorizer"])],
)
def test_auth_is_bound_from_the_stage_config(stage: str, expected: list[object]) -> None:
    code = (
        "import json, app\n"
        f"routes = {ROUTES!r}\n"
        "views = [app.app.routes[path][method] for path, method in routes]\n"
        "print(json.dumps([[bool(v.api_key_required), v.authorizer and type(v.authorizer).__name__]"
        " for v in views]))"
    )
    assert json.loads(run_python(code, STAGE=stage)) == [expected] * len(ROUTES)


def test_unknown_auth_mode_fails_at_import() -> None:
    with pytest.raises(ValueError, match="API_AUTH must be one of none, api_key, iam"):
        route_auth("open")


def test_serving_a_prediction_loads_no_heavy_library() -> None:
    code = (
        "import sys, json, app\n"
        "from chalicelib.predict import handlers as service\n"
        f"answer = service.predict({json.dumps(SEED_BENIGN)!r}.encode())\n"
        "heavy = [m for m in ('numpy', 'sklearn', 'scipy', 'joblib', 'boto3', 'botocore')"
        " if m in sys.modules]\n"
        "print(json.dumps([answer['label'], heavy]))"
    )
    assert json.loads(run_python(code)) == ["benign", []]
