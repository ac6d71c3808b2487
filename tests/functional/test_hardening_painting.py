"""Cell Painting hardening: object keys never choose a path on disk; bad messages are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.painting import layout
from chalicelib.painting.container import RunnerConfig, UnsafeKey, local_path, run_shard
from chalicelib.painting.messages import MAX_JOBS_PER_MESSAGE, InvalidJob, parse_body
from chalicelib.storage import Bucket

BUCKET = "lab-test-data"


@pytest.fixture
def s3(moto: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def config(tmp_path: Path) -> RunnerConfig:
    return RunnerConfig(
        job_id="cp-test",
        bucket=BUCKET,
        pipeline="P/p.cppipe",
        input="P/images/",
        output="P/out/",
        cellprofiler=str(tmp_path / "no-cellprofiler"),
    )


@pytest.mark.parametrize(
    "escape",
    [
        "/{outside}/x.txt",  # P/images//<abs dir>/x.txt: a doubled slash makes it absolute
        "../../../../../../../../../..{outside}/x.txt",
        "a/../../../../../../../../../../..{outside}/x.txt",
    ],
)
def test_an_object_key_cannot_write_outside_the_work_dir(
    s3: Any, tmp_path: Path, escape: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    s3.put_object(Bucket=BUCKET, Key="P/p.cppipe", Body=b"CellProfiler Pipeline")
    s3.put_object(Bucket=BUCKET, Key="P/images/a.tif", Body=b"tiff")
    s3.put_object(Bucket=BUCKET, Key="P/images/" + escape.format(outside=outside), Body=b"owned")

    code = run_shard(config(tmp_path), Bucket(s3, BUCKET))

    assert not (outside / "x.txt").exists()
    assert code == layout.EXIT_FAILED  # the data is wrong: not retried by Batch
    status = json.loads(
        s3.get_object(Bucket=BUCKET, Key="P/out/" + layout.OUTPUT_STATUS)["Body"].read()
    )
    assert status["state"] == "failed"
    assert "refused" in status["reason"] or "outside" in status["reason"]


@pytest.mark.parametrize(
    "relative", ["", "a//b", "/abs", "..", "a/../b", "./a", "a\\..\\b", "a/\0b", "a/"]
)
def test_local_path_refuses_every_path_trick(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafeKey):
        local_path(tmp_path, relative)


def test_local_path_refuses_a_symlink_out(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeKey):
        local_path(tmp_path / "work", "link/x")
    assert (
        local_path(tmp_path / "work", "plate 1/A01.tif")
        == tmp_path / "work" / "plate 1" / "A01.tif"
    )


@pytest.mark.parametrize("field", ["output", "input"])
@pytest.mark.parametrize("root", ["/", "//", " / "])
def test_the_bucket_root_is_no_folder(field: str, root: str) -> None:
    job = {"pipeline": "p.cppipe", "input": "in/", "output": "out/", field: root}
    (parsed,) = parse_body(json.dumps(job))
    assert isinstance(parsed, InvalidJob)
    assert "bucket root" in parsed.reason


def test_jobs_per_message_are_capped() -> None:
    jobs = [
        {"pipeline": "p.cppipe", "input": f"in{i}/", "output": f"out{i}/"}
        for i in range(MAX_JOBS_PER_MESSAGE + 1)
    ]
    (parsed,) = parse_body(json.dumps(jobs))
    assert isinstance(parsed, InvalidJob)
    assert f"limit is {MAX_JOBS_PER_MESSAGE}" in parsed.reason
    assert len(parse_body(json.dumps(jobs[:MAX_JOBS_PER_MESSAGE]))) == MAX_JOBS_PER_MESSAGE


def test_a_deeply_nested_message_is_refused_not_raised() -> None:
    (parsed,) = parse_body("[" * 20000 + "]" * 20000)
    assert isinstance(parsed, InvalidJob)
    assert "nested" in parsed.reason


@pytest.mark.parametrize(
    "field", ["shards", "sets_per_shard", "image_sets", "job_memory", "job_vcpu"]
)
def test_a_number_too_big_for_a_float_is_refused_and_its_batch_mates_parsed(field: str) -> None:
    # 400 digits: JSON's int, which float() cannot take (OverflowError, not ValueError):
    # the message was retried until it was dead-lettered, its good jobs with it.
    good = '{"pipeline": "p.cppipe", "input": "in/", "output": "out/"}'
    huge = good.replace("out/", "o2/").replace("}", f', "{field}": {"9" * 400}}}')
    first, second = parse_body(f"[{huge}, {good}]")
    assert isinstance(first, InvalidJob) and field in first.reason
    assert not isinstance(second, InvalidJob)


def test_a_float_that_is_not_finite_is_named_so() -> None:
    body = '{"pipeline": "p.cppipe", "input": "in/", "output": "out/", "job_vcpu": NaN}'
    (parsed,) = parse_body(body)
    assert isinstance(parsed, InvalidJob)
    assert "job_vcpu must be a finite number" in parsed.reason


@pytest.mark.parametrize(
    "field, value",
    [
        ("pipeline", "p\\ud800.cppipe"),
        ("input", "in\\udc80/"),
        ("output", "out\\ud800/"),
        ("load_data", "ld\\ud800.csv"),
        ("platemap", "pm\\ud800.csv"),
        ("job_queue", "q\\ud800"),
        ("pipeline", "p/" + "x" * 1030 + ".cppipe"),
        ("output", "o/" + "x" * 1030),
    ],
)
def test_a_field_s3_cannot_take_is_refused_and_its_batch_mates_parsed(field, value) -> None:
    # JSON spells a lone surrogate as \\ud800; the job key's sha256 (and botocore) cannot
    # encode it: UnicodeEncodeError retried the whole message into the DLQ, good jobs with it.
    # A key over S3's 1,024 bytes was S3's 400, retried the same way.
    good = '{"pipeline": "p.cppipe", "input": "in/", "output": "out/"}'
    bad = json.loads(good.replace("out/", "o2/"))
    if field in ("load_data", "platemap"):
        bad["group_by"] = ["Metadata_Well"]
    bad[field] = "@VALUE@"
    first, second = parse_body(f"[{json.dumps(bad).replace('@VALUE@', value)}, {good}]")
    assert isinstance(first, InvalidJob) and field in first.reason
    assert "surrogate" in first.reason or "1,024" in first.reason
    assert first.output in (None, "o2/")  # where its status is mirrored: only a usable prefix
    assert not isinstance(second, InvalidJob)
