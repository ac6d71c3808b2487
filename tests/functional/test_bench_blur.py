"""``lab bench blur --rounds``: a case blurred several times, its speed from the least CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.faces import process
from devtools.bench import blur as bench
from devtools.synthetic.faces import Actor, Case

SMALL = Case("bench-small", (320, 240), (Actor("astronaut", 48, (60, 100), (4, 0)),), frames=12)


def test_rounds_blur_a_case_that_many_times_and_report_the_least_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals: list[float] = []
    anonymise = process.anonymise

    def counted(*args: object, **kwargs: object) -> process.Anonymised:
        done = anonymise(*args, **kwargs)  # type: ignore[arg-type]
        totals.append(done.timings.total)
        return done

    monkeypatch.setattr(process, "anonymise", counted)
    row = bench.run_case(SMALL, tmp_path, strict=False, rounds=3)
    assert len(totals) == 3
    length = SMALL.frames / SMALL.fps
    assert row.realtime == pytest.approx(length / min(totals))
    assert row.median_realtime == pytest.approx(length / sorted(totals)[1])
    assert row.exposed == 0


def test_one_round_by_default(tmp_path: Path) -> None:
    row = bench.run_case(SMALL, tmp_path, strict=False)
    assert row.median_realtime == row.realtime
