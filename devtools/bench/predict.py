"""``lab bench predict``: the Prediction API's figures next to its targets.

Everything runs on loopback and is bounded in count and time: the package is
built with ``chalice package`` into a temporary directory, the servers are
child processes stopped by their own handles.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.config import PROJECT_DIR, stage_environment
from chalicelib.predict import handlers as service

SEED_ROW = {
    "meanConcavePoints": 0.07951,
    "worstRadius": 24.86,
    "worstTexture": 26.58,
    "worstArea": 1866.0,
    "worstConcavePoints": 0.1789,
}
# Ranges of the five features in scikit-learn's breast-cancer data, for synthetic rows.
RANGES = {
    "meanConcavePoints": (0.0, 0.2012),
    "worstRadius": (7.93, 36.04),
    "worstTexture": (12.02, 49.54),
    "worstArea": (185.2, 4254.0),
    "worstConcavePoints": (0.0, 0.291),
}
COLD_START = """
import json, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
from chalicelib.predict import handlers as service
service.served_model()
loaded = time.perf_counter()
heavy = [m for m in ("numpy", "sklearn", "scipy", "joblib", "boto3") if m in sys.modules]
print(json.dumps({"import": imported - started, "load": loaded - imported, "heavy": heavy}))
"""


@dataclass(frozen=True)
class Figure:
    name: str
    measured: str
    target: str = ""


def run_bench(requests: int = 2000, seconds: float = 5.0, package: bool = True) -> int:
    print(
        f"Prediction API benchmark: Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as scratch:
        figures = _run_all(Path(scratch), requests, seconds, package)
    width = max(len(f.name) for f in figures)
    for figure in figures:
        target = f"   [target {figure.target}]" if figure.target else ""
        print(f"{figure.name.ljust(width)}  {figure.measured}{target}")
    return 0


def _run_all(scratch: Path, requests: int, seconds: float, package: bool) -> list[Figure]:
    figures: list[Figure] = []
    unpacked = None
    if package:
        zip_figure, unpacked = _package(scratch)
        figures.append(zip_figure)
    figures += _cold_start(unpacked)
    figures += _in_handler()
    figures += _http(requests, seconds)
    return figures


# -- deployment package ----------------------------------------------------------------


def _package(scratch: Path) -> tuple[Figure, Path]:
    out = scratch / "package"
    env = {**os.environ, "STAGE": "dev", "AWS_DEFAULT_REGION": "us-east-1"}
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "package", "--pkg-format", "terraform", "--stage", "dev", str(out)]
    subprocess.run(command, cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
    archive = out / "deployment.zip"
    unpacked = scratch / "unzipped"
    with zipfile.ZipFile(archive) as package:
        unzipped = sum(info.file_size for info in package.infolist())
        package.extractall(unpacked)
    for cache in unpacked.rglob("__pycache__"):  # Lambda gets no bytecode from us
        for pyc in cache.iterdir():
            pyc.unlink()
    figure = Figure(
        "deployment zip (chalice package --stage dev)",
        f"{archive.stat().st_size / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped",
        "<= 2 MB",
    )
    return figure, unpacked


# -- cold start ------------------------------------------------------------------------


def _cold_start(unpacked: Path | None, runs: int = 15) -> list[Figure]:
    figures = [
        _cold_start_in(
            [sys.executable, "-c", COLD_START],
            PROJECT_DIR,
            dict(os.environ),
            runs,
            "cold start: fresh process, import app + load model (project venv)",
        )
    ]
    if unpacked is not None:
        # As in Lambda: only the zip's code (-S: no site-packages), compiled from source
        # (-B, no __pycache__), with the stage's environment variables.
        env = {"PATH": os.environ.get("PATH", ""), **stage_environment("dev")}
        figures.append(
            _cold_start_in(
                [sys.executable, "-S", "-B", "-c", COLD_START],
                unpacked,
                env,
                runs,
                "  same, from the unzipped package without .pyc (as Lambda)",
            )
        )
    return figures


def _cold_start_in(
    command: list[str], cwd: Path, env: dict[str, str], runs: int, name: str
) -> Figure:
    totals, imports, loads, walls = [], [], [], []
    heavy: set[str] = set()
    # one discarded run first: the file cache, not the code, makes the first one slow
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
    for _ in range(runs):
        began = time.perf_counter()
        out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - began)
        result = json.loads(out.stdout)
        imports.append(result["import"])
        loads.append(result["load"])
        totals.append(result["import"] + result["load"])
        heavy.update(result["heavy"])
    measured = (
        f"median {_ms(statistics.median(totals))} (import app {_ms(statistics.median(imports))}"
        f" + model {_ms(statistics.median(loads))}; min {_ms(min(totals))}, n={runs}; "
        f"whole process incl. interpreter {_ms(statistics.median(walls))}; "
        f"heavy modules loaded: {sorted(heavy) or 'none'})"
    )
    return Figure(name, measured, "<= 60 ms")


# -- in the handler ----------------------------------------------------------------------


def _in_handler() -> list[Figure]:
    predict = service.predict
    one = json.dumps(SEED_ROW).encode()
    thousand = json.dumps(synthetic_rows(1000)).encode()
    assert predict(one)["status"] == "200" and predict(thousand)["count"] == 1000
    singles = _timings(lambda: predict(one), count=20_000, warmup=2_000)
    batches = _timings(lambda: predict(thousand), count=40, warmup=5)
    routed = _through_chalice(one)
    return [
        Figure(
            "one row in the handler (JSON body -> response dict)",
            f"p50 {_us(_pct(singles, 50))}, p99 {_us(_pct(singles, 99))} (n={len(singles)})",
            "<= 20 µs",
        ),
        Figure(
            "  same, through Chalice's app(event, context) routing",
            f"p50 {_us(_pct(routed, 50))}, p99 {_us(_pct(routed, 99))} (n={len(routed)})",
        ),
        Figure(
            "1,000 rows in one request, in the handler",
            f"median {_ms(statistics.median(batches))}, p99 {_ms(_pct(batches, 99))} "
            f"(n={len(batches)})",
            "<= 10 ms",
        ),
    ]


def _through_chalice(body: bytes) -> list[float]:
    from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

    from devtools.local.cloud import load_app

    app = load_app()
    # the event API Gateway would send, built the way `chalice local` builds it
    event = LambdaEventConverter(RouteMatcher(list(app.routes))).create_lambda_event(
        method="POST", path="/predict", headers={"content-type": "application/json"}, body=body
    )
    context = LambdaContext("bench", 256)
    assert json.loads(app(event, context)["body"])["status"] == "200"
    return _timings(lambda: app(event, context), count=5_000, warmup=500)


def synthetic_rows(count: int, seed: int = 0) -> list[dict[str, float]]:
    """``count`` observations spread over the data set's ranges (no scikit-learn needed)."""
    generator = random.Random(seed)
    return [
        {name: round(generator.uniform(low, high), 5) for name, (low, high) in RANGES.items()}
        for _ in range(count)
    ]


# -- HTTP ------------------------------------------------------------------------------


def _http(requests: int, seconds: float) -> list[Figure]:
    figures = []
    with _local_cloud() as (base, endpoint):
        stats = _keep_alive(base, requests, seconds)
        figures.append(
            Figure(
                "HTTP POST /predict, keep-alive, `lab local`",
                stats,
                ">= 1,000 req/s",
            )
        )
        figures.append(_batch_route(base, endpoint))
    with _stock_chalice_local() as base:
        stats = _keep_alive(base, min(requests, 60), min(seconds, 3.0))
        figures.append(
            Figure("  for comparison, stock `chalice local` (Nagle + delayed ACK stall)", stats)
        )
    return figures


def _keep_alive(base: str, requests: int, seconds: float) -> str:
    host, port = re.match(r"http://([^:/]+):(\d+)", base).groups()  # type: ignore[union-attr]
    body = json.dumps(SEED_ROW).encode()
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    sockets: set[int] = set()
    latencies: list[float] = []
    began = time.perf_counter()
    try:
        while len(latencies) < requests and time.perf_counter() - began < seconds:
            sent = time.perf_counter()
            connection.request("POST", "/predict", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - sent)
            sockets.add(id(connection.sock))
            if response.status != 200:
                raise RuntimeError(f"POST /predict answered {response.status}")
    finally:
        connection.close()
    elapsed = time.perf_counter() - began
    return (
        f"{len(latencies) / elapsed:,.0f} req/s, p50 {_ms(_pct(latencies, 50))}, "
        f"p99 {_ms(_pct(latencies, 99))} ({len(latencies)} requests in {elapsed:.1f} s, "
        f"{len(sockets)} connection{'s' if len(sockets) != 1 else ''})"
    )


def _batch_route(base: str, endpoint: str) -> Figure:
    s3 = aws.emulator_client("s3", endpoint)
    bucket = stage_environment("local").get("DATA_BUCKET", "lab-local-data")
    rows = synthetic_rows(1000, seed=1)
    names = list(RANGES)
    text = ",".join(names) + "\n" + "\n".join(",".join(str(r[n]) for n in names) for r in rows)
    s3.put_object(Bucket=bucket, Key="bench/rows.csv", Body=text.encode())
    host, port = re.match(r"http://([^:/]+):(\d+)", base).groups()  # type: ignore[union-attr]
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        sent = time.perf_counter()
        connection.request(
            "POST",
            "/predict/batch",
            body=json.dumps({"bucket": bucket, "key": "bench/rows.csv"}),
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(connection.getresponse().read())
        elapsed = time.perf_counter() - sent
    finally:
        connection.close()
    if answer.get("status") != "200":
        raise RuntimeError(f"POST /predict/batch answered {answer}")
    return Figure(
        "HTTP POST /predict/batch, 1,000-row CSV in the emulator's S3",
        f"{_ms(elapsed)} round trip ({answer['elapsed_ms']:.1f} ms in the handler, "
        f"read + predict + write {answer['output']['key']})",
    )


@contextmanager
def _local_cloud() -> Iterator[tuple[str, str]]:
    """``lab local`` on free ports; yields (HTTP base URL, emulator URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "devtools", "local", "--port", "0", "--http-port", "0"]
    with _child(command, env, "ready") as output:
        base = re.search(r"HTTP API\s+(http://\S+)", output)
        endpoint = re.search(r"emulator\s+(http://\S+)", output)
        if base is None or endpoint is None:
            raise RuntimeError(f"unexpected output from `chalicelib local`: {output}")
        yield base.group(1), endpoint.group(1)


@contextmanager
def _stock_chalice_local() -> Iterator[str]:
    """The unmodified ``chalice local --stage local`` on a free port."""
    port = _free_port()
    chalice = str(Path(sys.executable).with_name("chalice"))
    # --no-autoreload: one process (the reloader's worker would outlive terminate())
    command = [chalice, "local", "--stage", "local", "--no-autoreload", "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    with _child(command, dict(os.environ), "Serving on"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _child(command: list[str], env: dict[str, str], ready: str) -> Iterator[str]:
    """Run ``command`` until the block ends; yields its output up to the ``ready`` line."""
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Drain(process)
    try:
        yield output.wait_for(ready, timeout=60.0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.join(timeout=10)


class _Drain(threading.Thread):
    """Reads a child's output all along (a full pipe would block the child mid-benchmark)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self._process = process
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self.start()

    def run(self) -> None:
        assert self._process.stdout is not None
        with self._process.stdout:
            for line in self._process.stdout:
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(marker in line for line in self._lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    tail = "".join(self._lines)[-2000:]
                    raise RuntimeError(f"{self._process.args!r} did not print {marker!r}: {tail}")
                self._changed.wait(min(remaining, 0.5))
            return "".join(self._lines)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- numbers ---------------------------------------------------------------------------


def _timings(call: Callable[[], Any], count: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    timings = []
    clock = time.perf_counter
    for _ in range(count):
        began = clock()
        call()
        timings.append(clock() - began)
    return timings


def _pct(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 0.001 else f"{seconds * 1e3:.2f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"
