"""A video whose frames are too large to hold is refused before any frame is decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.errors import TooLarge
from chalicelib.faces import process, video


def _probed(width: int, height: int) -> video.VideoInfo:
    return video.VideoInfo(width, height, 30.0, 30)


@pytest.mark.parametrize("size", [(16000, 16000), (7680, 4320)])
def test_frames_over_the_limit_are_refused_by_size(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(video, "probe", lambda path: _probed(*size))
    monkeypatch.setattr(video, "packet_times", lambda path, limit: None)
    with pytest.raises(TooLarge, match=f"{size[0]}x{size[1]}.*megapixels"):
        process.checked_video(tmp_path / "v.mp4", 600.0)


@pytest.mark.parametrize("size", [(3840, 2160), (5312, 2988)])
def test_4k_and_an_action_cameras_5k_pass(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(video, "probe", lambda path: _probed(*size))
    monkeypatch.setattr(video, "packet_times", lambda path, limit: None)
    info, _times = process.checked_video(tmp_path / "v.mp4", 600.0)
    assert (info.width, info.height) == size
