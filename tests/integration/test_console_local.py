"""The console's laptop side: results kept across `lab local` restarts, one line per result,
and `lab count FOLDER --summary/--heatmap`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from chalicelib import aws
from devtools.local.cloud import LocalCloud
from devtools.local.watch import ResultWatcher, sources
from tests.conftest import ROOT
from tests.images import discs, encode
from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration


def result_of(cloud: LocalCloud, key: str) -> dict[str, Any] | None:
    from chalicelib.cells.messages import ResultKeys
    from chalicelib.storage import Bucket

    assert cloud.settings is not None
    return Bucket(aws.client("s3"), cloud.settings.results_bucket).read_json(
        ResultKeys.for_image(key).result
    )


def test_results_survive_a_restart_without_a_recount(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lines: list[str] = []
    with LocalCloud(port=0, retry_delay=0, state_dir=state) as cloud:
        assert cloud.settings is not None
        watcher = ResultWatcher(aws.client("s3"), sources(cloud.settings), lines.append)
        watcher.prime()
        aws.client("s3").put_object(
            Bucket=cloud.settings.images_bucket,
            Key="kept/coins.png",
            Body=(ROOT / "samples" / "coins.png").read_bytes(),
            Metadata={"count-diameter": "40"},
        )
        first = eventually(lambda: result_of(cloud, "kept/coins.png"), timeout=60)
        lines += eventually(watcher.poll)
    [line] = lines  # one line for the count (its run), none for the upload's copy
    assert line.startswith(f"counted  kept/coins.png: {first['count']} cells (watershed, ")

    assert (state / "lab-local-images" / "kept" / "coins.png").is_file()

    with LocalCloud(port=0, retry_delay=0, state_dir=state) as again:
        assert again.settings is not None
        assert again.restored >= 4  # the upload, its result, annotated image and CSV
        assert result_of(again, "kept/coins.png") == first  # the same document, not a recount
        head = aws.client("s3").head_object(
            Bucket=again.settings.images_bucket, Key="kept/coins.png"
        )
        assert head["Metadata"] == {"count-diameter": "40"}
        watcher = ResultWatcher(aws.client("s3"), sources(again.settings), lines.append)
        watcher.prime()
        assert watcher.poll() == []  # restored results are not news
        notifications = again.provisioned.notification_queues[again.settings.images_bucket]
        received = aws.client("sqs").receive_message(QueueUrl=notifications, WaitTimeSeconds=0)
        bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
        assert not [b for b in bodies if b.get("Records")]  # nothing was uploaded anew


def _plate(folder: Path) -> dict[str, int]:
    counts = {"P2_A01_s1.png": 3, "P2_A01_s2.png": 5, "P2_C07_s1.png": 6, "notes_s1.png": 2}
    for name, n in counts.items():
        centres = [(25 + 40 * (i % 4), 25 + 50 * (i // 4)) for i in range(n)]
        (folder / name).write_bytes(encode(discs((150, 180), centres, 10), ".png"))
    (folder / "broken.png").write_bytes(b"not a png")
    return counts


def test_lab_count_folder_summary_and_heatmap(tmp_path: Path) -> None:
    from devtools.cli import main

    folder = tmp_path / "plate"
    folder.mkdir()
    _plate(folder)
    out, heat = tmp_path / "counts.csv", tmp_path / "heat.png"
    assert main(["count", str(folder), "--summary", str(out), "--heatmap", str(heat)]) == 0
    images = {r["key"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert images["P2_A01_s2.png"]["count"] == "5" and images["P2_A01_s2.png"]["well"] == "A01"
    assert images["notes_s1.png"]["well"] == "" and images["broken.png"]["status"] == "error"
    wells = list(csv.DictReader(io.StringIO((tmp_path / "counts-wells.csv").read_text())))
    assert [(w["well"], w["total_count"], w["images"]) for w in wells] == [
        ("A01", "8", "2"),
        ("C07", "6", "1"),
    ]
    picture = cv2.imdecode(np.frombuffer(heat.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] > picture.shape[0]  # a 96-well plate's shape


def test_lab_count_summarises_an_s3_prefix(tmp_path: Path, capsys: Any) -> None:
    from devtools.cli import main

    with LocalCloud(port=0, retry_delay=0) as cloud:
        assert cloud.settings is not None
        bucket = cloud.settings.images_bucket
        for name, n in (("B02_s1.png", 4), ("B02_s2.png", 6)):
            centres = [(25 + 40 * (i % 4), 25 + 50 * (i // 4)) for i in range(n)]
            body = encode(discs((150, 180), centres, 10), ".png")
            aws.client("s3").put_object(Bucket=bucket, Key=f"run9/{name}", Body=body)
        eventually(lambda: result_of(cloud, "run9/B02_s2.png"), timeout=60)
        eventually(lambda: result_of(cloud, "run9/B02_s1.png"), timeout=60)
        out = tmp_path / "run9.xlsx"
        assert main(["count", f"s3://{bucket}/run9/", "--summary", str(out)]) == 0
    assert "2 images, 2 counted, 10 cells; 1 wells" in capsys.readouterr().out
    openpyxl = pytest.importorskip("openpyxl")
    wells = list(openpyxl.load_workbook(out)["Wells"].iter_rows(values_only=True))
    assert wells[1][1:5] == ("B02", 2, 2, 10)  # plate (empty), well, images, counted, total
