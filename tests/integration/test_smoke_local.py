"""``make smoke``'s run, against the local cloud: every pipeline once, one correlation id."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from chalicelib import aws
from devtools.local.batch import ProcessLauncher
from devtools.local.cloud import LocalCloud
from devtools.smoke import Api, Smoke, Step, report
from tests.painting import FAKE_CELLPROFILER, upload_dataset


# The fake CellProfiler runs the tests' small pipeline, not ExampleVitra's real one.
def fake_plate(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    return upload_dataset(s3, bucket, prefix)


pytestmark = pytest.mark.integration


def test_the_smoke_passes_on_the_local_cloud() -> None:
    launcher = ProcessLauncher(sys.executable, str(FAKE_CELLPROFILER))
    with LocalCloud(port=0, http_port=0, retry_delay=0, batch_launcher=launcher) as cloud:
        assert cloud.settings is not None and cloud.http_url is not None
        smoke = Smoke(
            cloud.settings,
            aws.client,
            Api(cloud.http_url),
            timeout=90,
            painting_timeout=90,
            poll=0.2,
            painting_dataset=fake_plate,
        )
        steps = smoke.run()
    out = io.StringIO()
    code = report(steps, smoke.correlation_id, "http://dashboard", out)
    assert code == 0, out.getvalue()
    assert [s.name for s in steps] == [
        "count an uploaded image",
        "blur faces in an uploaded video",
        "Cell Painting message",
        "chat job",
        "POST /predict",
    ]
    assert "all passed" in out.getvalue() and "dashboard: http://dashboard" in out.getvalue()


def test_a_failing_or_silent_step_makes_the_smoke_fail() -> None:
    """Without a second cloud: the verdict of each kind of step outcome, and the exit code."""
    smoke = Smoke.__new__(Smoke)  # only _finish is used: no cloud, no clients
    failed, silent, broken, passed = Step("a"), Step("b"), Step("c"), Step("d")
    smoke._finish(failed, lambda: (False, {"status": "error"}), 0.0)
    smoke._finish(silent, lambda: (False, None), 0.0)
    smoke._finish(broken, _raises, 0.0)
    smoke._finish(passed, lambda: (True, {"status": "ok"}), 0.0)
    assert (failed.problem, silent.problem) == ("failed", "timed out")
    assert broken.problem == "RuntimeError: no such bucket" and passed.problem == ""
    out = io.StringIO()
    assert report([failed, silent, broken, passed], "cid", "d", out) == 1
    assert "FAILED: a, b, c" in out.getvalue()
    assert report([passed], "cid", "d", io.StringIO()) == 0


def _raises() -> tuple[bool, Any]:
    raise RuntimeError("no such bucket")
