"""Test videos: see ``chalicelib.faces.samples``."""

from chalicelib.faces.samples import (  # noqa: F401
    FACE_IN_PATCH,
    moving_face,
    psnr,
    sharpness,
)
