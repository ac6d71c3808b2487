"""The issue's "done when": a generated plate by well groups through real CellProfiler.

A 4-well × 2-site × 3-channel plate named like an ImageXpress export
(``devtools/synthetic/plate.py``) goes through the embedded emulator, the
app's handler and the local Batch: one array child per well, each downloading
only its well's images; one well's image is broken on purpose, so that group
fails while the others succeed; the image is fixed and ``POST
/painting/jobs/{id}/retry`` runs that group alone; then the merge leaves the
plate's tables, Parquet, per-well profiles, the cells-per-well heatmap and the
plate map. A resent finished plate submits nothing; an invalid plate (a
LoadData CSV naming a missing file) submits nothing and says which file; a
LoadData-driven plate runs by groups too.

Needs ``make cellprofiler``; skipped without it, except under CI.
"""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.painting import layout
from chalicelib.painting.messages import PaintingJob, parse_job
from devtools.local.batch import cellprofiler_installed
from devtools.local.cloud import LocalCloud
from devtools.synthetic.plate import Field, write_plate
from tests.integration.conftest import eventually
from tests.integration.test_painting_local import job_status, send

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "painting" / "plate"
PREFIX = "plates/SYN0001/"
WELLS = ("A01", "A02", "B01", "B02")
BROKEN = Field("SYN0001", "B01", 1).file_name(1)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    if not cellprofiler_installed():
        if os.environ.get("CI"):
            pytest.fail("CellProfiler is not installed; CI must run these tests")
        pytest.skip("CellProfiler is not installed here: run `make cellprofiler`")
    folder = tmp_path_factory.mktemp("plate")
    write_plate(folder, wells=4, sites=2)
    with LocalCloud(port=0, http_port=0, retry_delay=0) as running:
        assert running.settings is not None
        s3, bucket = aws.client("s3"), running.settings.data_bucket
        for path in sorted((folder / "images").iterdir()):
            s3.put_object(Bucket=bucket, Key=PREFIX + "images/" + path.name, Body=path.read_bytes())
        for name in ("platemap.csv", "load_data.csv"):
            s3.put_object(Bucket=bucket, Key=PREFIX + name, Body=(folder / name).read_bytes())
        for path in SAMPLES.glob("*.cppipe"):
            s3.put_object(Bucket=bucket, Key=PREFIX + path.name, Body=path.read_bytes())
        yield running


def bucket_of(cloud: LocalCloud) -> str:
    assert cloud.settings is not None
    return cloud.settings.data_bucket


def job_id(cloud: LocalCloud, body: dict[str, Any]) -> str:
    job = parse_job(0, body)
    assert isinstance(job, PaintingJob)
    return job.key(bucket_of(cloud))


def wait_for(cloud: LocalCloud, job: str, states: tuple[str, ...], timeout: float = 150) -> Any:
    def probe() -> dict[str, Any] | None:
        status = job_status(cloud, job)
        return status if status and status["state"] in states else None

    return eventually(probe, timeout=timeout, interval=0.5)


def get(cloud: LocalCloud, key: str) -> bytes:
    return bytes(aws.client("s3").get_object(Bucket=bucket_of(cloud), Key=key)["Body"].read())


def rows(cloud: LocalCloud, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(get(cloud, key).decode())))


def retry(cloud: LocalCloud, job: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{cloud.http_url}/painting/jobs/{job}/retry", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_plate_by_well_groups_retry_only_the_failed_group(cloud: LocalCloud) -> None:
    assert cloud.batch is not None
    s3, bucket = aws.client("s3"), bucket_of(cloud)
    good = get(cloud, PREFIX + "images/" + BROKEN)
    s3.put_object(Bucket=bucket, Key=PREFIX + "images/" + BROKEN, Body=b"not a TIFF")
    body = {
        "pipeline": PREFIX + "PlateAnalysis.cppipe",
        "input": PREFIX + "images/",
        "output": PREFIX + "results/",
        "group_by": ["Metadata_Plate", "Metadata_Well"],
        "platemap": PREFIX + "platemap.csv",
    }
    job = job_id(cloud, body)
    before = len(cloud.batch.submissions)
    send(cloud, body)
    failed = wait_for(cloud, job, ("failed", "succeeded"))
    names = [f"Metadata_Plate=SYN0001,Metadata_Well={w}" for w in WELLS]
    assert failed["state"] == "failed", failed
    assert failed["totals"] == {"pending": 0, "running": 0, "succeeded": 3, "failed": 1,
                                "dead": 0, "total": 4}  # fmt: skip
    assert failed["groups"][names[2]]["state"] == "failed"
    assert "CellProfiler exited" in failed["groups"][names[2]]["reason"]
    assert failed["groups"][names[0]]["objects"]["Nuclei"] > 0
    first = cloud.batch.submissions[before:]
    assert [s["arrayProperties"]["size"] for s in first if "arrayProperties" in s] == [4]
    assert len(first) == 2  # the groups' array and the merge
    inputs = json.loads(get(cloud, layout.group_prefix(body["output"], "Plate-SYN0001_Well-A01")
                            + layout.MANIFEST))["inputs"]  # fmt: skip
    assert len(inputs) == 6 and all("_A01_" in key for key in inputs)  # only its own images

    s3.put_object(Bucket=bucket, Key=PREFIX + "images/" + BROKEN, Body=good)
    status, answer = retry(cloud, job)
    assert status == 202 and answer["retried"] == [names[2]], answer
    again = cloud.batch.submissions[before + 2 :]
    assert len(again) == 2 and "arrayProperties" not in again[0]  # exactly 1 group (+ merge)
    done = wait_for(cloud, job, ("succeeded", "failed"))
    assert done["state"] == "succeeded", done
    assert done["totals"]["succeeded"] == 4

    plate = layout.plate_prefix(body["output"], "SYN0001")
    image = rows(cloud, plate + "Image.csv")
    assert [r["ImageNumber"] for r in image] == [str(n) for n in range(1, 9)]
    assert [r["Metadata_Well"] for r in image] == [w for w in WELLS for _ in (1, 2)]
    nuclei = rows(cloud, plate + "Nuclei.csv")
    assert len(nuclei) == sum(int(float(r["Count_Nuclei"])) for r in image)
    keys = {
        o["Key"][len(plate) :] for o in s3.list_objects_v2(Bucket=bucket, Prefix=plate)["Contents"]
    }
    for name in ("Image", "Nuclei", "Cells", "Cytoplasm", "single_cells"):
        assert f"{name}.parquet/part-00004.parquet" in keys, keys
    profiles = rows(cloud, plate + "profiles.csv")
    assert [(p["Metadata_Well"], p["Metadata_Treatment"]) for p in profiles] == [
        ("A01", "DMSO"), ("A02", "enlarge"), ("B01", "sparse"), ("B02", "DMSO")
    ]  # fmt: skip
    area = {p["Metadata_Well"]: float(p["Cells_AreaShape_Area"]) for p in profiles}
    assert area["A02"] > 1.5 * area["A01"]  # the "enlarge" well's cells are larger
    assert "profiles_feature_select.parquet" in keys and "profiles_normalized.csv" in keys
    for picture in ("cells_per_well.png", "plate_map.png"):
        assert get(cloud, plate + picture).startswith(b"\x89PNG")

    before = len(cloud.batch.submissions)
    send(cloud, body)  # a finished plate, sent again
    eventually(lambda: len(cloud.batch.submissions) == before and job_status(cloud, job), 5)
    assert len(cloud.batch.submissions) == before


def test_invalid_plate_submits_nothing_and_names_the_missing_file(cloud: LocalCloud) -> None:
    assert cloud.batch is not None
    s3, bucket = aws.client("s3"), bucket_of(cloud)
    text = get(cloud, PREFIX + "load_data.csv").decode()
    missing = Field("SYN0001", "A02", 2).file_name(3)
    s3.put_object(Bucket=bucket, Key=PREFIX + "bad_load_data.csv",
                  Body=text.replace(missing, "SYN0001_A02_s2_w3_GONE.tif").encode())  # fmt: skip
    body = {
        "pipeline": PREFIX + "PlateLoadData.cppipe",
        "input": PREFIX + "images/",
        "output": PREFIX + "bad/",
        "group_by": ["Metadata_Well"],
        "load_data": PREFIX + "bad_load_data.csv",
    }
    before = len(cloud.batch.submissions)
    send(cloud, body)
    rejected = wait_for(cloud, job_id(cloud, body), ("rejected",), timeout=30)
    assert (
        "1 files named in the LoadData CSV do not exist: SYN0001_A02_s2_w3_GONE.tif"
        in (rejected["reason"])
    )
    assert len(cloud.batch.submissions) == before


def test_load_data_plate_runs_by_groups(cloud: LocalCloud) -> None:
    s3, bucket = aws.client("s3"), bucket_of(cloud)
    lines = get(cloud, PREFIX + "load_data.csv").decode().splitlines()
    first_sites = ("SYN0001,A01,1,", "SYN0001,A02,1,")  # two wells, one site each: fast
    two_wells = [lines[0]] + [line for line in lines[1:] if line.startswith(first_sites)]
    s3.put_object(Bucket=bucket, Key=PREFIX + "two_wells.csv", Body="\n".join(two_wells).encode())
    body = {
        "pipeline": PREFIX + "PlateLoadData.cppipe",
        "input": PREFIX + "images/",
        "output": PREFIX + "loaddata/",
        "group_by": ["Metadata_Plate", "Metadata_Well"],
        "load_data": PREFIX + "two_wells.csv",
    }
    send(cloud, body)
    done = wait_for(cloud, job_id(cloud, body), ("succeeded", "failed", "rejected"))
    assert done["state"] == "succeeded", done
    assert done["totals"]["total"] == 2
    image = rows(cloud, layout.plate_prefix(body["output"], "SYN0001") + "Image.csv")
    assert [(r["Metadata_Well"], r["Metadata_Site"]) for r in image] == [("A01", "1"), ("A02", "1")]
