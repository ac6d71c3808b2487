"""Plate jobs on the zip-Lambda side: plan the groups, submit them, report them, retry them.

``PaintingService`` (``handlers.py``) hands a job with plate keys (``group_by``,
``load_data``, ``metadata_regex``, ``platemap``) to ``PlateJobs``:

- ``plan`` lists the input, reads the LoadData CSV or applies the file-name
  regular expression, and returns every problem before anything is spent;
- ``submit`` writes the plan (``<output>_plate/plan.json``) and sends one Batch
  array child per group (only the groups given: a resend or a retry leaves out
  those that succeeded) and the plate merge, sized from the largest group;
- ``states`` reads each group's manifest and Batch job: ``pending``,
  ``running``, ``succeeded``, ``failed`` or ``dead`` (``groups.py``);
- ``report`` adds the groups, totals and an estimated finish to
  ``GET /painting/jobs/{id}`` and redraws each plate's map of group states.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.painting import groups, layout, pipeline, plate, platemap
from chalicelib.painting.messages import PaintingJob
from chalicelib.painting.submission import PlateSubmission, merge_memory_mib
from chalicelib.storage import Bucket, now_iso

log = logging.getLogger(__name__)
MAX_LOAD_DATA_BYTES = 100 * 1024 * 1024
MAX_PLATEMAP_BYTES = 10 * 1024 * 1024  # a 1536-well map with many columns is well under 1 MiB
READERS = 16  # manifests read at once
DESCRIBE_BATCH = 100  # AWS Batch DescribeJobs takes at most 100 ids
STATE_ORDER = ("dead", "failed", "running", "pending", "succeeded")  # worst first, per well


class PlateJobs:
    def __init__(
        self,
        store: Bucket,
        batch: Any,
        submit: Callable[[dict[str, Any]], str],
        find: Callable[[str, str], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._batch = batch
        self._submit = submit
        self._find = find
        self._clock = clock

    # -- before submitting -------------------------------------------------------------
    def plan(
        self, job: PaintingJob, info: pipeline.PipelineInfo | None, keys: list[str]
    ) -> tuple[plate.Plate | None, list[str]]:
        """The plate's groups and every problem with it (nothing is submitted if any)."""
        problems: list[str] = []
        text = None
        if job.load_data:
            text = self._read_load_data(job.load_data, problems)
        elif info is not None and plate.uses_load_data(info):
            problems.append(
                "the pipeline loads its images with LoadData: give load_data (the CSV's key)"
            )
        regex = job.metadata_regex or (plate.pipeline_regex(info) if info else None)
        if text is None and not job.load_data and regex is None:
            problems.append(
                "say how to find the metadata: metadata_regex (Python named groups, one of them "
                "the channel), load_data, or a pipeline whose Metadata module reads file names"
            )
        if job.platemap:
            problems += self._platemap_problems(job.platemap)
        if problems:
            return None, problems
        found = plate.plan_plate(
            keys=keys, input_prefix=job.input, group_by=job.group_by or (), load_data=text,
            regex=regex, bucket=self.store.bucket,
        )  # fmt: skip
        problems += found.problems
        if len(found.groups) > layout.MAX_ARRAY_SIZE:
            problems.append(
                f"{len(found.groups)} groups: at most {layout.MAX_ARRAY_SIZE} (one Batch array)"
            )
        return found, problems

    def _platemap_problems(self, key: str) -> list[str]:
        """The platemap read now, as the merge will read it after every well has run."""
        head = self.store.head(key)
        if head is None:
            return [f"the platemap {self.store.url(key)} does not exist"]
        if int(head.get("ContentLength", 0)) > MAX_PLATEMAP_BYTES:
            return [f"the platemap {self.store.url(key)} is over 10 MiB"]
        return plate.platemap_problems(self.store.get_bytes(key))

    def _read_load_data(self, key: str, problems: list[str]) -> str | None:
        head = self.store.head(key)
        if head is None:
            problems.append(f"the LoadData CSV {self.store.url(key)} does not exist")
            return None
        if int(head.get("ContentLength", 0)) > MAX_LOAD_DATA_BYTES:
            problems.append(f"the LoadData CSV {self.store.url(key)} is over 100 MiB")
            return None
        return self.store.read_text(key)

    # -- submitting --------------------------------------------------------------------
    def write_plan(self, job: PaintingJob, found: plate.Plate) -> dict[str, Any]:
        document = {**plate.plan_document(found), "written_at": now_iso()}
        self.store.write_json(layout.plan_key(job.output), document)
        return document

    def submit(
        self,
        job: PaintingJob,
        job_id: str,
        found: Mapping[str, Any],
        indices: list[int],
        previous: Mapping[str, Any] | None,
        settings: Any,
        adopt: bool,
    ) -> dict[str, Any]:
        """Submit ``indices`` (positions in the plan) and the merge; the record's ``plate`` part.

        No group left to run (every one succeeded, the merge did not): only the merge.
        """
        planned = list(found["groups"])
        submission = int((previous or {}).get("submissions", 0)) + 1
        largest = max((len(g["sites"]) for g in planned), default=1)
        request = PlateSubmission(
            job_id=job_id,
            bucket=self.store.bucket,
            job=job,
            job_queue=job.job_queue or settings.batch_job_queue,
            job_definition=job.job_definition or settings.batch_job_definition,
            indices=tuple(indices),
            submission=submission,
            attempts=settings.painting_job_attempts,
            merge_memory_mib=merge_memory_mib(largest),
        )
        run_id = self._send(request.run_request(), adopt, request.job_queue) if indices else None
        merge_id = self._send(request.merge_request(run_id), adopt, request.job_queue)
        entries = {g["name"]: dict(g_entry) for g, g_entry in _entries(planned, previous)}
        for child, index in enumerate(indices):
            entries[planned[index]["name"]].update(
                submission=submission,
                batch_job_id=run_id,
                array_index=child if len(indices) > 1 else None,
                submitted_at=now_iso(),
            )
        log.info("plate job %s: submission %d, %d group(s)", job_id, submission, len(indices))
        return {
            "job_id": job_id,
            "plan": layout.plan_key(job.output),
            "summary": {k: v for k, v in found.items() if k not in ("groups", "header")},
            "submissions": submission,
            "groups": entries,
            "batch": {"job_id": run_id, "merge_job_id": merge_id, "job_name": request.job_name,
                      "groups": len(indices), "merge_memory_mib": request.merge_memory_mib},
        }  # fmt: skip

    def _send(self, request: dict[str, Any], adopt: bool, queue: str) -> str:
        found = self._find(queue, request["jobName"]) if adopt else None
        return found or self._submit(request)

    def read_plan(self, job: PaintingJob) -> dict[str, Any] | None:
        return self.store.read_json(layout.plan_key(job.output))

    # -- states --------------------------------------------------------------------------
    def states(self, output: str, part: Mapping[str, Any]) -> dict[str, groups.GroupState]:
        """Each group's state; manifests written by another job (same output) do not count."""
        entries: Mapping[str, Mapping[str, Any]] = part.get("groups") or {}
        job_id = str(part.get("job_id") or "")
        names = list(entries)
        with ThreadPoolExecutor(READERS) as pool:
            manifests = list(
                pool.map(
                    lambda n: self.store.read_json(
                        layout.group_prefix(output, str(entries[n]["folder"])) + layout.MANIFEST
                    ),
                    names,
                )
            )
        manifests = [m if m and m.get("job_id") == job_id else None for m in manifests]
        described = self._describe_children(entries)
        return {
            name: groups.group_state(
                manifest,
                described.get(_child_id(entries[name]) or ""),
                int(entries[name].get("submission") or 0),
            )
            for name, manifest in zip(names, manifests, strict=True)
        }

    def _describe_children(self, entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        ids = sorted({c for c in (_child_id(e) for e in entries.values()) if c})
        found: dict[str, Any] = {}
        for start in range(0, len(ids), DESCRIBE_BATCH):
            answer = self._batch.describe_jobs(jobs=ids[start : start + DESCRIBE_BATCH])
            found.update({job["jobId"]: job for job in answer.get("jobs", [])})
        return found

    def retry_indices(
        self, part: Mapping[str, Any], states: Mapping[str, groups.GroupState]
    ) -> list[int]:
        entries: Mapping[str, Mapping[str, Any]] = part.get("groups") or {}
        return sorted(int(entries[name]["index"]) for name in groups.to_retry(states))

    # -- the status route ---------------------------------------------------------------
    def report(self, output: str, part: Mapping[str, Any], started: float) -> dict[str, Any]:
        """``groups``, ``totals``, ``estimated_finish`` and the plate maps, for the status."""
        states = self.states(output, part)
        totals = groups.totals(states)
        finish = groups.estimate_finish(
            states, self._clock(), started, groups.parallelism(states.values())
        )
        maps = self.draw_maps(output, part, states)
        return {
            "groups": {name: state.to_dict() for name, state in states.items()},
            "totals": totals,
            "estimated_finish": _iso(finish) if finish else None,
            "plate_maps": [self.store.url(key) for key in maps],
            "_states": states,
        }

    def draw_maps(
        self, output: str, part: Mapping[str, Any], states: Mapping[str, groups.GroupState]
    ) -> list[str]:
        """``plates/<plate>/plate_map.png`` for each plate: each well in its group's state."""
        wells: dict[str, dict[str, str]] = {}
        for name, entry in (part.get("groups") or {}).items():
            for well in entry.get("wells") or []:
                current = wells.setdefault(str(entry.get("plate") or "plate"), {}).get(well)
                state = states[name].state
                if current is None or STATE_ORDER.index(state) < STATE_ORDER.index(current):
                    wells[str(entry.get("plate") or "plate")][well] = state
        keys = []
        for plate_name, found in sorted(wells.items()):
            key = layout.plate_prefix(output, plate_name) + layout.PLATE_MAP
            self.store.put_bytes(key, platemap.state_map(found), "image/png")
            keys.append(key)
        return keys


def _entries(
    planned: list[Mapping[str, Any]], previous: Mapping[str, Any] | None
) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """Each planned group with its record entry (kept from before, or new)."""
    before = (previous or {}).get("groups") or {}
    found = []
    for index, group in enumerate(planned):
        entry = dict(before.get(group["name"]) or {})
        entry.update(
            index=index, folder=group["folder"], plate=group["plate"], wells=group["wells"]
        )
        found.append((group, entry))
    return found


def _child_id(entry: Mapping[str, Any]) -> str | None:
    """The Batch id of the job that runs this group now: ``<array>:<index>`` or the job."""
    job = entry.get("batch_job_id")
    if not job:
        return None
    index = entry.get("array_index")
    return f"{job}:{index}" if index is not None else str(job)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def plate_failure(states: Mapping[str, groups.GroupState]) -> str | None:
    """Why the plate cannot finish as it is, once no group is left running; else ``None``."""
    if any(s.state in ("pending", "running") for s in states.values()):
        return None
    bad = [
        f"{name} ({s.state}: {s.reason})"
        for name, s in sorted(states.items())
        if s.state in groups.RETRYABLE
    ]
    if not bad:
        return None
    shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    return (
        f"{len(bad)} of {len(states)} groups failed or died "
        f"(POST .../retry runs only them): {shown}"
    )
