"""``lab bench console``: the console's figures — page weight, listing 1,000 results, first count.

1. Page weight: the bytes of the page's HTML, CSS and JS (no images).
2. A folder of 1,000 results: 1,000 uploads and their result documents in the
   local cloud (the documents are real counter results of generated images,
   copied under 1,000 names), then the server time of ``GET /console/api/images``
   (a page of 50) and of the plate summary: cold (no index yet), warm (nothing
   changed) and after 10 new results.
3. With ``--browser``: ``lab local`` started as a user would, then an image dropped
   on the page in headless Chromium until its count shows; seconds from the
   command's start.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from typing import Any

from chalicelib.config import PROJECT_DIR

RESULTS = 1000
WELLS = [f"{row}{col:02d}" for row in "ABCDEFGH" for col in range(1, 13)]


def page_weight() -> tuple[int, dict[str, int]]:
    from chalicelib.console.pages import page_weight as weights

    files = weights()
    return sum(files.values()), files


def _get(url: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = json.loads(response.read())
    return body, (time.perf_counter() - started) * 1e3


def seed_results(cloud: Any, prefix: str, count: int) -> None:
    """``count`` uploads under ``prefix`` with real result documents of the counter."""
    from chalicelib import aws
    from chalicelib.cells.container import CellCounter
    from chalicelib.cells.messages import CountRequest
    from devtools.local.persist import notifications_paused
    from devtools.synthetic.cells import nuclei

    s3, settings = aws.client("s3"), cloud.settings
    import cv2

    templates = []
    for seed in range(3):
        image = nuclei(8 + 4 * seed, shape=(128, 128), radius=(5.0, 8.0), seed=seed).image
        _ok, png = cv2.imencode(".png", image)
        key = f"_bench/template-{seed}.png"
        etag = s3.put_object(Bucket=settings.images_bucket, Key=key, Body=png.tobytes())["ETag"]
        document = CellCounter(settings, s3).process(
            CountRequest(settings.images_bucket, key, etag.strip('"'))
        )
        templates.append((png.tobytes(), document))
    with notifications_paused(s3, settings.images_bucket):  # copies, not uploads to count
        for n in range(count):
            _seed_one(s3, settings, prefix, n, templates[n % len(templates)])


def _seed_one(
    s3: Any, settings: Any, prefix: str, n: int, template: tuple[bytes, dict[str, Any]]
) -> None:
    from chalicelib.cells.messages import ResultKeys

    well, site = WELLS[n % len(WELLS)], n // len(WELLS) + 1
    key = f"{prefix}P1_{well}_s{site}.png"
    body, document = template
    etag = s3.put_object(Bucket=settings.images_bucket, Key=key, Body=body)["ETag"]
    copy = {**document, "key": key, "etag": etag.strip('"')}
    s3.put_object(
        Bucket=settings.results_bucket,
        Key=ResultKeys.for_image(key).result,
        Body=json.dumps(copy).encode(),
        ContentType="application/json",
    )


def _new_results(cloud: Any, prefix: str, count: int) -> int:
    """``count`` more results written the way the counter writes them (journal included)."""
    from chalicelib import aws
    from chalicelib.cells.container import CellCounter
    from chalicelib.cells.messages import CountRequest
    from devtools.local.persist import notifications_paused

    s3, settings = aws.client("s3"), cloud.settings
    body = (PROJECT_DIR / "samples" / "coins.png").read_bytes()
    with notifications_paused(s3, settings.images_bucket):
        for n in range(count):
            key = f"{prefix}P2_A{n + 1:02d}_s1.png"
            etag = s3.put_object(Bucket=settings.images_bucket, Key=key, Body=body)["ETag"]
            CellCounter(settings, s3).process(
                CountRequest(settings.images_bucket, key, etag.strip('"'))
            )
    return count


def listing_figures(prefix: str = "bench-plate/", count: int = RESULTS) -> list[str]:
    from devtools.local.cloud import LocalCloud

    lines = []
    with LocalCloud(port=0, http_port=0) as cloud:
        started = time.perf_counter()
        seed_results(cloud, prefix, count)
        lines.append(f"seeded {count} uploads + results in {time.perf_counter() - started:.1f} s")
        url = f"{cloud.http_url}/console/api/images?prefix={prefix}&per_page=50"
        cold, cold_wall = _get(url)
        warm = [_get(url) for _ in range(5)]
        fresh = _new_results(cloud, prefix, 10)
        changed, changed_wall = _get(url)
        assert changed["total"] == count + fresh, changed["total"]
        summary_url = f"{cloud.http_url}/console/api/summary?prefix={prefix}"
        summary = [_get(summary_url) for _ in range(3)]
        assert cold["total"] == count, cold["total"]
        lines += [
            f"GET /console/api/images ({count} results, page of 50):",
            f"  cold (no index yet): server {cold['elapsed_ms']:.0f} ms, wall {cold_wall:.0f} ms",
            "  warm: server median "
            f"{statistics.median(b['elapsed_ms'] for b, _ in warm):.0f} ms, wall median "
            f"{statistics.median(w for _, w in warm):.0f} ms",
            f"  after {fresh} new results (read from the journal): server "
            f"{changed['elapsed_ms']:.0f} ms, wall {changed_wall:.0f} ms",
            f"GET /console/api/summary ({len(summary[0][0]['wells'])} wells): server median "
            f"{statistics.median(b['elapsed_ms'] for b, _ in summary):.0f} ms",
        ]
    return lines


def first_count_in_browser(timeout: float = 120.0) -> list[str]:
    """``lab local`` from the start to the first image counted through the page."""
    from devtools.browser import chromium, unavailable
    from devtools.local.process import start_local

    reason = unavailable()
    if reason:
        return [f"first count through the page: skipped ({reason})"]
    from selenium.webdriver.common.by import By

    state = tempfile.mkdtemp(prefix="lab-local-state-")
    started = time.perf_counter()
    process, addresses, _lines = start_local(state)
    try:
        ready = time.perf_counter() - started
        if "console" not in addresses:
            return ["first count through the page: `lab local` printed no console URL"]
        browser = chromium()
        try:
            browser.get(addresses["console"] + "/")
            deadline = time.monotonic() + timeout
            while not browser.find_elements(By.CSS_SELECTOR, "input[type=file]"):
                time.sleep(0.1)
            opened = time.perf_counter() - started
            sample = PROJECT_DIR / "samples" / "coins.png"
            browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(sample))
            while not browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="ok"]'):
                if time.monotonic() > deadline:
                    return [f"first count through the page: none within {timeout:.0f} s"]
                time.sleep(0.1)
            counted = time.perf_counter() - started
        finally:
            browser.quit()
    finally:
        process.terminate()
        process.communicate(timeout=60)
        shutil.rmtree(state, ignore_errors=True)
    return [
        "from `lab local` to the first counted image through the page:",
        f"  ready after {ready:.1f} s, page open after {opened:.1f} s, "
        f"coins.png counted and listed after {counted:.1f} s",
    ]


def run(browser: bool = False) -> int:
    total, files = page_weight()
    print(f"page weight (no images): {total / 1024:.1f} KB "
          f"({', '.join(f'{n} {b / 1024:.1f} KB' for n, b in files.items())})")  # fmt: skip
    for line in listing_figures():
        print(line, flush=True)
    if browser:
        for line in first_count_in_browser():
            print(line, flush=True)
    return 0
