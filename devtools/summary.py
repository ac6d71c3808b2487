"""``lab count DIR_OR_S3_PREFIX --summary out.csv [--heatmap out.png]``: a folder or plate at once.

A local folder is counted here, image by image (no AWS); an ``s3://bucket/prefix``
is summarised from the results the pipeline already wrote (through
``AWS_ENDPOINT_URL`` for the local emulator). Either way: one row per image and,
where file names carry wells, one per well (the same tables as the console's
exports), and optionally a plate heatmap PNG.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.console import plates, xlsx
from chalicelib.errors import InvalidInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def is_target_folder(target: str) -> bool:
    return target.startswith("s3://") or Path(target).is_dir()


def count_folder(
    folder: Path,
    method: str | None,
    parameters: dict[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Count every image below ``folder``; one summary per image (errors included)."""
    from chalicelib.cells.container import count_image
    from chalicelib.config import get_settings

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInput(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    summaries: list[dict[str, Any]] = []
    for n, path in enumerate(files, start=1):
        key = path.relative_to(folder).as_posix()
        started = time.perf_counter()
        try:
            counting, _image, _timings = count_image(
                path.read_bytes(), get_settings().max_image_pixels, method, dict(parameters)
            )
        except InvalidInput as error:
            summaries.append({"key": key, "status": "error", "reason": str(error)})
        else:
            summaries.append(
                {
                    "key": key,
                    "status": "ok",
                    "count": counting.count,
                    "method": counting.method,
                    "elapsed_ms": (time.perf_counter() - started) * 1e3,
                }
            )
        if progress:
            progress(n, len(files))
    return summaries


def s3_results(uri: str) -> tuple[list[dict[str, Any]], str]:
    """The newest result of every image under ``s3://bucket/prefix``; (summaries, prefix)."""
    from chalicelib import aws
    from chalicelib.config import get_settings
    from chalicelib.console.results import ResultIndex, check_prefix, current, latest_by_image

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = check_prefix(prefix)
    settings = get_settings()
    index = ResultIndex(aws.client("s3"), settings.results_bucket, settings.images_bucket)
    summaries, _files = index.summaries(prefix)
    newest = [current(versions, bucket) for versions in latest_by_image(summaries).values()]
    found = [version for version in newest if version is not None]
    if not found:
        raise InvalidInput(f"no results for images under {uri} (count them first)")
    return found, prefix


def write_tables(
    images: list[dict[str, Any]], wells: list[dict[str, Any]], path: Path
) -> list[Path]:
    """Per-image CSV at ``path`` and per-well CSV beside it; or one ``.xlsx`` with both."""
    if path.suffix.lower() == ".xlsx":
        path.write_bytes(
            xlsx.workbook(
                [
                    ("Images", xlsx.table(images, plates.IMAGE_COLUMNS)),
                    ("Wells", xlsx.table(wells, plates.WELL_COLUMNS)),
                ]
            )
        )
        return [path]
    path.write_text(plates.to_csv(images, plates.IMAGE_COLUMNS))
    written = [path]
    if wells:
        well_path = path.with_name(path.stem + "-wells" + (path.suffix or ".csv"))
        well_path.write_text(plates.to_csv(wells, plates.WELL_COLUMNS))
        written.append(well_path)
    return written


def heatmap(plate_grids: list[dict[str, Any]], path: Path, cell: int = 36) -> None:
    """Plate heatmaps of the mean count per image, one per plate, stacked; a PNG."""
    import cv2
    import numpy as np

    if not plate_grids:
        raise InvalidInput("no well names (A01, r01c01, …) in these file names: no heatmap")
    panels = []
    for plate in plate_grids:
        rows, columns = plate["format"]
        grid = np.array([[np.nan if v is None else v for v in r] for r in plate["grid"]], float)
        low, high = np.nanmin(grid), np.nanmax(grid)
        scaled = np.where(np.isnan(grid), 0, (grid - low) / (high - low or 1) * 255)
        colours = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_VIRIDIS)
        left, top = 28, 46
        panel = np.full((top + rows * cell + 10, left + columns * cell + 10, 3), 255, np.uint8)
        title = f"{plate['plate'] or 'plate'}: mean cells per image ({low:.0f} - {high:.0f})"
        cv2.putText(panel, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for c in range(columns):
            cv2.putText(panel, str(c + 1), (left + c * cell + 8, top - 8),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (60, 60, 60), 1)  # fmt: skip
        for r in range(rows):
            y = top + r * cell
            cv2.putText(panel, plate["row_names"][r], (4, y + cell // 2 + 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1)  # fmt: skip
            for c in range(columns):
                x = left + c * cell
                empty = np.isnan(grid[r, c])
                colour = (225, 225, 225) if empty else tuple(int(v) for v in colours[r, c])
                cv2.rectangle(panel, (x + 1, y + 1), (x + cell - 2, y + cell - 2), colour, -1)
                if not empty:
                    ink = (0, 0, 0) if scaled[r, c] > 140 else (255, 255, 255)
                    cv2.putText(panel, f"{grid[r, c]:.0f}", (x + 4, y + cell // 2 + 4),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.33, ink, 1)  # fmt: skip
        panels.append(panel)
    width = max(p.shape[1] for p in panels)
    padded = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255)
              for p in panels]  # fmt: skip
    ok, encoded = cv2.imencode(".png", np.vstack(padded))
    if not ok:
        raise InvalidInput(f"could not encode the heatmap for {path}")
    path.write_bytes(encoded.tobytes())


def summarise(
    target: str,
    summary: Path | None,
    heatmap_path: Path | None,
    method: str | None = None,
    parameters: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Count or collect, then write what was asked; the lines to print."""
    if target.startswith("s3://"):
        found, prefix = s3_results(target)
    else:
        found, prefix = count_folder(Path(target), method, parameters or {}, progress), ""
    images = plates.image_rows(found, prefix)
    wells = plates.well_rows(images)
    counted = [r for r in images if r["count"] is not None]
    lines = [
        f"{target}: {len(images)} images, {len(counted)} counted, "
        f"{sum(r['count'] for r in counted)} cells; {len(wells)} wells"
    ]
    lines += [f"  error {r['key']}: {r['reason']}" for r in images if r["status"] == "error"]
    if summary is not None:
        lines += [f"wrote {p}" for p in write_tables(images, wells, summary)]
    if heatmap_path is not None:
        heatmap(plates.plates(wells), heatmap_path)
        lines.append(f"wrote {heatmap_path}")
    return lines
