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


class Bar:
    """A progress bar fed by callbacks: ``with Bar("label") as bar: work(progress=bar.update)``."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._shown = -1
        self._tty = sys.stderr.isatty()

    def update(self, done: int, total: int) -> None:
        total = max(total, done, 1)
        filled = 30 * done // total
        if self._tty and filled != self._shown:
            self._shown = filled
            bar = "#" * filled + " " * (30 - filled)
            print(
                f"\r{self._label:<28} [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True
            )

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tty:
            print(file=sys.stderr)
