"""A synthetic Cell Painting plate, named like an ImageXpress export, with its platemap.

``write_plate(folder, wells=4, sites=2)`` draws ``wells × sites`` fields of view
in three channels (``w1`` DNA: nuclei; ``w2`` AGP: cell bodies; ``w3`` Mito:
granules in the cytoplasm) as 16-bit TIFFs named
``<Plate>_<Well>_s<Site>_w<Channel><GUID>.tif``, as a Molecular Devices
ImageXpress writes them, plus ``platemap.csv`` (``Metadata_Well``,
``Metadata_Treatment``) and ``load_data.csv`` (CellProfiler's LoadData columns).

Wells differ the way treatments do, so per-well profiles have something to show:
``DMSO`` (the negative control) wells have the baseline cells; ``enlarge`` wells
have larger cells; ``sparse`` wells have fewer cells. Every field is drawn from
a seed made of its plate, well and site, so the same call gives the same files.
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

CHANNELS = {1: "DNA", 2: "AGP", 3: "Mito"}
TREATMENTS = ("DMSO", "enlarge", "sparse", "DMSO")  # cycles over the wells
REGEX = r"^(?P<Plate>[^_]+)_(?P<Well>[A-P][0-9]{2})_s(?P<Site>[0-9]+)_w(?P<ChannelNumber>[0-9])"


@dataclass(frozen=True)
class Field:
    plate: str
    well: str
    site: int

    def file_name(self, channel: int) -> str:
        digest = hashlib.sha256(f"{self.plate}/{self.well}/{self.site}/{channel}".encode())
        guid = str(uuid.UUID(bytes=digest.digest()[:16])).upper()
        return f"{self.plate}_{self.well}_s{self.site}_w{channel}{guid}.tif"


def well_names(count: int, columns: int = 24) -> list[str]:
    """The first ``count`` wells of a 384-well plate, row by row in blocks of two columns.

    >>> well_names(4)
    ['A01', 'A02', 'B01', 'B02']
    """
    rows = "ABCDEFGHIJKLMNOP"
    width = 2 if count <= 32 else columns
    names = [f"{rows[i // width]}{i % width + 1:02d}" for i in range(count)]
    if any(name[0] not in rows for name in names):
        raise ValueError(f"at most {len(rows) * width} wells")
    return names


def treatment(well_index: int) -> str:
    return TREATMENTS[well_index % len(TREATMENTS)]


def draw_field(seed: int, kind: str, size: int = 256) -> dict[int, np.ndarray]:
    """Three channels of one field of view: channel number -> (size, size) uint16 image."""
    rng = np.random.default_rng(seed)
    count = {"sparse": 8, "enlarge": 14}.get(kind, 16) * size * size // (256 * 256)
    cell_radius = 17.0 if kind == "enlarge" else 12.0
    centres = _spread(rng, count, size, min_distance=2.1 * cell_radius)
    yy, xx = np.mgrid[0:size, 0:size]
    nuclei = np.zeros((size, size))
    bodies = np.zeros((size, size))
    for cy, cx in centres:
        stretch = rng.uniform(0.8, 1.25)
        radius = rng.uniform(5.0, 7.0)
        distance = ((yy - cy) / stretch) ** 2 + ((xx - cx) * stretch) ** 2
        nuclei += (distance < radius**2) * rng.uniform(0.6, 1.0)
        body_radius = cell_radius * rng.uniform(0.85, 1.1)
        bodies += (((yy - cy) ** 2 + (xx - cx) ** 2) < body_radius**2) * rng.uniform(0.4, 0.7)
    granules = (rng.random((size, size)) < 0.02) * (bodies > 0) * rng.uniform(0.5, 1.0)
    channels = {
        1: ndimage.gaussian_filter(nuclei, 1.2),
        2: ndimage.gaussian_filter(np.clip(bodies, 0, 1), 2.0),
        3: ndimage.gaussian_filter(granules, 1.0) * 4 + 0.1 * bodies,
    }
    images = {}
    for number, image in channels.items():
        noisy = 0.03 + 0.6 * np.clip(image, 0, 1.5) + rng.normal(0, 0.01, image.shape)
        images[number] = (np.clip(noisy, 0, 1) * 65535).astype(np.uint16)
    return images


def _spread(
    rng: np.random.Generator, count: int, size: int, min_distance: float
) -> list[tuple[float, float]]:
    """Up to ``count`` centres at least ``min_distance`` apart and clear of the border."""
    margin = min_distance / 2
    centres: list[tuple[float, float]] = []
    for _ in range(count * 50):
        if len(centres) == count:
            break
        y, x = rng.uniform(margin, size - margin, 2)
        if all((y - cy) ** 2 + (x - cx) ** 2 >= min_distance**2 for cy, cx in centres):
            centres.append((y, x))
    return centres


def fields(plate: str, wells: int, sites: int) -> list[Field]:
    return [Field(plate, well, site) for well in well_names(wells) for site in range(1, sites + 1)]


def write_plate(
    folder: Path, wells: int = 4, sites: int = 2, plate: str = "SYN0001", size: int = 256
) -> list[Field]:
    """Images in ``folder/images/``; ``platemap.csv`` and ``load_data.csv`` in ``folder``.

    The LoadData CSV names the instrument's own folder (``/mnt/imagexpress/<plate>/``)
    as ``PathName_*``, as exported CSVs do: a runner must rewrite it.
    """
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = well_names(wells)
    kinds = {well: treatment(index) for index, well in enumerate(names)}
    written = fields(plate, wells, sites)
    for field in written:
        seed = int(
            hashlib.sha256(f"{field.plate}/{field.well}/{field.site}".encode()).hexdigest()[:8], 16
        )
        for channel, image in draw_field(seed, kinds[field.well], size).items():
            tifffile.imwrite(images / field.file_name(channel), image)
    write_platemap(folder / "platemap.csv", kinds)
    write_load_data(folder / "load_data.csv", written, f"/mnt/imagexpress/{plate}/")
    return written


def write_platemap(path: Path, kinds: dict[str, str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Metadata_Well", "Metadata_Treatment"])
        writer.writerows(sorted(kinds.items()))


def write_load_data(path: Path, written: list[Field], path_name: str) -> None:
    """A CellProfiler LoadData CSV: a row per site, ``FileName_``/``PathName_`` per channel."""
    header = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
    for name in CHANNELS.values():
        header += [f"FileName_Orig{name}", f"PathName_Orig{name}"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for field in written:
            row = [field.plate, field.well, str(field.site)]
            for number in CHANNELS:
                row += [field.file_name(number), path_name]
            writer.writerow(row)
