"""A dependency-free progress bar on stderr (quiet when stderr is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, drawing ``label [#####     ] i/n`` as they go."""
    listed = list(items) if total is None else items
    count = len(listed) if total is None else total  # type: ignore[arg-type]
    tty = sys.stderr.isatty()
    for done, item in enumerate(listed, start=1):
        yield item
        if tty or done == count:
            filled = round(30 * done / max(count, 1))
            bar = "#" * filled + " " * (30 - filled)
            end = "\n" if done == count else ""
            print(f"\r{label:<28} [{bar}] {done}/{count}", end=end, file=sys.stderr, flush=True)
