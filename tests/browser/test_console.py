"""The lab console in a real browser: upload, count, overlay, recount, plate export,
a Cell Painting job and a blurred video, each through the page."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chalicelib import aws
from tests.browser.conftest import screenshot, wait_for
from tests.conftest import ROOT
from tests.images import discs, encode

pytestmark = pytest.mark.integration

COINS = ROOT / "samples" / "coins.png"


def by_css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def visit(browser: Any, cloud: Any, route: str) -> None:
    browser.get(f"{cloud.http_url}/#/{route}")
    # a hash change alone does not reload the page: force the route to render fresh
    browser.refresh()


def api(cloud: Any, path: str) -> Any:
    with urllib.request.urlopen(f"{cloud.http_url}/{path}", timeout=10) as response:
        return json.loads(response.read())


def api_or_none(cloud: Any, path: str) -> Any:
    try:
        return api(cloud, path)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def page_error(browser: Any) -> str:
    [box] = by_css(browser, "#error")
    return str(box.text)


def drop_file(browser: Any, path: Path) -> None:
    """Drop a file on the drop zone as a user dragging it from the desktop would."""
    data = base64.b64encode(path.read_bytes()).decode()
    browser.execute_script(
        """
        const [data, name] = arguments;
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "image/png" }));
        const zone = document.getElementById("drop");
        for (const type of ["dragenter", "dragover", "drop"]) {
          zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true }));
        }
        """,
        data,
        path.name,
    )


def shown_count(browser: Any) -> int:
    return int(by_css(browser, "#count")[0].text)


def test_upload_through_the_page_shows_count_and_overlay(driver: Any, cloud: Any) -> None:
    visit(driver, cloud, "images")
    wait_for(lambda: by_css(driver, "#drop"), what="the drop zone")
    by_css(driver, "input[name=diameter]")[0].send_keys("40")
    drop_file(driver, COINS)
    row = wait_for(
        lambda: by_css(driver, 'tr[data-key="coins.png"][data-status="ok"]'),
        timeout=60,
        what="the counted image in the live list",
    )[0]
    count = int(row.find_elements("css selector", "td")[3].text)
    stored = api(cloud, "counts?key=coins.png")
    assert count == stored["count"] > 0
    assert float(stored["parameters"]["diameter"]) == 40  # the form's parameter went as metadata
    thumb = "const i = document.querySelector('img.thumb'); return i && i.naturalWidth > 0"
    wait_for(lambda: driver.execute_script(thumb), what="the thumbnail")
    screenshot(driver, "images")

    row.find_element("css selector", "a").click()
    wait_for(lambda: by_css(driver, "#count"), what="the image view")
    assert shown_count(driver) == count
    loaded = "const i = document.getElementById(arguments[0]); return i && i.naturalWidth > 0"
    wait_for(lambda: driver.execute_script(loaded, "annotated"), what="the annotated overlay")
    wait_for(lambda: driver.execute_script(loaded, "original"), what="the original image")
    screenshot(driver, "image-overlay")
    by_css(driver, "#overlay-toggle")[0].click()
    hidden = driver.execute_script("return getComputedStyle(annotated).visibility")
    assert hidden == "hidden"
    by_css(driver, "#overlay-toggle")[0].click()
    assert f"Cells ({count})" in driver.page_source
    table = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('cells-csv').href).then(r => r.text()).then(done);"
    )
    rows = list(csv.DictReader(io.StringIO(table)))
    counted = [r for r in rows if r.get("Counted", "1") == "1"]  # flagged objects are listed too
    assert len(counted) == count and "ObjectNumber" in rows[0]
    assert page_error(driver) == ""


def test_recount_writes_a_new_result_without_uploading(driver: Any, cloud: Any) -> None:
    key = "recount/coins.png"
    aws.client("s3").put_object(
        Bucket=cloud.settings.images_bucket, Key=key, Body=COINS.read_bytes()
    )
    before = wait_for(lambda: api_or_none(cloud, f"counts?key={key}"), what="the first count")
    visit(driver, cloud, f"image?key={key}")
    wait_for(lambda: by_css(driver, "#count"), what="the image view")
    objects = aws.client("s3").list_objects_v2(Bucket=cloud.settings.images_bucket)["KeyCount"]
    diameter = by_css(driver, "#recount input[name=diameter]")[0]
    diameter.clear()
    diameter.send_keys("25")
    by_css(driver, "#recount button")[0].click()

    def recounted() -> Any:
        now = api(cloud, f"counts?key={key}")
        return now if float(now["parameters"].get("diameter", 0)) == 25 else None

    after = wait_for(recounted, timeout=60, what="the recount's result")
    assert after["etag"] == before["etag"]  # the same bytes, counted again
    wait_for(lambda: "diameter 25" in driver.page_source, what="the page showing the new result")
    assert shown_count(driver) == after["count"]
    assert (
        aws.client("s3").list_objects_v2(Bucket=cloud.settings.images_bucket)["KeyCount"] == objects
    )  # nothing uploaded again
    screenshot(driver, "image-recounted")


PLATE = {  # file name -> number of nuclei drawn
    "plate7/P7_A01_s1.png": 3,
    "plate7/P7_A01_s2.png": 5,
    "plate7/P7_A02_s1.png": 2,
    "plate7/P7_B03_s1.png": 6,
    "plate7/P7_H12_s1.png": 4,
}


def _nuclei(n: int) -> np.ndarray:
    centres = [(30 + 45 * (i % 4), 30 + 60 * (i // 4)) for i in range(n)]
    return discs((160, 200), centres=centres, radius=12)


def test_plate_summary_heatmap_and_exports(driver: Any, cloud: Any, downloads: Path) -> None:
    s3 = aws.client("s3")
    for key, n in PLATE.items():
        s3.put_object(Bucket=cloud.settings.images_bucket, Key=key, Body=encode(_nuclei(n), ".png"))

    def all_counted() -> bool:
        listing = api(cloud, "console/api/images?prefix=plate7/")
        return listing["states"].get("ok") == len(PLATE)

    wait_for(all_counted, timeout=60, what="the plate's results")
    visit(driver, cloud, "folders?prefix=plate7/")
    wait_for(lambda: by_css(driver, '[data-well="A01"]'), what="the plate heatmap")
    assert by_css(driver, '[data-well="A01"]')[0].text == "4"  # mean of 3 and 5
    screenshot(driver, "folders-plate")

    by_css(driver, "#export-xlsx")[0].click()
    workbook_path = wait_for(lambda: next(downloads.glob("*.xlsx"), None), what="the XLSX")
    by_css(driver, "#export-wells-csv")[0].click()
    csv_path = wait_for(lambda: next(downloads.glob("*wells.csv"), None), what="the CSV")
    time.sleep(0.3)  # let Chromium finish writing

    import openpyxl

    sheet = openpyxl.load_workbook(workbook_path)["Wells"]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    wells = {r[header.index("well")]: r for r in rows}
    assert set(wells) == {"A01", "A02", "B03", "H12"}
    assert wells["A01"][header.index("total_count")] == 8
    assert wells["A01"][header.index("images")] == 2
    from_csv = {r["well"]: r for r in csv.DictReader(io.StringIO(csv_path.read_text()))}
    assert from_csv["B03"]["total_count"] == "6" and from_csv["H12"]["mean_count"] == "4.0"
    assert page_error(driver) == ""


def test_painting_job_and_its_outputs(driver: Any, cloud: Any) -> None:
    from chalicelib.painting import layout
    from tests.painting import upload_dataset

    s3, bucket = aws.client("s3"), cloud.settings.data_bucket
    job = upload_dataset(s3, bucket, "browser/plate/", sets=3)
    aws.client("sqs").send_message(
        QueueUrl=cloud.provisioned.url(cloud.settings.painting_queue), MessageBody=json.dumps(job)
    )
    job_id = layout.job_key(bucket, job["pipeline"], job["input"], job["output"])
    visit(driver, cloud, "painting")
    link = wait_for(lambda: by_css(driver, f'a[href="#/painting/{job_id}"]'), what="the job")
    link[0].click()
    wait_for(lambda: by_css(driver, "#job .s-succeeded"), timeout=60, what="the job succeeding")
    names = [a.text for a in by_css(driver, "#outputs a")]
    assert "Image.csv" in names
    href = by_css(driver, "#outputs a")[names.index("Image.csv")].get_attribute("href")
    with urllib.request.urlopen(href, timeout=10) as response:  # a working presigned link
        assert b"ImageNumber" in response.read().splitlines()[0]
    screenshot(driver, "painting-job")


def test_blurred_video_beside_the_original(driver: Any, cloud: Any, tmp_path: Path) -> None:
    from tests.videos import moving_face

    source = tmp_path / "lab-visit.mp4"
    moving_face(source, frames=30, size=(320, 240), fps=15.0)
    aws.client("s3").upload_file(str(source), cloud.settings.videos_bucket, "visits/lab-visit.mp4")
    visit(driver, cloud, "videos")
    wait_for(
        lambda: by_css(driver, 'a[href="#/video?key=visits%2Flab-visit.mp4"]'), what="the video"
    )[0].click()
    wait_for(lambda: by_css(driver, "#blurred-video"), timeout=90, what="the blurred video")
    playable = "const v = document.getElementById(arguments[0]); return v && v.readyState >= 1"
    wait_for(lambda: driver.execute_script(playable, "blurred-video"), what="its metadata")
    wait_for(lambda: driver.execute_script(playable, "original-video"), what="the original")
    states = [s.text for s in by_css(driver, "#states span")]
    assert states and "ok" in by_css(driver, "#video-status")[0].text
    driver.execute_script(
        "for (const v of document.querySelectorAll('video')) v.currentTime = 1.0;"
    )
    time.sleep(0.5)
    screenshot(driver, "video")


def test_chat_jobs_and_prediction(driver: Any, cloud: Any) -> None:
    visit(driver, cloud, "predict")
    inputs = wait_for(lambda: by_css(driver, "form input[type=number]"), what="the form")
    assert len(inputs) == 5
    for field, value in zip(inputs, ("0.07951", "24.86", "26.58", "1866", "0.1789"), strict=True):
        field.send_keys(value)
    by_css(driver, "form button")[0].click()
    answer = wait_for(lambda: by_css(driver, "#prediction strong"), what="the answer")
    assert "probability" in by_css(driver, "#prediction")[0].text and answer[0].text
    screenshot(driver, "predict")

    visit(driver, cloud, "jobs")
    wait_for(lambda: by_css(driver, "select[name=task]"), what="the jobs view")
    by_css(driver, "select[name=task]")[0].send_keys("count-cells")
    by_css(driver, "input[name=input]")[0].send_keys(
        f"s3://{cloud.settings.images_bucket}/coins.png"
    )
    by_css(driver, "form button")[0].click()
    wait_for(lambda: "cells (" in driver.page_source, timeout=60, what="the job's reply")
    screenshot(driver, "chat-jobs")


def test_errors_show_the_api_reason(driver: Any, cloud: Any) -> None:
    visit(driver, cloud, "painting/cp-doesnotexist")
    text = wait_for(lambda: page_error(driver), what="the error banner")
    assert "404" in text and "no painting job cp-doesnotexist" in text
