"""Every command in the README, run as a reader pastes it.

The ``$ command`` lines of README.md run in order in bash against a fresh local
cloud (``lab local`` on free ports; the README's ``:4566``/``:8000`` addresses
are rewritten to them), each in a folder that sees the repository's ``samples/``
and ``.venv/``; the lines under a command are its expected output, ``...``
standing for anything. ``make demo`` runs too. ``make test`` is this suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
README_EMULATOR = "http://127.0.0.1:4566"
README_HTTP = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Command:
    line: int
    command: str
    expected: str


def blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """The fenced code blocks of a Markdown text: (info string, first line number, lines)."""
    found: list[tuple[str, int, list[str]]] = []
    current: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), number + 1, [])
            else:
                found.append(current)
                current = None
        elif current is not None:
            current[2].append(line)
    return found


def commands(text: str) -> list[Command]:
    """Every ``$ command`` in the shell blocks of ``text``, with the output shown under it."""
    found = []
    for info, first_line, lines in blocks(text):
        if info:
            continue  # ```text and the like: pictures, not commands
        index = 0
        while index < len(lines):
            if not lines[index].startswith("$ "):
                index += 1
                continue
            start, command = index, lines[index][2:]
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            found.append(Command(first_line + start, command, "\n".join(output).strip()))
    return found


def plain_commands(text: str) -> list[str]:
    """The commands of blocks without ``$`` lines (the set-up block, ``make local``)."""
    found = []
    for info, _, lines in blocks(text):
        if info or any(line.startswith("$ ") for line in lines):
            continue
        found += [line.split("#")[0].strip() for line in lines]
    return [command for command in found if command]


def matches(expected: str, actual: str) -> bool:
    """``expected`` with ``...`` as a wildcard (anything, newlines included) equals ``actual``."""
    if not expected:
        return True
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    pattern = re.sub(r"(\\ )+", r"\\s+", pattern)  # spacing may differ
    return re.fullmatch(pattern, actual.strip(), re.DOTALL) is not None


def test_matching_rules() -> None:
    assert matches("coins.png: 24 cells in ... ms", "coins.png: 24 cells in 113 ms")
    assert not matches("coins.png: 24 cells in ... ms", "coins.png: 25 cells in 113 ms")
    assert matches('{..."count":24,...}', '{"status":"ok","count":24,"x":1}')
    assert not matches('{..."count":24,...}', '{"status":"ok","count":240,"x":1}')
    assert plain_commands(README.read_text())[:2] == ["make demo", "make test"]


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[tuple[str, str]]:
    """``lab local`` as the README starts it (``make local``), on free ports."""
    env = {k: v for k, v in os.environ.items() if k not in ("STAGE", "AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools", "local", "--port", "0", "--http-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    endpoint = http = ""
    for line in process.stdout:
        if line.startswith("emulator"):
            endpoint = line.split()[1]
        if line.startswith("HTTP API"):
            http = line.split()[2]
        if line.startswith("ready"):
            break
    # Keep reading what it prints, so a full pipe never blocks it.
    drain = threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True)
    drain.start()
    try:
        assert endpoint and http, "lab local did not start"
        yield endpoint, http
    finally:
        process.terminate()
        process.wait(timeout=30)
        drain.join(timeout=5)
        process.stdout.close()


def cellprofiler_here() -> bool:
    from devtools.local.batch import cellprofiler_installed

    return cellprofiler_installed()


def test_every_readme_command(local_cloud: tuple[str, str], tmp_path: Path) -> None:
    endpoint, http = local_cloud
    assert plain_commands(README.read_text()) == ["make demo", "make test", "make local"]
    for name in ("samples", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {
        **{k: v for k, v in os.environ.items() if k != "STAGE"},
        "AWS_ENDPOINT_URL": endpoint,
        "LAB_API_URL": http,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    found = commands(README.read_text())
    assert len(found) >= 10
    for command in found:
        if "lab painting" in command.command and not cellprofiler_here():
            if os.environ.get("CI"):
                pytest.fail("CellProfiler is not installed: make cellprofiler")
            continue  # this machine cannot run CellProfiler (its tests say so)
        line = command.command.replace(README_EMULATOR, endpoint).replace(README_HTTP, http)
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"README line {command.line}: {line}\n{done.stderr}"
        assert matches(command.expected, done.stdout), (
            f"README line {command.line}: {line}\nexpected:\n{command.expected}\n"
            f"got:\n{done.stdout}"
        )
    assert (tmp_path / "coins.annotated.png").stat().st_size > 1000
    assert (tmp_path / "face.blurred.mp4").stat().st_size > 1000
    assert (tmp_path / "A01.annotated.png").stat().st_size > 1000


def test_make_demo() -> None:
    """The README's first command, on this checkout (the install steps are no-ops by now)."""
    env = {k: v for k, v in os.environ.items() if k not in ("STAGE", "AWS_ENDPOINT_URL")}
    done = subprocess.run(
        ["make", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"coins\.png\s+ok\s+24\s+24", done.stdout), done.stdout
    assert "Face blurring" in done.stdout and "chat" in done.stdout.lower()
