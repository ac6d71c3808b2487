"""The state of each group of a plate, which groups to run again, and when the plate ends. Pure.

A group's state comes from two witnesses: its manifest in S3 (written by the
runner when CellProfiler finished, either way) and its AWS Batch job (array
child). The manifest wins when it says ``succeeded`` (DCP's check-if-done);
a live Batch job wins over an older failed manifest (a retry is under way);
a Batch job that FAILED without a manifest of this attempt is ``dead``: Batch
gave up on it (out of memory, the instance went away, attempts exhausted).

Python 3.8-compatible (the Batch container imports it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STATES = ("pending", "running", "succeeded", "failed", "dead")
RETRYABLE = ("failed", "dead")
BATCH_PENDING = ("SUBMITTED", "PENDING", "RUNNABLE")
BATCH_RUNNING = ("STARTING", "RUNNING")


@dataclass(frozen=True)
class GroupState:
    state: str
    reason: str | None = None
    objects: dict[str, int] | None = None
    seconds: float | None = None  # the whole run of the group (download, CellProfiler, upload)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"state": self.state}
        if self.reason:
            found["reason"] = self.reason
        if self.objects is not None:
            found["objects"] = self.objects
        return found


def group_state(
    manifest: Mapping[str, Any] | None, batch: Mapping[str, Any] | None, attempt: int = 0
) -> GroupState:
    """One group's state from its manifest and its Batch job description.

    ``attempt`` is the plate's submission number for this group: a failed
    manifest of an earlier submission does not make a new one failed.

    >>> group_state({"status": "succeeded", "objects": {"Nuclei": 12}}, None).to_dict()
    {'state': 'succeeded', 'objects': {'Nuclei': 12}}
    >>> group_state(None, {"status": "RUNNING"}).state
    'running'
    >>> group_state(None, {"status": "FAILED", "statusReason": "OutOfMemoryError"}).to_dict()
    {'state': 'dead', 'reason': 'OutOfMemoryError'}
    >>> group_state({"status": "failed", "reason": "CellProfiler exited with code 1"}, None).state
    'failed'
    """
    status = str((batch or {}).get("status") or "")
    seconds = _seconds(manifest)
    if manifest and manifest.get("status") == "succeeded":
        return GroupState("succeeded", None, _objects(manifest), seconds)
    current = manifest is not None and int(manifest.get("submission", 0) or 0) >= attempt
    if status in BATCH_RUNNING:
        return GroupState("running")
    if status in BATCH_PENDING:
        return GroupState("pending")
    if manifest and manifest.get("status") == "failed" and (current or not status):
        return GroupState("failed", str(manifest.get("reason") or "failed"), None, seconds)
    if status == "FAILED":
        reason = str((batch or {}).get("statusReason") or "AWS Batch gave up on the job")
        return GroupState("dead", reason)
    if status == "SUCCEEDED":
        return GroupState("dead", "the job ended without recording a result")
    return GroupState("pending")


def _objects(manifest: Mapping[str, Any]) -> dict[str, int] | None:
    objects = manifest.get("objects")
    return {str(k): int(v) for k, v in objects.items()} if isinstance(objects, Mapping) else None


def _seconds(manifest: Mapping[str, Any] | None) -> float | None:
    durations = (manifest or {}).get("durations_s") or {}
    total = durations.get("total") if isinstance(durations, Mapping) else None
    return float(total) if isinstance(total, (int, float)) else None


def totals(states: Mapping[str, GroupState]) -> dict[str, int]:
    """How many groups are in each state, and in all.

    >>> totals({"a": GroupState("succeeded"), "b": GroupState("dead")})
    {'pending': 0, 'running': 0, 'succeeded': 1, 'failed': 0, 'dead': 1, 'total': 2}
    """
    counts = {state: 0 for state in STATES}
    for found in states.values():
        counts[found.state] += 1
    counts["total"] = len(states)
    return counts


def to_retry(states: Mapping[str, GroupState]) -> list[str]:
    """The groups a retry submits: failed and dead ones, nothing else.

    >>> to_retry({"a": GroupState("succeeded"), "b": GroupState("failed"),
    ...           "c": GroupState("running")})
    ['b']
    """
    return sorted(name for name, found in states.items() if found.state in RETRYABLE)


def estimate_finish(
    states: Mapping[str, GroupState], now: float, started: float, parallel: int
) -> float | None:
    """Epoch seconds at which the last group should end, or ``None`` if it cannot be said.

    Uses the mean duration of the groups that succeeded (or, before any did, the
    time the running ones have taken so far as a lower bound) and the number
    of groups that can run at once (``parallel``: the array's running children,
    at least 1).

    >>> states = {"a": GroupState("succeeded", seconds=60), "b": GroupState("pending"),
    ...           "c": GroupState("pending")}
    >>> estimate_finish(states, now=1000, started=900, parallel=2)
    1060.0
    """
    remaining = [found for found in states.values() if found.state in ("pending", "running")]
    if not remaining:
        return None
    done = [found.seconds for found in states.values() if found.seconds is not None]
    if done:
        per_group = sum(done) / len(done)
    elif any(found.state == "running" for found in remaining):
        per_group = max(now - started, 1.0)
    else:
        return None
    waves = math.ceil(len(remaining) / max(1, parallel))
    return float(now + waves * per_group)


def parallelism(states: Iterable[GroupState]) -> int:
    return max(1, sum(1 for found in states if found.state == "running"))
