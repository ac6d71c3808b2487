"""`python -m chalicelib local` starts, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_local_serves_and_stops_on_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib", "local", "--port", "0", "--http-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        output = "".join(lines)
        http = re.search(r"HTTP API\s+(http://\S+)", output)
        assert http, output
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{http.group(1)}/counts?key=nothing.png", timeout=5)
        assert missing.value.code == 404
        missing.value.close()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0, rest
        assert "stopping" in rest and "Traceback" not in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
