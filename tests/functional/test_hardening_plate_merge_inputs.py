"""The plate merge checks the names its plan and the groups' manifests give (qa6).

Both sit in the user's output prefix (``_plate/plan.json``, ``_groups/<folder>/manifest.json``)
and can be rewritten there. Before, the merge read every table a manifest named from
``<group prefix><name>`` and wrote it to ``<scratch>/<name>``: ``../../x.csv`` climbed out of
the group's folder in S3 and out of the scratch folder on disk, a name that is not text raised
(exit 1, retried by Batch). Now every name is checked before anything is read, and the merge
fails naming the object.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.painting import container, layout, plate_container
from chalicelib.storage import Bucket

JOB_ID = "cp-test"
OUTPUT = "plates/P1/output/"
GROUP = {"name": "Metadata_Well=A01", "folder": "Well-A01", "plate": "P1", "wells": ["A01"]}
MANIFEST = layout.group_prefix(OUTPUT, "Well-A01") + layout.MANIFEST


def _merge(store: Bucket, settings: Settings) -> tuple[int, str]:
    config = container.RunnerConfig(JOB_ID, settings.data_bucket, "p.cppipe", "in/", OUTPUT)
    code = plate_container.merge_plate_job(
        config, store, {"PAINTING_PLAN": layout.plan_key(OUTPUT)}
    )
    record = store.read_json(layout.status_key(JOB_ID)) or {}
    return code, str(record.get("reason"))


@pytest.mark.parametrize(
    "tables",
    [
        ["../../../secret.csv"],
        ["../Well-B01/Image.csv"],
        ["/etc/passwd.csv"],
        ["a/Image.csv"],
        ["..\\x.csv"],
        ["Image.csv", "Image.txt"],
        [5],
        "Image.csv",
    ],
)
def test_a_manifest_naming_tables_outside_its_folder_fails_the_merge(
    s3: Any, settings: Settings, tables: Any
) -> None:
    # before: "does not exist" for keys under other folders (read if they had existed, and
    # written outside the scratch folder), a TypeError for 5, one character per table for a text
    store = Bucket(s3, settings.data_bucket)
    store.write_json(layout.plan_key(OUTPUT), {"groups": [GROUP]})
    store.write_json(
        MANIFEST, {"job_id": JOB_ID, "status": "succeeded", "image_sets": 1, "tables": tables}
    )

    code, reason = _merge(store, settings)

    assert code == layout.EXIT_FAILED
    assert store.url(MANIFEST) in reason and "refused" in reason, reason
    assert store.read_json(OUTPUT + layout.MANIFEST) is None  # not merged


@pytest.mark.parametrize("field, value", [("folder", ".."), ("folder", "a/../.."), ("plate", "..")])
def test_a_plan_naming_folders_outside_the_output_fails_the_merge(
    s3: Any, settings: Settings, field: str, value: str
) -> None:
    store = Bucket(s3, settings.data_bucket)
    store.write_json(layout.plan_key(OUTPUT), {"groups": [{**GROUP, field: value}]})
    key = layout.group_prefix(OUTPUT, str({**GROUP, field: value}["folder"])) + layout.MANIFEST
    store.write_json(key, {"job_id": JOB_ID, "status": "succeeded", "image_sets": 1, "tables": []})

    code, reason = _merge(store, settings)

    assert code == layout.EXIT_FAILED
    assert store.url(layout.plan_key(OUTPUT)) in reason and "refused" in reason, reason
