"""What ``chalice deploy``/``chalice package`` put into the zip: app.py and chalicelib/, as is.

Chalice copies every file under ``chalicelib/``, bytecode caches included (tests and
the Python 3.8 check leave them there), which would ship stale ``.pyc`` files and
change the package's hash on every run. Remove them first.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def clean_app_tree(project_dir: Path) -> list[Path]:
    """Delete ``__pycache__`` folders under ``chalicelib/``; the ones removed."""
    caches = sorted((project_dir / "chalicelib").rglob("__pycache__"))
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
    return caches
