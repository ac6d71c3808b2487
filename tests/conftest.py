from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def shared_data() -> Path:
    """The team's shared microscope data; skipped cleanly where it is not checked out."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


def run_python(code: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter in the project folder; its stdout, stripped.

    Without ``env``: this process's environment minus the stage settings.
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if k not in ("STAGE", "API_AUTH")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(env),
    )
    return out.stdout.strip()
