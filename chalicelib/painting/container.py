"""The Batch container's entry point: run CellProfiler headless on one shard, or merge.

``python -m chalicelib.painting.container run``   (each Batch job or array child)
``python -m chalicelib.painting.container merge`` (after every shard succeeded)

Configured by environment variables, as AWS Batch passes them: the job's
(``PAINTING_JOB_ID``, ``PAINTING_BUCKET``, ``PIPELINE``, ``INPUT``, ``OUTPUT``,
``PAINTING_SHARDS``, ``PAINTING_IMAGE_SETS``, ``PAINTING_ATTEMPTS``), Batch's own
(``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ARRAY_INDEX``, ``AWS_BATCH_JOB_ATTEMPT``)
and the container's (``CELLPROFILER``: the command, default ``cellprofiler``;
``PAINTING_MOUNT``: a mounted copy of the bucket, such as FSx for Lustre, read
instead of downloading).

A run fails when CellProfiler exits non-zero, when its log says "Failed to load
pipeline" (it can exit 0 then) or when an output the pipeline exports is missing.
Failures of the pipeline or data exit 3 (Batch does not retry those); anything
else raises and exits 1 (Batch retries). Either way a ``manifest.json`` records
what ran. The same code runs in the container (Python 3.8) and in the local
executor, so this module stays 3.8-compatible.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import observability
from chalicelib.painting import layout, merge, pipeline
from chalicelib.painting.records import FAILED, SUCCEEDED, JobRecord
from chalicelib.storage import Bucket, is_folder_marker, now_iso

log = logging.getLogger("chalicelib.painting.container")
LOG_TAIL_LINES = 40
TRANSFER_THREADS = 8


@dataclass(frozen=True)
class RunnerConfig:
    job_id: str
    bucket: str
    pipeline: str
    input: str
    output: str
    shards: int = 1
    image_sets: int = 0
    attempts: int = 1
    attempt: int = 1
    index: int = 0
    batch_job_id: str = ""
    mount: str = ""
    cellprofiler: str = "cellprofiler"

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> RunnerConfig:
        missing = [
            name
            for name in ("PAINTING_JOB_ID", "PAINTING_BUCKET", "PIPELINE", "INPUT", "OUTPUT")
            if not env.get(name)
        ]
        if missing:
            raise SystemExit(f"runner: missing environment variables: {', '.join(missing)}")
        return cls(
            job_id=env["PAINTING_JOB_ID"],
            bucket=env["PAINTING_BUCKET"],
            pipeline=env["PIPELINE"],
            input=layout.normalise_prefix(env["INPUT"]),
            output=layout.normalise_prefix(env["OUTPUT"]),
            shards=int(env.get("PAINTING_SHARDS") or 1),
            image_sets=int(env.get("PAINTING_IMAGE_SETS") or 0),
            attempts=int(env.get("PAINTING_ATTEMPTS") or 1),
            attempt=int(env.get("AWS_BATCH_JOB_ATTEMPT") or 1),
            index=int(env.get("AWS_BATCH_JOB_ARRAY_INDEX") or 0),
            batch_job_id=env.get("AWS_BATCH_JOB_ID", ""),
            mount=env.get("PAINTING_MOUNT", ""),
            cellprofiler=env.get("CELLPROFILER") or "cellprofiler",
        )

    @property
    def prefix(self) -> str:
        """Where this shard's outputs and manifest go."""
        return layout.shard_prefix(self.output, self.index, self.shards)

    @property
    def range(self) -> tuple[int, int | None]:
        return layout.shard_range(self.index, self.shards, self.image_sets)


@dataclass(frozen=True)
class Run:
    """What one CellProfiler invocation did."""

    exit_code: int
    seconds: float
    log_text: str
    outputs: tuple[str, ...]  # relative paths under the output directory

    @property
    def log_tail(self) -> str:
        return "\n".join(self.log_text.splitlines()[-LOG_TAIL_LINES:])[-8000:]


def judge(run: Run, expected: list[str]) -> str | None:
    """Why a run failed, or ``None`` if it did what the pipeline asks."""
    if run.exit_code != 0:
        failure = pipeline.load_failure(run.log_text)
        detail = f" ({failure})" if failure else ""
        return f"CellProfiler exited with code {run.exit_code}{detail}"
    failure = pipeline.load_failure(run.log_text)
    if failure:
        return f"CellProfiler could not read the whole pipeline and ran only part of it: {failure}"
    missing = pipeline.missing_outputs(expected, list(run.outputs))
    if missing:
        return f"CellProfiler exited 0 but these expected outputs are missing: {', '.join(missing)}"
    return None


# -- CellProfiler ---------------------------------------------------------------------
def cellprofiler_arguments(
    command: str,
    pipeline_path: Path,
    input_dir: Path,
    output_dir: Path,
    shard: tuple[int, int | None],
) -> list[str]:
    """The headless command line (``-c`` no GUI, ``-r`` run, ``-f/-l`` the shard's range)."""
    return [
        command, "-c", "-r",
        "-p", str(pipeline_path),
        "-i", str(input_dir),
        "-o", str(output_dir),
        *layout.range_arguments(shard),
    ]  # fmt: skip


def run_cellprofiler(arguments: list[str], output_dir: Path, log_path: Path) -> Run:
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "wb") as log_file:
        try:
            code = subprocess.run(
                arguments, stdout=log_file, stderr=subprocess.STDOUT, check=False
            ).returncode
        except FileNotFoundError:
            log_file.write(f"{arguments[0]}: command not found\n".encode())
            code = 127
    seconds = time.perf_counter() - started
    outputs = sorted(
        str(path.relative_to(output_dir)) for path in output_dir.rglob("*") if path.is_file()
    )
    text = log_path.read_text(errors="replace")
    return Run(code, seconds, text, tuple(outputs))


def cellprofiler_version(command: str) -> str:
    try:
        from importlib.metadata import version

        return version("cellprofiler")
    except Exception:  # noqa: BLE001 - not in this interpreter: ask the command
        pass
    try:
        done = subprocess.run(
            [command, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else "unknown"


# -- inputs and outputs ----------------------------------------------------------------
class UnsafeKey(ValueError):
    """An object key that would name a file outside the job's work directory."""


def local_path(root: Path, relative: str) -> Path:
    """``root / relative`` for a path taken from an object key, refused if it leaves ``root``.

    Keys are not paths: ``a/../../x``, ``/etc/x`` (a doubled slash after the prefix),
    ``a\\..\\x`` or ``a/./b`` would name another file, or another directory, on disk.
    Every such key raises ``UnsafeKey``; the result is also checked after resolving
    symbolic links.

    >>> local_path(Path("/w"), "images/a.tif").as_posix()
    '/w/images/a.tif'
    >>> local_path(Path("/w"), "images//etc/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chalicelib.painting.container.UnsafeKey: the object key part 'images//etc/x' is not a ...
    """
    parts = relative.split("/")
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise UnsafeKey(
            f"the object key part {relative[:200]!r} is not a plain relative path "
            "(empty, '.', '..' or backslash parts); refused"
        )
    path = root.joinpath(*parts)
    base = os.path.realpath(root)
    if os.path.commonpath([base, os.path.realpath(path)]) != base:
        raise UnsafeKey(f"the object key part {relative[:200]!r} leads outside the work directory")
    return path


def fetch_inputs(
    config: RunnerConfig, store: Bucket, workdir: Path
) -> tuple[Path, Path, list[dict[str, Any]]]:
    """(pipeline file, input directory, inputs listed for the manifest)."""
    if config.mount:
        root = Path(config.mount)
        input_dir = local_path(root, config.input.rstrip("/"))
        inputs = [
            {"path": str(p.relative_to(root)), "size": p.stat().st_size}
            for p in sorted(input_dir.rglob("*"))
            if p.is_file()
        ]
        return local_path(root, config.pipeline), input_dir, inputs
    pipeline_path = local_path(workdir / "pipeline", config.pipeline.rsplit("/", 1)[-1])
    store.download(config.pipeline, pipeline_path)
    input_dir = workdir / "input"
    objects = [o for o in store.list(config.input) if not is_folder_marker(o["Key"])]
    # every target is checked before anything is written
    targets = [(o["Key"], local_path(input_dir, o["Key"][len(config.input) :])) for o in objects]
    _parallel(lambda pair: store.download(pair[0], pair[1]), targets)
    input_dir.mkdir(parents=True, exist_ok=True)
    inputs = [{"key": o["Key"], "size": o["Size"], "etag": o.get("ETag", "")} for o in objects]
    return pipeline_path, input_dir, inputs


def upload_outputs(
    store: Bucket, output_dir: Path, outputs: tuple[str, ...], prefix: str
) -> list[str]:
    keys = [(output_dir / name, prefix + name) for name in outputs]
    _parallel(lambda pair: store.upload(pair[0], pair[1]), keys)
    return [key for _, key in keys]


def _parallel(work: Any, items: list[Any]) -> None:
    with concurrent.futures.ThreadPoolExecutor(TRANSFER_THREADS) as pool:
        for _ in pool.map(work, items):
            pass


# -- status ---------------------------------------------------------------------------
def update_status(
    store: Bucket, config: RunnerConfig, state: str, reason: str | None, **extra: Any
) -> None:
    """Record a terminal state in the job's status record and in ``<output>_status.json``."""
    key = layout.status_key(config.job_id)
    found = store.read_json(key)
    record = JobRecord.from_dict(found) if found else JobRecord(config.job_id, state)
    record = record.with_(state=state, reason=reason, updated_at=now_iso(), **extra)
    store.write_json(key, record.to_dict())
    store.write_json(config.output + layout.OUTPUT_STATUS, record.to_dict())


def finished(store: Bucket, key: str, job_id: str, shard: Any = None) -> dict[str, Any] | None:
    """The manifest at ``key`` if it records a success of this job (DCP's check-if-done)."""
    manifest = store.read_json(key)
    if not manifest or manifest.get("job_id") != job_id or manifest.get("status") != "succeeded":
        return None
    if shard is not None and manifest.get("shard") != shard:
        return None
    return manifest


# -- the two commands -----------------------------------------------------------------
def run_shard(config: RunnerConfig, store: Bucket) -> int:
    shard = {"index": config.index, "count": config.shards, "range": list(config.range)}
    manifest_key = config.prefix + layout.MANIFEST
    if finished(store, manifest_key, config.job_id, shard):
        log.info("shard %s of %s already done: skipped", config.index + 1, config.shards)
        return layout.EXIT_OK
    started_at, started = now_iso(), time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="painting-"))
    try:
        try:
            pipeline_path, input_dir, inputs = fetch_inputs(config, store, workdir)
        except UnsafeKey as error:  # the data is wrong: fail the job (exit 3), no retry
            log.error("job %s refused: %s", config.job_id, error)
            update_status(store, config, FAILED, str(error))
            return layout.EXIT_FAILED
        fetched = time.perf_counter()
        expected = pipeline.expected_outputs(
            pipeline.inspect_pipeline(pipeline_path.read_text(errors="replace"))
        )
        arguments = cellprofiler_arguments(
            config.cellprofiler, pipeline_path, input_dir, workdir / "output", config.range
        )
        run = run_cellprofiler(arguments, workdir / "output", workdir / "cellprofiler.log")
        reason = judge(run, expected)
        uploaded = time.perf_counter()
        outputs = (
            [] if reason else upload_outputs(store, workdir / "output", run.outputs, config.prefix)
        )
        log_key = layout.log_key(config.output, config.index, config.shards, config.attempt)
        store.put_text(log_key, run.log_text)
        manifest = {
            "kind": "shard" if config.shards > 1 else "job",
            "job_id": config.job_id,
            "status": "failed" if reason else "succeeded",
            "reason": reason,
            "shard": shard,
            "bucket": config.bucket,
            "pipeline": config.pipeline,
            "input": config.input,
            "inputs": inputs,
            "outputs": outputs,
            "produced": list(run.outputs),
            "expected": expected,
            "cellprofiler_version": cellprofiler_version(config.cellprofiler),
            "command": arguments[1:],
            "exit_code": run.exit_code,
            "durations_s": {
                "fetch": round(fetched - started, 3),
                "cellprofiler": round(run.seconds, 3),
                "upload": round(time.perf_counter() - uploaded, 3),
                "total": round(time.perf_counter() - started, 3),
            },
            "log": log_key,
            "log_tail": run.log_tail,
            "attempt": config.attempt,
            "batch_job_id": config.batch_job_id,
            "started_at": started_at,
            "finished_at": now_iso(),
        }
        store.write_json(manifest_key, manifest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _conclude_shard(store, config, reason, manifest_key)


def _conclude_shard(
    store: Bucket, config: RunnerConfig, reason: str | None, manifest_key: str
) -> int:
    if reason is None:
        if config.shards <= 1:
            update_status(store, config, SUCCEEDED, None, manifest=manifest_key)
        return layout.EXIT_OK
    log.error("shard %s of %s failed: %s", config.index + 1, config.shards, reason)
    update_status(store, config, FAILED, reason, manifest=manifest_key)
    return layout.EXIT_FAILED


def merge_shards(config: RunnerConfig, store: Bucket) -> int:
    """Merge every shard's CSVs into the output prefix; copy their other files."""
    manifest_key = config.output + layout.MANIFEST
    if finished(store, manifest_key, config.job_id):
        log.info("job %s already merged: skipped", config.job_id)
        return layout.EXIT_OK
    started = time.perf_counter()
    shards = []
    for index in range(config.shards):
        prefix = layout.shard_prefix(config.output, index, config.shards)
        shards.append((prefix, store.read_json(prefix + layout.MANIFEST)))
    unfinished = [
        layout.shard_name(i, config.shards)
        for i, (_, manifest) in enumerate(shards)
        if not manifest
        or manifest.get("status") != "succeeded"
        or manifest.get("job_id") != config.job_id
    ]
    if unfinished:
        failure = f"shards not finished or failed: {', '.join(unfinished)}"
        update_status(store, config, FAILED, failure)
        return layout.EXIT_FAILED
    tables, copies = _group_outputs(shards)
    outputs, rows, problems = _merge_tables(config, store, tables)
    _parallel(lambda pair: store.copy(pair[0], config.output + pair[1]), list(copies.items()))
    outputs += [config.output + name for name in copies.values()]
    reason = "; ".join(problems) or None
    store.write_json(
        manifest_key,
        {
            "kind": "merge",
            "job_id": config.job_id,
            "status": "failed" if reason else "succeeded",
            "reason": reason,
            "shards": [prefix + layout.MANIFEST for prefix, _ in shards],
            "outputs": sorted(outputs),
            "rows": rows,
            "cellprofiler_version": (shards[0][1] or {}).get("cellprofiler_version", "unknown"),
            "durations_s": {
                "merge": round(time.perf_counter() - started, 3),
                "shards_cellprofiler": [m["durations_s"]["cellprofiler"] for _, m in shards if m],
            },
            "batch_job_id": config.batch_job_id,
            "finished_at": now_iso(),
        },
    )
    update_status(store, config, FAILED if reason else SUCCEEDED, reason, manifest=manifest_key)
    return layout.EXIT_FAILED if reason else layout.EXIT_OK


def _merge_tables(
    config: RunnerConfig, store: Bucket, tables: dict[str, list[str]]
) -> tuple[list[str], dict[str, int], list[str]]:
    """Write each merged table to the output prefix: (keys, rows per table, problems)."""
    outputs, rows, problems = [], {}, []
    for name, keys in sorted(tables.items()):
        merged = merge.merge_tables([store.read_text(key) for key in keys])
        store.put_text(config.output + name, merged.text, "text/csv")
        outputs.append(config.output + name)
        rows[name] = merged.rows
        gaps = merge.image_number_gaps(merged.image_numbers, config.image_sets or None)
        if name.endswith("Image.csv") and gaps:
            problems.append(f"{name} lacks image sets {gaps[:10]}")
    return outputs, rows, problems


def _group_outputs(shards: list[tuple[str, Any]]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """CSV name -> the shards' keys of it; other output key -> its name in the output prefix."""
    tables: dict[str, list[str]] = {}
    copies: dict[str, str] = {}
    for prefix, manifest in shards:
        for key in manifest["outputs"]:
            name = key[len(prefix) :]
            if name.lower().endswith(".csv"):
                tables.setdefault(name, []).append(key)
            else:
                copies[key] = name
    return tables, copies


COMMANDS = {"run": run_shard, "merge": merge_shards}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else "run"
    if command not in COMMANDS:
        print(
            f"usage: python -m chalicelib.painting.container [{'|'.join(COMMANDS)}]",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    environ = os.environ if env is None else env
    config = RunnerConfig.from_environ(environ)
    from chalicelib import aws

    observability.setup("painting")  # JSON lines in a Batch job (AWS_BATCH_JOB_ID is set)
    correlation_id = environ.get(observability.ENVIRONMENT)
    store = Bucket(aws.client("s3"), config.bucket)
    with observability.correlated(correlation_id), observability.span(f"painting.{command}"):
        if environ.get("PAINTING_PLAN"):  # a plate job: one metadata group per child
            from chalicelib.painting import plate_container

            return plate_container.COMMANDS[command](config, store, environ)
        return COMMANDS[command](config, store)


if __name__ == "__main__":
    raise SystemExit(main())
