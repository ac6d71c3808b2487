"""Tiny generated Cell Painting fixtures: a small ``.cppipe`` and fake image files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAKE_CELLPROFILER = Path(__file__).resolve().parent / "fake_cellprofiler.py"
EVENTS = Path(__file__).resolve().parent / "events" / "painting"

PIPELINE = """CellProfiler Pipeline: http://www.cellprofiler.org
Version:5
DateRevision:400
GitHash:
ModuleCount:4
HasImagePlaneDetails:False

Images:[module_num:1|svn_version:'Unknown'|variable_revision_number:2|enabled:True|wants_pause:False]
    :
    Filter images?:Images only

NamesAndTypes:[module_num:2|svn_version:'Unknown'|variable_revision_number:8|enabled:True|wants_pause:False]
    Assign a name to:Images matching rules
    Select the image type:Grayscale image
    Name to assign these images:DNA
    Image set matching method:Order
    Select the rule criteria:and (file does contain "Channel 1")
    Name to assign these images:OrigProtein
    Select the image type:Grayscale image
    Select the rule criteria:and (file does contain "Channel 2")
    Name to assign these images:OrigDNA
    Select the image type:Grayscale image

IdentifyPrimaryObjects:[module_num:3|svn_version:'Unknown'|variable_revision_number:14|enabled:True|wants_pause:False]
    Select the input image:OrigDNA
    Name the primary objects to be identified:Nuclei

ExportToSpreadsheet:[module_num:4|svn_version:'Unknown'|variable_revision_number:13|enabled:True|wants_pause:False]
    Export all measurement types?:No
    Add a prefix to file names?:No
    Filename prefix:MyExpt_
    Data to export:Image
    File name:Image.csv
    Use the object name for the file name?:Yes
    Data to export:Nuclei
    File name:Nuclei.csv
    Use the object name for the file name?:Yes
"""

# CellProfiler reads the module list, meets an unknown module and runs the rest: exit 0.
PARTLY_MALFORMED = PIPELINE.replace("IdentifyPrimaryObjects:", "IdentifyPrimaryObjectz:")
TRUNCATED = PIPELINE[: PIPELINE.index("IdentifyPrimaryObjects:") + 40]


def image_names(sets: int) -> list[str]:
    return [f"Channel {c}-{n:02d}-A-{n:02d}-00.tif" for n in range(1, sets + 1) for c in (1, 2)]


def upload_dataset(
    s3: Any, bucket: str, prefix: str = "plates/p1/", sets: int = 2, pipeline: str = PIPELINE
) -> dict[str, str]:
    """Put a pipeline and ``sets`` image sets (two channels) under ``prefix``; the job keys."""
    s3.put_object(Bucket=bucket, Key=f"{prefix}analysis.cppipe", Body=pipeline.encode())
    for name in image_names(sets):
        s3.put_object(Bucket=bucket, Key=f"{prefix}images/{name}", Body=b"II*\x00fake")
    return {
        "pipeline": f"{prefix}analysis.cppipe",
        "input": f"{prefix}images/",
        "output": f"{prefix}results/",
    }


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())
