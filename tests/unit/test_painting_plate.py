"""Plates split by metadata: grouping, validation, group states, plate pictures, merged tables."""

from __future__ import annotations

import csv
import io
import zlib
from pathlib import Path

import pytest
from PIL import Image

from chalicelib.painting import groups, pipeline, plate, platemap, tables
from devtools.synthetic.plate import REGEX, Field, fields

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "painting" / "plate"
PREFIX = "plates/SYN0001/images/"


def plate_keys(wells: int = 4, sites: int = 2, drop: tuple[str, ...] = ()) -> list[str]:
    names = [f.file_name(c) for f in fields("SYN0001", wells, sites) for c in (1, 2, 3)]
    return [PREFIX + n for n in names if not n.startswith(drop)] + [PREFIX + "notes.txt"]


def load_data(rows: list[Field], path: str = "/mnt/imagexpress/SYN0001/") -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Metadata_Plate", "Metadata_Well", "Metadata_Site", "FileName_OrigDNA",
                     "PathName_OrigDNA", "FileName_OrigAGP", "PathName_OrigAGP"])  # fmt: skip
    for f in rows:
        writer.writerow([f.plate, f.well, f.site, f.file_name(1), path, f.file_name(2), path])
    return out.getvalue()


def test_file_names_group_by_well() -> None:
    found = plate.plan_plate(
        keys=plate_keys(), input_prefix=PREFIX, group_by=["Plate", "Well"], regex=REGEX
    )
    assert found.problems == ()
    assert [g.name for g in found.groups] == [
        f"Metadata_Plate=SYN0001,Metadata_Well={w}" for w in ("A01", "A02", "B01", "B02")
    ]
    assert found.summary()["sites"] == 8 and found.channels == ("1", "2", "3")
    assert all(len(g.keys) == 6 for g in found.groups)  # 2 sites x 3 channels, nothing else
    assert found.groups[0].folder == "Plate-SYN0001_Well-A01"


def test_any_metadata_can_group_and_sites_sort_numerically() -> None:
    found = plate.plan_plate(keys=plate_keys(2, 11), input_prefix=PREFIX, group_by=["Site"],
                             regex=REGEX)  # fmt: skip
    assert [g.key[0][1] for g in found.groups] == [str(n) for n in range(1, 12)]
    assert all(len(g.sites) == 2 for g in found.groups)


def test_a_missing_channel_is_named() -> None:
    lacking = Field("SYN0001", "B01", 2).file_name(3)
    keys = [k for k in plate_keys() if not k.endswith(lacking)]
    found = plate.plan_plate(keys=keys, input_prefix=PREFIX, group_by=["Well"], regex=REGEX)
    assert found.problems == ("1 of 8 sites lack a channel: Plate=SYN0001 Well=B01 Site=2 lacks 3",)


@pytest.mark.parametrize(
    ("regex", "problem"),
    [
        ("(?P<Well>[A-P", "not a valid regular expression"),
        ("_s[0-9]_w[0-9]", "no named groups"),
        ("(?P<Well>[A-P][0-9]{2})", "no channel group"),
        ("^(?P<Well>Z[0-9]{2})_w(?P<Channel>[0-9])", "no image under the input prefix matches"),
    ],
)
def test_bad_regex(regex: str, problem: str) -> None:
    found = plate.plan_plate(keys=plate_keys(), input_prefix=PREFIX, group_by=[], regex=regex)
    assert found.groups == () and problem in found.problems[0]


def test_group_values_must_be_nameable_by_dash_g() -> None:
    keys = [k.replace("SYN0001_", "SYN,0001_") for k in plate_keys()]
    regex = REGEX.replace("[^_]+", ".+?")
    found = plate.plan_plate(keys=keys, input_prefix=PREFIX, group_by=["Plate"], regex=regex)
    assert (
        "metadata values with , or = cannot name a group: Metadata_Plate=SYN,0001"
        in (found.problems[0])
    )


def test_unknown_group_name() -> None:
    found = plate.plan_plate(keys=plate_keys(), input_prefix=PREFIX, group_by=["Row"], regex=REGEX)
    assert found.groups == ()
    assert "group_by names no metadata of the images: Metadata_Row" in found.problems[0]


def test_load_data_lists_missing_files_by_name() -> None:
    rows = fields("SYN0001", 4, 2)
    gone = rows[3].file_name(2)
    keys = [k for k in plate_keys() if not k.endswith(gone)]
    found = plate.plan_plate(
        keys=keys, input_prefix=PREFIX, group_by=["Well"], load_data=load_data(rows)
    )
    assert found.problems[0] == f"1 files named in the LoadData CSV do not exist: {gone}"
    assert "A02 Site=2 lacks OrigAGP" in found.problems[1]


def test_load_data_paths_are_rewritten_for_one_group() -> None:
    rows = fields("SYN0001", 4, 2)
    found = plate.plan_plate(
        keys=plate_keys(), input_prefix=PREFIX, group_by=["Well"], load_data=load_data(rows)
    )
    assert found.problems == () and found.channels == ("OrigAGP", "OrigDNA")
    group = found.group("Metadata_Well=A02")
    text = plate.rewrite_load_data(found.header, group.sites, dict.fromkeys(group.keys, "/w/in"))
    written = list(csv.DictReader(io.StringIO(text)))
    assert [r["Metadata_Site"] for r in written] == ["1", "2"]
    assert {r["PathName_OrigDNA"] for r in written} == {"/w/in"}
    assert written[0]["FileName_OrigAGP"] == rows[2].file_name(2)


def test_load_data_s3_paths_and_same_names_in_two_folders() -> None:
    text = "FileName_DNA,PathName_DNA,Metadata_Well\na.tif,s3://data/in/p2,A01\na.tif,/x/p1,A02\n"
    keys = ["in/p1/a.tif", "in/p2/a.tif"]
    sites, _, problems = plate.parse_load_data(text, "in/", keys, bucket="data")
    assert problems == []
    assert [s.files for s in sites] == [(("DNA", "in/p2/a.tif"),), (("DNA", "in/p1/a.tif"),)]


def test_the_sample_pipelines_say_how_they_group() -> None:
    grouped = pipeline.inspect_pipeline((SAMPLES / "PlateAnalysis.cppipe").read_text())
    assert pipeline.pipeline_problems(grouped) == []
    assert plate.pipeline_regex(grouped) == REGEX
    assert plate.pipeline_grouping(grouped) == ("Metadata_Plate", "Metadata_Well")
    loaded = pipeline.inspect_pipeline((SAMPLES / "PlateLoadData.cppipe").read_text())
    assert plate.uses_load_data(loaded) and plate.pipeline_regex(loaded) is None
    assert plate.pipeline_grouping(loaded) == ("Metadata_Plate", "Metadata_Well")
    assert pipeline.expected_outputs(loaded) == ["Image.csv"]


def test_group_downloads_only_its_images() -> None:
    found = plate.plan_plate(keys=plate_keys(), input_prefix=PREFIX, group_by=["Well"], regex=REGEX)
    paths = [path for _, path in plate.group_downloads(found.groups[1], PREFIX)]
    assert len(paths) == 6 and all(p.startswith("SYN0001_A02_") for p in paths)


# -- group states --------------------------------------------------------------------------
def test_group_states_from_manifest_and_batch() -> None:
    ok = {"status": "succeeded", "objects": {"Nuclei": 3}, "durations_s": {"total": 40}}
    failed = {"status": "failed", "reason": "CellProfiler exited with code 1", "submission": 1}
    assert groups.group_state(ok, {"status": "FAILED"}).state == "succeeded"  # check-if-done
    assert groups.group_state(failed, {"status": "RUNNING"}, attempt=2).state == "running"
    assert groups.group_state(failed, {"status": "FAILED"}, attempt=1).reason == failed["reason"]
    dead = groups.group_state(failed, {"status": "FAILED", "statusReason": "OOM"}, attempt=2)
    assert (dead.state, dead.reason) == ("dead", "OOM")  # the retry died before recording
    assert groups.group_state(None, None).state == "pending"
    assert groups.group_state(None, {"status": "SUCCEEDED"}).state == "dead"


def test_only_failed_and_dead_groups_are_retried() -> None:
    states = {
        "a": groups.GroupState("succeeded", seconds=30),
        "b": groups.GroupState("failed", "x"),
        "c": groups.GroupState("dead", "y"),
        "d": groups.GroupState("running"),
    }
    assert groups.to_retry(states) == ["b", "c"]
    assert groups.totals(states)["total"] == 4
    assert groups.estimate_finish(states, now=100, started=0, parallel=1) == 130.0
    assert groups.estimate_finish({"a": states["a"]}, now=100, started=0, parallel=1) is None


# -- pictures -------------------------------------------------------------------------------
def decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(png)).convert("RGB")


def well_pixel(image: Image.Image, well: str) -> tuple[int, int, int]:
    row, column = platemap.well_position(well) or (0, 0)
    x = platemap.MARGIN + column * platemap.CELL + platemap.CELL // 2
    y = platemap.MARGIN + row * platemap.CELL + platemap.CELL // 2
    return image.getpixel((x, y))  # type: ignore[return-value]


def test_state_map_colours_each_well() -> None:
    image = decode(platemap.state_map({"A01": "succeeded", "B02": "failed", "H12": "dead"}))
    assert image.size[0] == platemap.MARGIN + 12 * platemap.CELL + 2  # a 96-well plate
    assert well_pixel(image, "A01") == platemap.STATE_COLOURS["succeeded"]
    assert well_pixel(image, "B02") == platemap.STATE_COLOURS["failed"]
    assert well_pixel(image, "A02") == platemap.EMPTY


def test_heatmap_spans_a_384_well_plate() -> None:
    image = decode(platemap.heatmap({"A01": 10, "P24": 30, "C03": 20}))
    assert image.size[0] == platemap.MARGIN + 24 * platemap.CELL + 2
    assert well_pixel(image, "A01") == platemap.ramp(0.0)
    assert well_pixel(image, "P24") == platemap.ramp(1.0)
    assert well_pixel(image, "C03") == platemap.ramp(0.5)


def test_png_chunks_carry_valid_checksums() -> None:
    png = platemap.state_map({})
    length = int.from_bytes(png[8:12], "big")
    kind, data = png[12:16], png[16 : 16 + length]
    assert kind == b"IHDR"
    assert int.from_bytes(png[16 + length : 20 + length], "big") == zlib.crc32(kind + data)


# -- merged tables -----------------------------------------------------------------------------
def test_streamed_merge_numbers_image_sets_plate_wide() -> None:
    a = "ImageNumber,ObjectNumber,Area\n1,1,5\n2,1,6\n"
    b = "ImageNumber,ObjectNumber,Area,Extra\n1,1,7,x\n"
    columns = tables.union_columns([["ImageNumber", "ObjectNumber", "Area"],
                                    ["ImageNumber", "ObjectNumber", "Area", "Extra"]])  # fmt: skip
    starts = tables.offsets([2, 1])
    parts = [
        (tables.GroupTable("a", starts[0], 1), csv.reader(io.StringIO(a))),
        (tables.GroupTable("b", starts[1], 2), csv.reader(io.StringIO(b))),
    ]
    out = io.StringIO()
    assert tables.merge_csv(iter(parts), columns, out) == 3
    assert out.getvalue().splitlines() == [
        "ImageNumber,ObjectNumber,Area,Extra",
        "1,1,5,",
        "2,1,6,",
        "3,1,7,x",
    ]


def test_tables_and_cytotable_names() -> None:
    assert tables.table_name("prefix_Cytoplasm.csv") == "Cytoplasm"
    assert tables.cytotable_name("Nuclei", "Parent_Cells") == "Metadata_Nuclei_Parent_Cells"
    assert tables.cytotable_name("Image", "ImageNumber") == "Metadata_ImageNumber"
    assert tables.cytotable_name("Image", "Metadata_Plate") == "Metadata_Plate"
    assert tables.cytotable_name("Cells", "Cells_Already") == "Cells_Already"
