"""The console's pure parts: wells from names, per-well summaries, the XLSX writer, input checks."""

from __future__ import annotations

import io
import warnings

import pytest

from chalicelib.console import plates, xlsx
from chalicelib.console.handlers import count_parameters, paginate, plate_map, upload_key
from chalicelib.console.results import image_states, latest_by_image, summarise
from chalicelib.errors import InvalidInput


@pytest.mark.parametrize(
    ("name", "well"),
    [
        ("Plate1_B03_s2_w1.tif", "B03"),  # ImageXpress
        ("B3_01_1_1_DAPI_001.tif", "B03"),  # Cytation
        ("r02c03f01p01-ch1sk1fk1fl1.tiff", "B03"),  # Operetta / Phenix
        ("MFGTMP_140206180002_B03f00d0.TIF", "B03"),  # CellInsight
        ("exp/2024/P7_A01_s1.png", "A01"),  # a short plate name does not win
        ("AF48.png", "AF48"),  # 1536-well plates
        ("r16c24.tif", "P24"),
    ],
)
def test_wells_from_instrument_names(name: str, well: str) -> None:
    found = plates.well_of(name)
    assert found is not None and found.name == well


@pytest.mark.parametrize(
    "name",
    ["coins.png", "DATA01.tif", "img_s1_w1.tif", "A00.tif", "Q49.tif", "A01/x.png", "r00c01"],
)
def test_names_without_a_well(name: str) -> None:
    assert plates.well_of(name) is None


def test_per_well_totals_and_plate_grid() -> None:
    summaries = [
        {"key": "p/A01_1.png", "status": "ok", "count": 10, "reliable": True},
        {"key": "p/A01_2.png", "status": "ok", "count": 20, "reliable": False},
        {"key": "p/P24_1.png", "status": "ok", "count": 7},
        {"key": "p/B02_1.png", "status": "error", "reason": "empty"},
        {"key": "p/notes.png", "status": "ok", "count": 1},
    ]
    rows = plates.image_rows(summaries, "p/")
    wells = {w["well"]: w for w in plates.well_rows(rows)}
    assert wells["A01"]["total_count"] == 30 and wells["A01"]["sd_count"] == 7.07
    assert wells["A01"]["unreliable"] == 1 and wells["B02"]["errors"] == 1
    assert wells["B02"]["mean_count"] is None
    [plate] = plates.plates(list(wells.values()))
    assert plate["format"] == [16, 24]  # P24 needs a 384-well plate
    assert plate["grid"][0][0] == 15.0 and plate["grid"][15][23] == 7.0
    assert plate["grid"][1][1] is None


def test_xlsx_opens_in_openpyxl() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    data = xlsx.workbook(
        [
            ("Wells", [["well", "count", "note"], ["A01", 12, 'a < b & "c"'], ["B02", 3.5, None]]),
            ("Plate: 1/2", [["", 1, 2], ["A", 12, None]]),
            ("Wells", [["again"]]),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Wells", "Plate_ 1_2", "Wells~2"]
    rows = list(book["Wells"].iter_rows(values_only=True))
    assert rows == [("well", "count", "note"), ("A01", 12, 'a < b & "c"'), ("B02", 3.5, None)]
    assert book["Wells"]["A1"].font.b and not book["Wells"]["A2"].font.b
    assert xlsx.column_name(16383) == "XFD"  # Excel's last column


def test_xlsx_needs_a_sheet() -> None:
    with pytest.raises(ValueError):
        xlsx.workbook([])


def test_count_parameters_are_checked() -> None:
    assert count_parameters({"method": "hough", "diameter": 12, "image_type": "fluorescence"}) == (
        "hough",
        {"diameter": "12", "image_type": "fluorescence"},
    )
    for bad in (
        {"method": "rm -rf"},
        {"diameter": "big"},
        {"diameter": "0"},
        {"threshold_offset": "0.9"},
        {"image_type": "dark"},
        {"parameters": {"Bad-Name": "1"}},
        {"parameters": {"x": "9" * 65}},
    ):
        with pytest.raises(InvalidInput):
            count_parameters(bad)


def test_upload_keys_are_safe() -> None:
    assert upload_key("plate 1/", "A01 s1.tif") == "plate 1/A01_s1.tif"
    assert upload_key("/a//", "C:\\scans\\x.PNG") == "a/x.PNG"
    with pytest.raises(InvalidInput, match="not an image"):
        upload_key("", "notes.txt")


def test_names_without_ascii_letters_get_distinct_keys() -> None:
    # were refused as "not an image the counter reads" (the safe name became "png")
    first, second = upload_key("p", "漢字.png"), upload_key("p", "字.png")
    assert first.startswith("p/image-") and first.endswith(".png")
    assert first != second and upload_key("p", "漢字.png") == first
    assert upload_key("", "Zellen 漢字.tif") == "Zellen.tif"
    with pytest.raises(InvalidInput, match="not an image"):
        upload_key("", "漢字.txt")


def test_paginate_edges() -> None:
    assert paginate([], 1, 50) == {"items": [], "total": 0, "page": 1, "per_page": 50, "pages": 1}
    assert paginate(list(range(100)), 3, 50)["items"] == []


def test_summary_reads_qc_in_either_place_and_errors() -> None:
    top = summarise({"status": "ok", "count": 1, "warnings": ["w"], "reliable": True}, "r", "t")
    assert top["warnings"] == ["w"] and top["reliable"] is True
    error = summarise({"status": "error", "error": {"reason": "empty"}}, "r", "t")
    assert error["reason"] == "empty" and error["count"] is None


def test_uploads_join_their_newest_result() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    results = latest_by_image(
        [
            {
                "key": "a.png",
                "etag": "e1",
                "status": "ok",
                "updated": "1",
                "bucket": "img",
                "run": "r1",
                "result": "counts/a.png/runs/r1/result.json",
            },
            {
                "key": "a.png",
                "etag": "e1",
                "status": "ok",
                "updated": "2",
                "bucket": "img",
                "run": "r2",
                "result": "counts/a.png/runs/r2/result.json",
            },
            {
                "key": "a.png",
                "etag": "e1",
                "status": "ok",
                "updated": "2",
                "bucket": "img",
                "run": "r2",
                "result": "counts/a.png/result.json",
            },  # the upload's copy of r2
            {"key": "b.png", "etag": "old", "status": "ok", "updated": "1", "bucket": "img"},
            {"key": "gone.png", "etag": "x", "status": "ok", "updated": "1", "bucket": "img"},
            {"key": "c.png", "etag": "e3", "status": "ok", "updated": "1", "bucket": "chat"},
        ]
    )
    uploads = [
        {"Key": "a.png", "ETag": '"e1"', "LastModified": now},
        {"Key": "b.png", "ETag": '"new"', "LastModified": now - timedelta(seconds=5)},
        {"Key": "c.png", "ETag": '"e3"', "LastModified": now - timedelta(hours=1)},
    ]
    rows = {r["key"]: r for r in image_states(uploads, results, "img", now)}
    assert rows["a.png"]["updated"] == "2" and rows["a.png"]["versions"] == 2
    assert rows["a.png"]["result"] == "counts/a.png/runs/r2/result.json"
    assert rows["b.png"]["status"] == "counting"  # new bytes, the old result does not count
    assert rows["c.png"]["status"] == "no result"  # another bucket's result is not this upload's
    assert rows["gone.png"]["uploaded"] is None


def test_plate_map_of_painting_groups() -> None:
    found = plate_map(
        {
            "groups": {
                "Metadata_Plate=P1,Metadata_Well=A01": {"state": "succeeded"},
                "Metadata_Plate=P1,Metadata_Well=B02": {"state": "failed", "reason": "exit 3"},
                "batch-7": "pending",
            }
        }
    )
    assert found["format"] == [8, 12]
    assert found["wells"]["B02"]["reason"] == "exit 3"
    assert found["totals"] == {"succeeded": 1, "failed": 1, "pending": 1}
    assert [g["name"] for g in found["other"]] == ["batch-7"]
    assert plate_map({})["format"] is None
