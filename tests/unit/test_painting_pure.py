"""Shard ranges, .cppipe inspection, run judgement and CSV merging. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.painting import layout, merge, pipeline
from chalicelib.painting.container import Run, judge
from tests.painting import PARTLY_MALFORMED, PIPELINE, TRUNCATED, image_names


@pytest.mark.parametrize("image_sets", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("shards", [1, 2, 3, 16])
def test_ranges_cover_every_image_set_once(image_sets: int, shards: int) -> None:
    ranges = layout.split_ranges(image_sets, shards)
    assert len(ranges) == min(image_sets, shards)
    covered = []
    for first, last in ranges:
        covered += list(range(first, (last or image_sets) + 1))
    assert covered == list(range(1, image_sets + 1))
    sizes = [(last or image_sets) - first + 1 for first, last in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_shard_layout() -> None:
    assert layout.shard_prefix("out/", 0, 1) == "out/"
    assert layout.shard_prefix("out/", 1, 2) == "out/_shards/0002-of-0002/"
    assert layout.shard_range(1, 2, 5) == (4, None)
    assert layout.range_arguments((2, 3)) == ["-f", "2", "-l", "3"]


def test_generated_pipeline_reads_cleanly() -> None:
    info = pipeline.inspect_pipeline(PIPELINE)
    assert pipeline.pipeline_problems(info) == []
    assert pipeline.expected_outputs(info) == ["Image.csv", "Nuclei.csv"]
    assert pipeline.estimate_image_sets(info, image_names(3)) == 3


def test_truncated_pipeline_is_caught_before_submitting() -> None:
    problems = pipeline.pipeline_problems(pipeline.inspect_pipeline(TRUNCATED))
    assert any("declares 4 modules but 2" in p for p in problems)


def test_misspelt_module_needs_cellprofiler_to_notice() -> None:
    # Structurally fine: only CellProfiler's log tells (see the runner's judge).
    assert pipeline.pipeline_problems(pipeline.inspect_pipeline(PARTLY_MALFORMED)) == []


@pytest.mark.parametrize(
    "text, problem",
    [("", "does not start"), ("CellProfiler Pipeline: x\nVersion:5\n", "no modules")],
)
def test_not_a_pipeline(text: str, problem: str) -> None:
    assert problem in " ".join(pipeline.pipeline_problems(pipeline.inspect_pipeline(text)))


def test_export_all_and_prefix() -> None:
    text = PIPELINE.replace("Export all measurement types?:No", "Export all measurement types?:Yes")
    text = text.replace("Add a prefix to file names?:No", "Add a prefix to file names?:Yes")
    assert pipeline.expected_outputs(pipeline.inspect_pipeline(text)) == ["MyExpt_Image.csv"]


def test_complex_rules_give_no_estimate() -> None:
    text = PIPELINE.replace('and (file does contain "Channel 1")', 'or (file does contain "1") (x)')
    assert pipeline.estimate_image_sets(pipeline.inspect_pipeline(text), image_names(2)) is None


def test_real_example_pipelines(shared_data: Path) -> None:
    examples = shared_data / "cellprofiler-examples"
    vitra = pipeline.inspect_pipeline(
        (examples / "ExampleVitraImages/ExampleVitra.cppipe").read_text()
    )
    assert pipeline.pipeline_problems(vitra) == []
    assert pipeline.expected_outputs(vitra) == [
        "Cells.csv",
        "Cytoplasm.csv",
        "Image.csv",
        "Nuclei.csv",
    ]
    names = [p.name for p in (examples / "ExampleVitraImages/images").iterdir()]
    assert pipeline.estimate_image_sets(vitra, names) == 2
    jump = pipeline.inspect_pipeline((examples / "JUMP/JUMP_analysis_v3.cppipe").read_text())
    assert len(jump.modules) == jump.declared_modules == 39


def run(code: int = 0, log: str = "", outputs: tuple[str, ...] = ("Image.csv",)) -> Run:
    return Run(code, 1.0, log, outputs)


def test_judge() -> None:
    assert judge(run(), ["Image.csv"]) is None
    assert "exited with code 1" in (judge(run(1), ["Image.csv"]) or "")
    partly = judge(run(0, "Failed to load pipeline\nValueError: Could not find the X module"), [])
    assert partly and "ran only part" in partly and "Could not find the X module" in partly
    assert "missing: Nuclei.csv" in (judge(run(), ["Image.csv", "Nuclei.csv"]) or "")


def test_merge_orders_rows_and_unions_columns() -> None:
    first = "ImageNumber,ObjectNumber,A\n1,2,x\n1,1,y\n"
    second = "ImageNumber,ObjectNumber,B\n2,1,z\n"
    merged = merge.merge_tables([second, first])
    assert merged.text.splitlines() == [
        "ImageNumber,ObjectNumber,B,A",
        "1,1,,y",
        "1,2,,x",
        "2,1,z,",
    ]
    assert merged.rows == 3 and merged.image_numbers == (1, 2)


def test_merge_keeps_quoted_fields() -> None:
    table = 'ImageNumber,FileName\n1,"Channel 1, well A.tif"\n'
    assert merge.merge_tables([table]).text == table


def test_image_number_gaps() -> None:
    assert merge.image_number_gaps((1, 2, 3)) == []
    assert merge.image_number_gaps((1, 3), expected=4) == [2, 4]


def test_bench_prepares_more_image_sets_by_copying_wells(tmp_path: Path) -> None:
    import gzip

    from devtools.bench.painting import prepare

    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (source / "p.cppipe").write_text(PIPELINE)
    for name in image_names(1):  # Channel 1-01-A-01-00.tif, Channel 2-01-A-01-00.tif
        (source / "images" / (name + ".gz")).write_bytes(gzip.compress(b"pixels"))
    (source / "images" / "ILLUM.npy").write_bytes(b"shared")
    pipeline_path, images = prepare(source, tmp_path / "work", copies=3)
    names = sorted(p.name for p in images.iterdir())
    assert pipeline_path.name == "p.cppipe" and "ILLUM.npy" in names
    assert {n for n in names if n.startswith("Channel 1")} == {
        "Channel 1-01-A-01-00.tif",
        "Channel 1-01-B-01-00.tif",
        "Channel 1-01-C-01-00.tif",
    }
    assert (images / "Channel 2-01-C-01-00.tif").read_bytes() == b"pixels"
