"""The Batch side of a plate job: run one group, then merge the plate.

``run`` (one array child): the child's group is ``PAINTING_GROUPS[array
index]`` of the plan the handler wrote. If the group's manifest already
records a success, nothing runs (DCP's check-if-done). Otherwise only the
group's images are downloaded, a LoadData CSV is cut down to the group's rows
with ``PathName_`` rewritten to where the images now are, and CellProfiler
runs with ``-g`` (when the pipeline groups by exactly ``group_by``) and
``--data-file``. Outputs, log and manifest go to ``<output>_groups/<folder>/``.
A failed group exits 3: Batch does not retry a pipeline error, the retry
route does, after a fix.

``merge``: every group must have succeeded; each plate is merged one group at
a time (``plate_merge.merge_plate``) into ``<output>plates/<plate>/``, with the
plate map of group states next to it.

Python 3.8-compatible (the official CellProfiler image runs it).
"""

from __future__ import annotations

import csv
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.painting import container, groups, layout, pipeline, plate, plate_merge, platemap
from chalicelib.painting.records import FAILED, SUCCEEDED
from chalicelib.storage import Bucket, now_iso

log = logging.getLogger(__name__)
HEADER_CHUNK = 1024 * 1024
NOT_OBJECT_TABLES = ("Image", "Experiment")


def _group_index(config: container.RunnerConfig, env: Mapping[str, str]) -> int:
    indices = layout.decode_indices(env.get("PAINTING_GROUPS", ""))
    if not indices:
        raise SystemExit("runner: PAINTING_GROUPS names no group")
    return indices[min(config.index, len(indices) - 1)]


def run_group(config: container.RunnerConfig, store: Bucket, env: Mapping[str, str]) -> int:
    plan = store.read_json(env["PAINTING_PLAN"])
    if plan is None:
        raise SystemExit(f"runner: no plan at {env['PAINTING_PLAN']}")
    document = plan["groups"][_group_index(config, env)]
    group = plate.group_from_document(document)
    prefix = layout.group_prefix(config.output, document["folder"])
    manifest_key = prefix + layout.MANIFEST
    if container.finished(store, manifest_key, config.job_id):
        log.info("group %s already done: skipped", group.name)
        return layout.EXIT_OK
    submission = int(env.get("PAINTING_SUBMISSION") or 1)
    started_at, started = now_iso(), time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="painting-group-"))
    try:
        try:
            manifest = _run(config, store, plan, document, group, workdir)
        except container.UnsafeKey as error:  # the data is wrong: the group fails (exit 3)
            manifest = {"kind": "group", "status": "failed", "reason": str(error), "produced": []}
        manifest.update(
            job_id=config.job_id, group=group.name, folder=document["folder"],
            plate=document["plate"], wells=document["wells"], submission=submission,
            attempt=config.attempt, batch_job_id=config.batch_job_id, started_at=started_at,
            finished_at=now_iso(),
        )  # fmt: skip
        manifest["outputs"] = (
            []
            if manifest["reason"]
            else container.upload_outputs(
                store, workdir / "output", tuple(manifest["produced"]), prefix
            )
        )
        log_path = workdir / "cellprofiler.log"
        if log_path.exists():
            log_key = layout.group_log_key(
                config.output, document["folder"], submission, config.attempt
            )
            store.put_text(log_key, log_path.read_text(errors="replace"))
            manifest["log"] = log_key
        durations = manifest.setdefault("durations_s", {})
        durations["total"] = round(time.perf_counter() - started, 3)
        store.write_json(manifest_key, manifest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if manifest["reason"]:
        log.error("group %s failed: %s", group.name, manifest["reason"])
        return layout.EXIT_FAILED
    return layout.EXIT_OK


def _run(
    config: container.RunnerConfig,
    store: Bucket,
    plan: Mapping[str, Any],
    document: Mapping[str, Any],
    group: plate.Group,
    workdir: Path,
) -> dict[str, Any]:
    """Download the group, run CellProfiler on it; the manifest's facts (not yet uploaded)."""
    started = time.perf_counter()
    pipeline_path = workdir / "pipeline" / Path(config.pipeline).name
    store.download(config.pipeline, pipeline_path)
    input_dir = workdir / "input"
    downloads = plate.group_downloads(group, config.input)
    # every target is checked before anything is written: a key's rest with `..`, empty
    # (`in//abs/x`) or `.` parts would name a file outside the work folder
    targets = [(key, container.local_path(input_dir, relative)) for key, relative in downloads]
    container._parallel(lambda pair: store.download(pair[0], pair[1]), targets)
    input_dir.mkdir(parents=True, exist_ok=True)
    data_file = None
    if plan.get("source") == "load_data":
        folders = {key: str((input_dir / rel).parent) for key, rel in downloads}
        data_file = workdir / "load_data.csv"
        data_file.write_text(
            plate.rewrite_load_data(plan.get("header") or [], group.sites, folders)
        )
    fetched = time.perf_counter()
    info = pipeline.inspect_pipeline(pipeline_path.read_text(errors="replace"))
    expected = pipeline.expected_outputs(info)
    extra = plate.group_arguments(
        group, plan.get("group_by") or [], plate.pipeline_grouping(info),
        str(data_file) if data_file else None,
    )  # fmt: skip
    arguments = [config.cellprofiler, "-c", "-r", "-p", str(pipeline_path), "-i", str(input_dir),
                 "-o", str(workdir / "output"), *extra]  # fmt: skip
    run = container.run_cellprofiler(arguments, workdir / "output", workdir / "cellprofiler.log")
    reason = container.judge(run, expected)
    tables = sorted(
        name for name in run.outputs if name.lower().endswith(".csv") and "/" not in name
    )
    counts = {name: _rows(workdir / "output" / name) for name in tables}
    image_sets = counts.get("Image.csv", 0)
    if reason is None and image_sets != len(group.sites):
        reason = (
            f"CellProfiler made {image_sets} image sets of the group's {len(group.sites)} sites"
        )
    return {
        "kind": "group",
        "status": "failed" if reason else "succeeded",
        "reason": reason,
        "bucket": config.bucket,
        "pipeline": config.pipeline,
        "inputs": [key for key, _ in downloads],
        "produced": list(run.outputs),
        "expected": expected,
        "tables": tables,
        "image_sets": image_sets,
        "objects": {
            name.rsplit(".", 1)[0]: count
            for name, count in counts.items()
            if name.rsplit(".", 1)[0] not in NOT_OBJECT_TABLES
        },
        "cellprofiler_version": container.cellprofiler_version(config.cellprofiler),
        "command": arguments[1:],
        "exit_code": run.exit_code,
        "durations_s": {
            "fetch": round(fetched - started, 3),
            "cellprofiler": round(run.seconds, 3),
        },
        "log_tail": run.log_tail,
    }


def _rows(path: Path) -> int:
    with open(path, newline="") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


# -- the merge --------------------------------------------------------------------------
def merge_plate_job(config: container.RunnerConfig, store: Bucket, env: Mapping[str, str]) -> int:
    manifest_key = config.output + layout.MANIFEST
    if container.finished(store, manifest_key, config.job_id):
        log.info("plate job %s already merged: skipped", config.job_id)
        return layout.EXIT_OK
    started = time.perf_counter()
    plan = store.read_json(env["PAINTING_PLAN"]) or {"groups": []}
    refused = _refused_plan(store, env["PAINTING_PLAN"], plan["groups"])
    if refused:  # the plan sits in the user's output prefix: a data error, not retried
        container.update_status(store, config, FAILED, refused)
        return layout.EXIT_FAILED
    manifests = [
        store.read_json(layout.group_prefix(config.output, g["folder"]) + layout.MANIFEST)
        for g in plan["groups"]
    ]
    unfinished = [
        g["name"] for g, m in zip(plan["groups"], manifests)  # noqa: B905 - Python 3.8 (the Batch image) has no strict=
        if not m or m.get("status") != "succeeded" or m.get("job_id") != config.job_id
    ]  # fmt: skip
    if unfinished:
        reason = f"{len(unfinished)} groups not finished or failed: {', '.join(unfinished[:10])}"
        container.update_status(store, config, FAILED, reason)
        return layout.EXIT_FAILED
    refused = _refused_tables(store, config.output, plan["groups"], manifests)
    if refused:  # the manifests sit in the user's output prefix: a data error, not retried
        container.update_status(store, config, FAILED, refused)
        return layout.EXIT_FAILED
    workdir = Path(tempfile.mkdtemp(prefix="painting-merge-"))
    try:
        platemap_csv = None
        if env.get("PAINTING_PLATEMAP"):
            platemap_csv = workdir / "platemap.csv"
            problem = _fetch_platemap(store, env["PAINTING_PLATEMAP"], platemap_csv)
            if problem:  # changed since the submission checked it: a data error, not retried
                container.update_status(store, config, FAILED, problem)
                return layout.EXIT_FAILED
        try:
            merged = [
                _merge_one_plate(config, store, name, members, workdir, platemap_csv)
                for name, members in _plates(plan["groups"], manifests).items()
            ]
        except NotFound as error:  # a group's table gone since it ran: no retry brings it back
            container.update_status(store, config, FAILED, f"the merge's input: {error}")
            return layout.EXIT_FAILED
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    states = {g["name"]: groups.GroupState("succeeded") for g in plan["groups"]}
    maps = _draw_maps(store, config.output, plan["groups"], states)
    store.write_json(
        manifest_key,
        {
            "kind": "plate-merge", "job_id": config.job_id, "status": "succeeded", "reason": None,
            "groups": len(plan["groups"]), "plates": [m.to_dict() for m in merged],
            "plate_maps": maps, "durations_s": {"merge": round(time.perf_counter() - started, 3)},
            "batch_job_id": config.batch_job_id, "finished_at": now_iso(),
        },
    )  # fmt: skip
    container.update_status(store, config, SUCCEEDED, None, manifest=manifest_key)
    return layout.EXIT_OK


def _refused_plan(store: Bucket, key: str, planned: list[Mapping[str, Any]]) -> str | None:
    """The plan's first group whose folder or plate must not name a key or a folder, named."""
    for group in planned:
        problem = plate_merge.plan_problem(group)
        if problem:
            return f"the merge's plan {store.url(key)} {problem}; refused"
    return None


def _refused_tables(
    store: Bucket, output: str, planned: list[Mapping[str, Any]], manifests: list[Any]
) -> str | None:
    """The first group manifest whose tables the merge must not read, named."""
    for group, manifest in zip(planned, manifests):  # noqa: B905 - Python 3.8 (the Batch image) has no strict=
        problem = plate_merge.manifest_problem(manifest)
        if problem:
            key = layout.group_prefix(output, group["folder"]) + layout.MANIFEST
            return f"the group manifest {store.url(key)} {problem}; refused"
    return None


def _fetch_platemap(store: Bucket, key: str, path: Path) -> str | None:
    """Download the platemap to ``path``; why the merge cannot use it, if it cannot.

    The submission checked it, but it is read again only now, after every well ran:
    it may have been deleted or replaced since.
    """
    try:
        store.download(key, path)
    except NotFound:
        return f"the platemap {store.url(key)} does not exist (it did when the job was submitted)"
    problems = plate.platemap_problems(path.read_bytes())
    if problems:
        changed = f"the platemap {store.url(key)} changed since the job was submitted"
        return f"{changed}: {'; '.join(problems)}"
    return None


def _plates(
    planned: list[Mapping[str, Any]], manifests: list[Any]
) -> dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    found: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for group, manifest in zip(planned, manifests):  # noqa: B905 - Python 3.8 (the Batch image) has no strict=
        found.setdefault(str(group["plate"]), []).append((group, manifest))
    return found


def _merge_one_plate(
    config: container.RunnerConfig,
    store: Bucket,
    name: str,
    members: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
    workdir: Path,
    platemap_csv: Path | None,
) -> plate_merge.PlateMerge:
    outputs = [
        plate_merge.GroupOutput(
            g["name"], tuple(g["wells"]), int(m["image_sets"]), tuple(m["tables"])
        )
        for g, m in members
    ]
    prefixes = {g["name"]: layout.group_prefix(config.output, g["folder"]) for g, _ in members}
    scratch = workdir / "groups"

    def fetch(group: plate_merge.GroupOutput) -> Path:
        folder = scratch / str(abs(hash(group.name)))
        for table in group.tables:
            store.download(prefixes[group.name] + table, folder / table)
        return folder

    def header(group: plate_merge.GroupOutput, table: str) -> list[str]:
        return read_header(store, prefixes[group.name] + table)

    out = workdir / "plates" / name
    merged = plate_merge.merge_plate(name, outputs, header, fetch, out, platemap_csv)
    prefix = layout.plate_prefix(config.output, name)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    container._parallel(lambda path: store.upload(path, prefix + str(path.relative_to(out))), files)
    shutil.rmtree(out, ignore_errors=True)
    return merged


def read_header(store: Bucket, key: str) -> list[str]:
    """A CSV's header row, read in 1 MiB ranges until its line ends (JUMP headers are long)."""
    size = HEADER_CHUNK
    while True:
        head = store.get_bytes(key, limit=size)
        if b"\n" in head or len(head) < size:
            line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
            return next(csv.reader([line]), [])
        size *= 2


def _draw_maps(
    store: Bucket,
    output: str,
    planned: list[Mapping[str, Any]],
    states: Mapping[str, groups.GroupState],
) -> list[str]:
    wells: dict[str, dict[str, str]] = {}
    for group in planned:
        for well in group.get("wells") or []:
            wells.setdefault(str(group["plate"]), {})[well] = states[group["name"]].state
    keys = []
    for name, found in sorted(wells.items()):
        key = layout.plate_prefix(output, name) + layout.PLATE_MAP
        store.put_bytes(key, platemap.state_map(found), "image/png")
        keys.append(store.url(key))
    return keys


COMMANDS = {"run": run_group, "merge": merge_plate_job}
