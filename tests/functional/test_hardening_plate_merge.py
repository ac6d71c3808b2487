"""The plate merge reads the platemap again after every well has run (qa5).

The platemap is checked when the job is submitted, but the merge downloads it once more,
hours later. Before, a platemap deleted or replaced by one the merge could not use in
between raised out of the merge (``NotFound``, pandas' ``ValueError``): exit 1, so Batch
retried the same failure until its attempts were spent, and the job's record never said
why (it read ``submitted`` with every group succeeded). Now the merge checks it as the
submission does, records the reason on the job and exits 3 (no Batch retry of a data error).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.painting import container, layout, plate_container
from chalicelib.storage import Bucket

JOB_ID = "cp-test"
OUTPUT = "plates/P1/output/"
PLATEMAP = "plates/P1/platemap.csv"


def _succeeded_plate(store: Bucket) -> None:
    """A plan of one group whose run succeeded (no tables: nothing to merge but the map)."""
    group = {"name": "Metadata_Well=A01", "folder": "Well-A01", "plate": "P1", "wells": ["A01"]}
    store.write_json(layout.plan_key(OUTPUT), {"groups": [group]})
    store.write_json(
        layout.group_prefix(OUTPUT, group["folder"]) + layout.MANIFEST,
        {"job_id": JOB_ID, "status": "succeeded", "image_sets": 1, "tables": []},
    )


@pytest.mark.parametrize(
    "body, reason",
    [
        (None, "does not exist"),
        (b"Plate,Treatment\nP1,DMSO\n", "no well column"),
        (b"Well,Treatment\nA01,DMSO\nA01,drug\n", "more than once"),
        (b"Well,Treatment\nA01,\xff\n", "not UTF-8"),
    ],
)
def test_a_platemap_changed_after_submission_fails_the_merge_with_the_reason(
    s3: Any, settings: Settings, body: bytes | None, reason: str
) -> None:
    store = Bucket(s3, settings.data_bucket)
    _succeeded_plate(store)
    if body is not None:
        store.put_bytes(PLATEMAP, body, "text/csv")
    config = container.RunnerConfig(JOB_ID, settings.data_bucket, "p.cppipe", "in/", OUTPUT)
    env = {"PAINTING_PLAN": layout.plan_key(OUTPUT), "PAINTING_PLATEMAP": PLATEMAP}

    assert plate_container.merge_plate_job(config, store, env) == layout.EXIT_FAILED

    record = store.read_json(layout.status_key(JOB_ID)) or {}
    assert record["state"] == "failed"
    assert "platemap" in record["reason"] and reason in record["reason"], record["reason"]
    assert (store.read_json(OUTPUT + layout.OUTPUT_STATUS) or {})["state"] == "failed"
    assert store.read_json(OUTPUT + layout.MANIFEST) is None  # not merged


# -- a group's image keys never choose a path on disk ------------------------------------------
def _escaping_key(tmp_path: Path) -> str:
    """An image key under the input whose rest climbs from the child's work folder into
    ``tmp_path`` (the work folder is ``<tempdir>/painting-group-XXXX/input/``)."""
    inside_tmp = tmp_path.resolve().relative_to(Path(tempfile.gettempdir()).resolve())
    return f"in/a/../../../{inside_tmp.as_posix()}/P1_A01_s1_w1.tif"


@pytest.mark.parametrize("form", ["climb", "absolute"])
def test_a_group_image_key_leaving_the_work_folder_fails_the_group_before_any_download(
    s3: Any, settings: Settings, tmp_path: Path, form: str
) -> None:
    # before: the plate child joined the key's rest to its input folder as it was, so
    # `in/a/../../../<dir>/x.tif` (or `in//<abs dir>/x.tif`) was written outside it
    store = Bucket(s3, settings.data_bucket)
    key = (
        _escaping_key(tmp_path)
        if form == "climb"
        else f"in/{tmp_path.resolve().as_posix()}/P1_A01_s1_w1.tif"  # in//tmp/...
    )
    store.put_bytes(key, b"II*\x00", "image/tiff")
    store.put_bytes("p.cppipe", b"CellProfiler Pipeline\n", "text/plain")
    site = {"metadata": [["Metadata_Well", "A01"]], "files": [["1", key]], "row": []}
    group = {"name": "Metadata_Well=A01", "folder": "Well-A01", "plate": "P1", "wells": ["A01"],
             "key": [["Metadata_Well", "A01"]], "sites": [site]}  # fmt: skip
    store.write_json(layout.plan_key(OUTPUT), {"groups": [group], "group_by": ["Metadata_Well"]})
    config = container.RunnerConfig(
        JOB_ID, settings.data_bucket, "p.cppipe", "in/", OUTPUT, cellprofiler="false"
    )
    env = {"PAINTING_PLAN": layout.plan_key(OUTPUT), "PAINTING_GROUPS": "0"}

    assert plate_container.run_group(config, store, env) == layout.EXIT_FAILED

    assert list(tmp_path.iterdir()) == []  # nothing written outside the work folder
    manifest = store.read_json(layout.group_prefix(OUTPUT, "Well-A01") + layout.MANIFEST) or {}
    assert manifest["status"] == "failed" and "not a plain relative path" in manifest["reason"]
    assert manifest["job_id"] == JOB_ID


def test_a_group_table_gone_before_the_merge_fails_it_with_the_reason(
    s3: Any, settings: Settings
) -> None:
    # before: NotFound raised out of the merge (exit 1): Batch retried it until its attempts
    # were spent and the job said only Batch's "Essential container in task exited"
    store = Bucket(s3, settings.data_bucket)
    group = {"name": "Metadata_Well=A01", "folder": "Well-A01", "plate": "P1", "wells": ["A01"]}
    store.write_json(layout.plan_key(OUTPUT), {"groups": [group]})
    store.write_json(
        layout.group_prefix(OUTPUT, "Well-A01") + layout.MANIFEST,
        {"job_id": JOB_ID, "status": "succeeded", "image_sets": 1, "tables": ["Image.csv"]},
    )  # its Image.csv was deleted (a lifecycle rule, a clean-up of _groups/)
    config = container.RunnerConfig(JOB_ID, settings.data_bucket, "p.cppipe", "in/", OUTPUT)
    env = {"PAINTING_PLAN": layout.plan_key(OUTPUT)}

    assert plate_container.merge_plate_job(config, store, env) == layout.EXIT_FAILED

    record = store.read_json(layout.status_key(JOB_ID)) or {}
    assert record["state"] == "failed"
    assert "Well-A01/Image.csv" in record["reason"] and "does not exist" in record["reason"]
