"""Bad media (issue 13): a video whose header understates its length, a JPEG cut in half
and closed with FF D9, a folder given to ``lab count``."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from chalicelib.cells import imaging
from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType
from chalicelib.faces import process
from tests.conftest import ROOT
from tests.images import discs, encode


class NoFaces:
    def detect(self, frame: np.ndarray) -> tuple[()]:
        return ()


def avi(path: Path, frames: int, claimed: int | None = None) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i % 250, np.uint8))
    writer.release()
    if claimed is not None:  # patch the main header's and the stream header's frame counts
        data = bytearray(path.read_bytes())
        struct.pack_into("<I", data, data.find(b"avih") + 8 + 16, claimed)
        struct.pack_into("<I", data, data.find(b"strh") + 8 + 32, claimed)
        path.write_bytes(bytes(data))
    return path


def test_a_video_whose_header_understates_its_length_stops_at_the_limit(tmp_path: Path) -> None:
    patched = avi(tmp_path / "long.avi", frames=60, claimed=5)  # 6 s, header says 0.5 s
    with pytest.raises(TooLarge, match="runs past the limit of 2 s"):
        process.detect(patched, NoFaces(), max_seconds=2)
    honest = avi(tmp_path / "short.avi", frames=15)
    assert process.detect(honest, NoFaces(), max_seconds=2).frames == 15


def test_half_a_jpeg_closed_with_an_end_marker_is_corrupt() -> None:
    photo = encode(discs((256, 256)), ".jpg")
    half = photo[: len(photo) // 2] + b"\xff\xd9"
    with pytest.raises(CorruptInput, match="truncated or corrupt"):
        imaging.decode(half, 10**8)
    image, _ = imaging.decode(photo, 10**8)  # the whole file still decodes
    assert image.shape[:2] == (256, 256)


def test_the_real_truncated_sample_is_refused() -> None:
    data = (ROOT / "samples" / "phase-contrast.jpg").read_bytes()
    with pytest.raises(CorruptInput):
        imaging.decode(data[: len(data) // 2] + b"\xff\xd9", 10**8)


def test_lab_count_on_a_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    # A folder is counted image by image (lab count DIR --summary); one with none is an error.
    done = subprocess.run(
        [sys.executable, "-m", "devtools", "count", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "no images" in done.stderr and str(tmp_path) in done.stderr


# -- audit 2026-12-02 ----------------------------------------------------------------------
def motion_photo(jpeg: bytes) -> bytes:
    """A JPEG followed by more data after its end-of-image marker, as phones write them
    (Google's and Samsung's motion photos append an MP4; other cameras a trailer)."""
    return jpeg + b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 4


@pytest.mark.parametrize("ext", [".jpg", ".jpeg"])
def test_a_jpeg_with_data_after_its_end_marker_is_counted(ext: str) -> None:
    photo = encode(discs((180, 180)), ext)
    image, header = imaging.decode(motion_photo(photo), 10**8)
    assert image.shape[:2] == (180, 180) and header.format == "jpeg"
    plain, _ = imaging.decode(photo, 10**8)
    assert np.array_equal(image, plain)


def test_a_jpeg_cut_in_its_scan_with_data_after_it_is_still_corrupt() -> None:
    photo = encode(discs((256, 256)), ".jpg")
    with pytest.raises(CorruptInput):
        imaging.decode(motion_photo(photo[: len(photo) // 2]), 10**8)


def tiff(array: np.ndarray, **options: object) -> bytes:
    import io

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    "layout, options",
    [
        # what tifffile.imwrite writes for a (3, M, N) 16-bit stack: OpenCV decodes noise
        ("three 16-bit planes", {"photometric": "rgb", "planarconfig": "separate"}),
        ("three float planes", {"photometric": "rgb", "planarconfig": "separate"}),
        (
            "two interleaved 16-bit channels",
            {"photometric": "minisblack", "planarconfig": "contig"},
        ),
        ("32-bit unsigned", {}),
    ],
)
def test_tiff_layouts_opencv_misreads_are_refused_by_name(
    layout: str, options: dict[str, object]
) -> None:
    plane = discs((90, 90), dtype=np.uint16)
    array = {
        "three 16-bit planes": np.stack([plane] * 3),
        "three float planes": np.stack([plane] * 3).astype(np.float32),
        "two interleaved 16-bit channels": np.stack([plane] * 2, -1),
        "32-bit unsigned": plane.astype(np.uint32),
    }[layout]
    with pytest.raises(UnsupportedType, match="TIFF"):
        imaging.decode(tiff(array, **options), 10**8)


@pytest.mark.parametrize(
    "array, options",
    [
        (np.stack([discs()] * 3), {"photometric": "rgb", "planarconfig": "separate"}),
        (np.stack([discs()] * 3, -1), {"photometric": "rgb"}),
        (np.stack([discs(dtype=np.uint16)] * 3, -1), {"photometric": "rgb"}),
        (np.stack([discs(dtype=np.uint16)] * 3), {"photometric": "minisblack"}),  # 3 pages
        (discs().astype(np.float32) / 255, {}),
    ],
)
def test_tiff_layouts_opencv_reads_are_still_counted(
    array: np.ndarray, options: dict[str, object]
) -> None:
    from chalicelib.cells.container import count_image

    counting, image, _ = count_image(tiff(array, **options), 10**8)
    assert image.shape[:2] == (180, 180) and counting.count == 3
