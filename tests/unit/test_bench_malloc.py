"""The bench's end to end runs with the cell-counter image's malloc settings."""

from __future__ import annotations

import platform
import re

import pytest

from chalicelib.config import PROJECT_DIR
from devtools.bench import count as bench


def test_the_bench_sets_what_the_container_image_sets() -> None:
    dockerfile = (PROJECT_DIR / "containers" / "cell-counter" / "Dockerfile").read_text()
    settings = dict(re.findall(r"\b(MALLOC_\w+_)=(\d+)", dockerfile))
    assert settings == bench.CONTAINER_MALLOC
    assert int(settings["MALLOC_MMAP_THRESHOLD_"]) <= 32 * 1024 * 1024  # glibc's largest


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_malloc_as_in_the_container_is_accepted_by_glibc() -> None:
    assert bench.malloc_as_in_the_container()
