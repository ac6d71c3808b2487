"""Blurring rectangles of a frame in the codec's own format (YUV 4:2:0), in place.

``detection.blur_rects`` blurs a BGR frame; ``blur_rects_yuv420`` does the same
to the three planes of an I420 frame (``video.yuv420_frames``), so a video is
decoded, blurred and encoded without any colour conversion: the pixels outside
the boxes reach the encoder exactly as the decoder gave them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chalicelib.faces import video
from chalicelib.faces.detection import (
    CORE_SAMPLES,
    Corners,
    PixelRect,
    blur_core,
    blur_group,
    clip_rects,
    overlapping_groups,
    samples_across,
)


def blur_rects_yuv420(
    frame: np.ndarray, height: int, rects: Sequence[PixelRect], cores: Sequence[PixelRect] = ()
) -> int:
    """Blur pixel rectangles (x, y, width, height) of an I420 ``frame`` in place.

    The same strong blur as ``detection.blur_rects``: each region (a group of
    overlapping ones as one) is shrunk to at most 10 samples across, smoothed and
    scaled back, in each plane — luma at full size, U and V at half size (their
    rectangles rounded outwards). Each of ``cores`` (the faces' own boxes inside
    them) is then blurred again to at most ``detection.CORE_SAMPLES`` samples across.
    Returns how many rectangles were blurred.

    Parameters
    ----------
    frame : (height * 3 // 2, width) ndarray of uint8, I420 (Y, then U, then V)
    height : the picture's height (even)
    rects : rectangles in luma pixels; clipped to the picture

    >>> frame = np.zeros((96, 64), np.uint8)
    >>> frame[:64] = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> blur_rects_yuv420(frame, 64, [(8, 8, 24, 24), (70, 70, 5, 5)])
    1
    >>> bool(frame[8:32, 8:32].std() < 20), int(frame[40, 60])
    (True, 240)
    """
    clipped = clip_rects(rects, frame.shape[1], height)
    planes = (
        (frame[:height], 1),
        (video.u_plane(frame, height), 2),
        (video.v_plane(frame, height), 2),
    )
    for group in overlapping_groups(clipped):
        across = samples_across(group)
        for plane, factor in planes:
            blur_group(plane, [_scaled(r, factor) for r in group], across)
    for core in clip_rects(cores, frame.shape[1], height):
        across = samples_across([core], CORE_SAMPLES)
        for plane, factor in planes:
            blur_core(plane, _scaled(core, factor), across)
    return len(clipped)


def blur_whole_yuv420(frame: np.ndarray, height: int) -> None:
    """Blur all of an I420 ``frame`` in place (strict mode, when no box can be trusted)."""
    blur_rects_yuv420(frame, height, [(0, 0, frame.shape[1], height)])


def _scaled(rect: Corners, factor: int) -> Corners:
    """Corners on a plane ``factor`` times smaller, rounded outwards.

    >>> _scaled((3, 4, 9, 10), 2)
    (1, 2, 5, 5)
    """
    x0, y0, x1, y1 = rect
    return x0 // factor, y0 // factor, -(-x1 // factor), -(-y1 // factor)
