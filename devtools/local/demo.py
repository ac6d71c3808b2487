"""``make demo``: upload the bundled sample images to the local cloud and print counts.

Everything goes the way it would on AWS: upload to the images bucket, S3
notification, the Chalice S3 handler, an async invoke of the cell-counter
container function, results in the results bucket, read back through the
``GET /counts`` HTTP route.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.cells.messages import ResultKeys
from devtools.local.cloud import LocalCloud
from devtools.local.painting import painting_demo
from devtools.local.tour import faces_demo, workers_demo

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".txt", ".bin"}


def fetch_result(base_url: str, key: str) -> dict[str, Any] | None:
    url = f"{base_url}/counts?key={urllib.parse.quote(key)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def wait_for_results(base_url: str, etags: dict[str, str], timeout: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(etags) and time.monotonic() < deadline:
        for key, etag in etags.items():
            if key not in results:
                found = fetch_result(base_url, key)
                if found is not None and found.get("etag") == etag:
                    results[key] = found
        time.sleep(0.2)
    return results


def run_demo(samples: Path, out: Path, timeout: float = 120.0) -> int:
    files = sorted(p for p in samples.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    truth_file = samples / "truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
    # Per-image upload metadata (e.g. coins are counted with the Hough method).
    metadata_file = samples / "metadata.json"
    metadata = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
    started = time.perf_counter()
    with LocalCloud(http_port=0) as cloud:
        assert cloud.settings is not None and cloud.http_url is not None
        s3 = aws.client("s3")
        print(
            f"local cloud up in {time.perf_counter() - started:.1f} s at {cloud.endpoint}; "
            f"uploading {len(files)} images to s3://{cloud.settings.images_bucket}/samples/"
        )
        etags = {}
        for path in files:
            key = f"samples/{path.name}"
            put = s3.put_object(
                Bucket=cloud.settings.images_bucket,
                Key=key,
                Body=path.read_bytes(),
                Metadata=metadata.get(path.name, {}),
            )
            etags[key] = put["ETag"].strip('"')
        results = wait_for_results(cloud.http_url, etags, timeout)
        out.mkdir(parents=True, exist_ok=True)
        rows = [
            _row(key, results.get(key), cloud.settings.results_bucket, s3, out, truth)
            for key in etags
        ]
        counted = time.perf_counter()
        painting_code, painting_lines = painting_demo(cloud)  # the seed's ExampleVitra message
        faces_code, faces_lines = faces_demo(cloud, out)
        workers_code, workers_lines = workers_demo(cloud)
    _print_table(rows)
    missing = [key for key in etags if key not in results]
    print(
        f"\n{len(results)}/{len(etags)} results in {counted - started:.1f} s; "
        f"annotated images copied to {out}/"
    )
    print("\n".join(painting_lines + faces_lines + workers_lines))
    if missing:
        print(f"no result within {timeout:.0f} s for: {', '.join(missing)}")
        return 1
    return painting_code or faces_code or workers_code


def _row(
    key: str, result: dict[str, Any] | None, bucket: str, s3: Any, out: Path, truth: dict[str, int]
) -> list[str]:
    name = key.rsplit("/", 1)[-1]
    expected = str(truth.get(name, ""))
    if result is None:
        return [name, "missing", "", expected, "", "no result (timed out)"]
    if result["status"] != "ok":
        return [name, "error", "", expected, "", result["error"]["reason"]]
    annotated = ResultKeys.for_image(key).annotated
    local = out / (Path(name).stem + ".annotated" + Path(annotated).suffix)
    local.write_bytes(s3.get_object(Bucket=bucket, Key=annotated)["Body"].read())
    size = f"{result['width']}x{result['height']}"
    return [
        name,
        "ok",
        str(result["count"]),
        expected,
        f"{result['elapsed_ms']:.0f}",
        f"{size}  {result['method']}  s3://{bucket}/{annotated} -> {local}",
    ]


def _print_table(rows: list[list[str]]) -> None:
    header = ["image", "status", "cells", "truth", "ms", "size, method, annotated image / reason"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i in (2, 3, 4) else row[i].ljust(widths[i]) for i in range(5)
        ]
        print("  ".join([*cells, row[5]]))
