"""Headless Chromium driving the console page, served by the app on the embedded emulator.

Chromium and its driver come from Debian (``make chromium``, run by ``make test``).
Where they cannot be installed the tests skip with that reason; under ``CI=true``
they fail instead. Screenshots go to ``test-artifacts/browser/`` (not committed).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

SCREENSHOTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def downloads() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="console-downloads-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def driver(downloads: Path) -> Iterator[Any]:
    from devtools.browser import chromium, unavailable

    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    browser = chromium(profile, downloads)
    browser.set_script_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Package scope: one local cloud per process (moto's state is global), so this one
# must stop before the integration tests start theirs.
@pytest.fixture(scope="package")
def cloud() -> Iterator[Any]:
    from devtools.local.batch import ProcessLauncher
    from devtools.local.cloud import LocalCloud
    from tests.painting import FAKE_CELLPROFILER

    launcher = ProcessLauncher(sys.executable, str(FAKE_CELLPROFILER))
    with LocalCloud(port=0, http_port=0, retry_delay=0, batch_launcher=launcher) as running:
        yield running


def wait_for(probe: Callable[[], Any], timeout: float = 30.0, what: str = "the page") -> Any:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the DOM changes under us while polling
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what}: nothing after {timeout} s (last error: {last})")


def screenshot(browser: Any, name: str) -> Path:
    """Save the window as ``test-artifacts/browser/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """On a failure, keep what the browser showed (and its console) beside the screenshots."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    browser = getattr(item, "funcargs", {}).get("driver")
    if report.when == "call" and report.failed and browser is not None:
        path = screenshot(browser, f"FAILED-{item.name}")
        logs = "\n".join(str(entry) for entry in browser.get_log("browser"))
        path.with_suffix(".log").write_text(f"{browser.current_url}\n{logs}\n")
