"""app.py stays light, and the container definitions agree with their Dockerfiles."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.functions import CONTAINER_FUNCTIONS
from tests.conftest import ROOT, run_python


def test_importing_app_loads_no_heavy_library() -> None:
    code = (
        "import sys, app; heavy = [m for m in ('cv2', 'numpy', 'sklearn', 'scipy', 'joblib') "
        "if m in sys.modules]; print(heavy)"
    )
    assert run_python(code, {"PATH": ""}) == "[]"


def test_app_handlers_are_discoverable() -> None:
    import app

    names = {source.name for source in app.app.event_sources}
    assert "on_image_uploaded" in names
    assert all(name in app.app.handler_map for name in names)


@pytest.mark.parametrize("function", CONTAINER_FUNCTIONS, ids=lambda f: f.directory)
def test_dockerfile_runs_the_registered_handler(function) -> None:
    dockerfile = (ROOT / "containers" / function.directory / "Dockerfile").read_text()
    cmd = re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    assert cmd is not None and json.loads(cmd.group(1)) == [function.handler]
    assert "public.ecr.aws/lambda/python" in dockerfile
    assert callable(function.load())


def test_each_function_imports_only_its_own_pipeline() -> None:
    code = (
        "import sys, app; before = {m for m in sys.modules if m.startswith('chalicelib.')}; "
        "app.prediction.model_metadata(); "
        "after = {m for m in sys.modules if m.startswith('chalicelib.')}; "
        "import json; print(json.dumps([sorted(before), sorted(after - before)]))"
    )
    before, added = json.loads(run_python(code, {"PATH": ""}))
    assert not any(
        m.startswith(
            ("chalicelib.cells", "chalicelib.workers", "chalicelib.faces", "chalicelib.painting")
        )
        for m in before + added
    )
    assert "chalicelib.predict.handlers" in added
