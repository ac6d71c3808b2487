"""Pure parsing of what the routes are handed (qa8): query switches, download names."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from chalicelib.cells.messages import parse_flag
from chalicelib.console.pages import content_disposition
from chalicelib.errors import InvalidInput
from chalicelib.storage import is_folder_marker

FLAGS = [("1", True), ("yes", True), (" True ", True), ("0", False), ("no", False), ("", False)]


@pytest.mark.parametrize(("value", "on"), [*FLAGS, (None, False)])
def test_flags(value: str | None, on: bool) -> None:
    assert parse_flag(value, "runs") is on


@pytest.mark.parametrize("value", ["2", "on", "y", "nope", "1 1"])
def test_other_flag_text_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="runs"):
        parse_flag(value, "runs")


NAMES = ['a"b.csv', "a;b.csv", "a\r\nb.csv", "日本語.csv", "x\x00y.csv", "emoji 🧫.csv", "%41.csv"]


@pytest.mark.parametrize("name", NAMES)
def test_every_download_name_is_an_ascii_header_that_round_trips(name: str) -> None:
    header = content_disposition(name)
    header.encode("ascii")
    assert "\r" not in header and "\n" not in header and "\x00" not in header
    first, quoted, *encoded = header.split("; ")
    assert first == "attachment" and quoted.count('"') == 2
    sanitized = "".join("_" if ord(ch) < 32 else ch for ch in name)
    if encoded:
        [star] = encoded
        assert unquote(star.removeprefix("filename*=UTF-8''")) == sanitized
    else:
        assert quoted == f'filename="{sanitized}"'


def test_folder_markers() -> None:
    assert is_folder_marker("a/") and is_folder_marker("/")
    assert not is_folder_marker("a/b.png") and not is_folder_marker("a/.")
