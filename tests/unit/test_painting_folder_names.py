"""Plate and group folder names are one name per plate or group (qa6).

Before, names were made folder-safe by replacing characters: plates ``a b`` and ``a_b`` both
became ``a_b`` and the merge pooled their wells' cells as one plate (qa5's lead); ``..`` and
``__`` both became ``__``. Now a name that sanitising changes carries ``~`` and a short hash of
the original; a name already safe is kept as it is.
"""

from __future__ import annotations

import pytest

from chalicelib.painting import plate


def group(plate_value: str, well: str = "A01") -> plate.Group:
    return plate.Group((("Metadata_Plate", plate_value), ("Metadata_Well", well)), ())


@pytest.mark.parametrize(
    "first, second", [("a b", "a_b"), ("a/b", "a_b"), ("..", "__"), ("a b", "a\tb"), ("é", "_")]
)
def test_two_plates_never_share_a_folder(first: str, second: str) -> None:
    assert plate.plate_name(group(first)) != plate.plate_name(group(second))
    assert group(first).folder != group(second).folder


@pytest.mark.parametrize("name", ["SYN0001", "P1.v2", "a_b", "x=1-2"])
def test_safe_names_are_kept(name: str) -> None:
    assert plate.plate_name(group(name)) == name
    assert group(name).folder == f"Plate-{name}_Well-A01"


@pytest.mark.parametrize("name", ["a b", "..", ".", "a/../b", "é", "x" + "/" * 50])
def test_changed_names_stay_folder_safe(name: str) -> None:
    folder = plate.plate_name(group(name))
    stem, mark, digest = folder.partition(plate.FOLDER_MARK)
    assert mark and len(digest) == 8 and not plate.FOLDER_SAFE.search(stem)
    assert stem.strip(".") and "/" not in folder
    assert plate.plate_name(group(name)) == folder  # stable across the submission and the merge


def test_a_plan_names_each_plate_once() -> None:
    found = plate.Plate("file names", ("1",), ("Metadata_Plate", "Metadata_Well"),
                        (group("a b"), group("a_b")), ())  # fmt: skip
    entries = plate.plan_document(found)["groups"]
    assert len({e["plate"] for e in entries}) == 2  # type: ignore[index]
    assert len({e["folder"] for e in entries}) == 2  # type: ignore[index]
