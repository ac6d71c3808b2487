"""Test videos: see ``devtools.synthetic.faces``."""

from devtools.synthetic.faces import (  # noqa: F401
    FACE_IN_PATCH,
    moving_face,
    psnr,
    sharpness,
)
