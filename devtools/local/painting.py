"""The Cell Painting part of ``make demo``: the seed's ExampleVitra message, end to end.

Uploads the bundled ExampleVitra pipeline and images (``samples/painting``,
gzipped; decompressed on upload) to the data bucket under the seed's keys,
sends the seed's single-job message to the painting queue, waits for the job
through ``GET /painting/jobs/{id}`` and summarises CellProfiler's tables.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.config import PROJECT_DIR
from chalicelib.painting import layout
from devtools.local.batch import cellprofiler_installed
from devtools.transfer import wait_for_painting

SAMPLE = PROJECT_DIR / "samples" / "painting" / "ExampleVitraImages"
PREFIX = "examples/ExampleVitraImages/"
SEED_MESSAGE = {
    "pipeline": PREFIX + "ExampleVitra.cppipe",
    "input": PREFIX + "images/",
    "output": PREFIX + "output0/",
}


def upload_example(s3: Any, bucket: str, source: Path = SAMPLE, prefix: str = PREFIX) -> int:
    """Upload a sample folder (``.gz`` files decompressed); the number of objects."""
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.name != "README.md"):
        key = prefix + str(path.relative_to(source))
        body = path.read_bytes()
        if path.suffix == ".gz":
            key, body = key[: -len(".gz")], gzip.decompress(body)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        count += 1
    return count


def image_rows(s3: Any, bucket: str, output: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=bucket, Key=output + "Image.csv")["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def _count(row: dict[str, str], column: str) -> str:
    """CellProfiler writes counts as floats (``691.0``)."""
    try:
        return str(int(float(row.get(column, ""))))
    except ValueError:
        return row.get(column, "?")


def painting_demo(cloud: Any, timeout: float = 300.0) -> tuple[int, list[str]]:
    """Run the seed's ExampleVitra message if CellProfiler is installed: (exit code, lines)."""
    if not cellprofiler_installed():
        return 0, [
            "",
            "Cell Painting: skipped, CellProfiler is not installed here.",
            "  Enable it with `make cellprofiler` (Python 3.9 and a JDK; about a minute),",
            "  then `make demo` also runs the seed's ExampleVitra message through Batch",
            "  and CellProfiler.",
        ]
    return run_painting_demo(cloud, timeout)


def run_painting_demo(cloud: Any, timeout: float = 300.0) -> tuple[int, list[str]]:
    """Send the seed's ExampleVitra message; what CellProfiler measured, as lines."""
    settings, started = cloud.settings, time.perf_counter()
    s3, bucket = aws.client("s3"), settings.data_bucket
    count = upload_example(s3, bucket)
    job_id = layout.job_key(
        bucket, SEED_MESSAGE["pipeline"], SEED_MESSAGE["input"], SEED_MESSAGE["output"]
    )
    lines = [
        "",
        f"Cell Painting: uploaded {count} files to s3://{bucket}/{PREFIX}, sent the seed's "
        f"message to {settings.painting_queue}:",
        f"  {json.dumps(SEED_MESSAGE)}",
    ]
    aws.client("sqs").send_message(
        QueueUrl=cloud.provisioned.url(settings.painting_queue),
        MessageBody=json.dumps(SEED_MESSAGE),
    )
    status = wait_for_painting(cloud.http_url, job_id, timeout)
    elapsed = time.perf_counter() - started
    if not status or status.get("state") != "succeeded":
        state = (status or {}).get("state", "no status")
        reason = (status or {}).get("reason")
        return 1, [*lines, f"job {job_id}: {state} after {elapsed:.0f} s: {reason}"]
    lines.append(f"job {job_id} succeeded in {elapsed:.1f} s (GET /painting/jobs/{job_id}):")
    for row in image_rows(s3, bucket, SEED_MESSAGE["output"]):
        lines.append(
            f"  image set {row.get('ImageNumber')}: {_count(row, 'Count_Nuclei')} nuclei, "
            f"{_count(row, 'Count_Cells')} cells ({row.get('FileName_OrigProtein', '')})"
        )
    files = [url.rsplit("/", 1)[-1] for url in status["results"]["files"]]
    lines += [f"  results in {status['results']['output']}: {', '.join(files)}"]
    return 0, lines
