"""Regenerate samples/ (run once by a developer; the demo only reads samples/)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.synthetic import cells as synthetic  # noqa: E402

SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared" / "data" / "phase-contrast" / "IMG00197.JPG"


def main() -> None:
    from skimage import data

    SAMPLES.mkdir(exist_ok=True)
    coins: np.ndarray = data.coins()  # type: ignore[no-untyped-call]
    cv2.imwrite(str(SAMPLES / "coins.png"), coins)
    nuclei16 = synthetic.nuclei(40, (384, 384), overlap=0.0, gradient=0.3, dtype=np.uint16, seed=7)
    cv2.imwrite(str(SAMPLES / "nuclei-16bit.tif"), nuclei16.image)
    nuclei8 = synthetic.nuclei(25, (256, 320), seed=3).image
    rgba = cv2.cvtColor(cv2.merge([nuclei8 // 3, nuclei8 // 3, nuclei8]), cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(SAMPLES / "nuclei-rgba.png"), rgba)
    if SHARED.exists():
        photo = cv2.imread(str(SHARED))
        if photo is None:
            raise SystemExit(f"cannot read {SHARED}")
        small = cv2.resize(photo, (960, 540), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(SAMPLES / "phase-contrast.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    _ok, jpeg = cv2.imencode(".jpg", coins)
    (SAMPLES / "truncated.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    print("\n".join(f"{p.name}: {p.stat().st_size} bytes" for p in sorted(SAMPLES.iterdir())))


if __name__ == "__main__":
    main()
