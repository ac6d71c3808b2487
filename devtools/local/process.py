"""``lab local`` in a child process, started as a user starts it (tests and benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from chalicelib.config import PROJECT_DIR


def start_local(
    state_dir: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str], list[str]]:
    """Start ``lab local`` on free ports keeping its buckets in ``state_dir``; wait for "ready".

    Returns the process, the addresses it printed (``console``, ``emulator``, ``http``) and
    the lines so far. The caller stops it (and keeps reading its output while it runs).
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools",
            "local",
            "--port",
            "0",
            "--http-port",
            "0",
            "--state-dir",
            state_dir,
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env) if env is not None else None,
    )
    addresses: dict[str, str] = {}
    lines: list[str] = []
    assert process.stdout is not None  # PIPE above
    for line in process.stdout:
        lines.append(line)
        words = line.split()
        if line.startswith(("console", "emulator")) and len(words) > 1:
            addresses[words[0]] = words[1].rstrip("/")
        elif line.startswith("HTTP API") and len(words) > 2:
            addresses["http"] = words[2]
        elif line.startswith("ready"):
            break
    return process, addresses, lines
