"""The local Batch executor's scheduling, with launchers that are plain functions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from devtools.local.batch import Exit, Launch, LocalBatch, container_settings


class Recorder:
    """A launcher that records what ran and exits as told per job name."""

    def __init__(self, codes: dict[str, list[int]] | None = None, delay: float = 0.0) -> None:
        self.codes = codes or {}
        self.delay = delay
        self.launches: list[Launch] = []
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, launch: Launch) -> Exit:
        with self._lock:
            self.launches.append(launch)
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.delay)
        with self._lock:
            self.running -= 1
            queue = self.codes.get(launch.job_name, [0])
            code = queue.pop(0) if len(queue) > 1 else queue[0]
        return Exit(code, f"exit {code}")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(delay=0.05)


@pytest.fixture
def batch(recorder: Recorder) -> Iterator[LocalBatch]:
    local = LocalBatch(recorder, workers=2)
    yield local
    local.shutdown()


def submit(batch: LocalBatch, job_id: str, **request: object) -> None:
    batch.record({"jobName": job_id, "jobQueue": "q", "jobDefinition": "d", **request}, job_id)


def test_array_children_get_their_index_and_run_two_at_a_time(
    batch: LocalBatch, recorder: Recorder
) -> None:
    submit(batch, "run", arrayProperties={"size": 4}, containerOverrides={"command": ["run"]})
    assert batch.wait("run", 10) == "SUCCEEDED"
    indexes = sorted(
        int(launch.environment["AWS_BATCH_JOB_ARRAY_INDEX"]) for launch in recorder.launches
    )
    assert indexes == [0, 1, 2, 3]
    assert recorder.peak == 2
    [described] = batch.describe(["run"])
    assert described["arrayProperties"] == {"size": 4, "statusSummary": {"SUCCEEDED": 4}}


def test_dependent_runs_after_its_dependency(batch: LocalBatch, recorder: Recorder) -> None:
    submit(batch, "run", arrayProperties={"size": 2})
    submit(batch, "merge", dependsOn=[{"jobId": "run"}])
    assert batch.wait("merge", 10) == "SUCCEEDED"
    assert recorder.launches[-1].job_name == "merge"


def test_dependent_of_a_failed_job_fails_without_running() -> None:
    recorder = Recorder({"run": [3]})
    batch = LocalBatch(recorder, workers=2)
    try:
        submit(batch, "run", arrayProperties={"size": 2})
        submit(batch, "merge", dependsOn=[{"jobId": "run"}])
        assert batch.wait("merge", 10) == "FAILED"
        assert batch.describe(["merge"])[0]["statusReason"] == "Dependent Job failed"
        assert all(launch.job_name == "run" for launch in recorder.launches)
    finally:
        batch.shutdown()


def test_retries_follow_evaluate_on_exit() -> None:
    rules = [{"onExitCode": "3", "action": "EXIT"}, {"onReason": "*", "action": "RETRY"}]
    recorder = Recorder({"flaky": [1, 0], "broken": [3]})
    batch = LocalBatch(recorder, workers=1)
    try:
        submit(batch, "flaky", retryStrategy={"attempts": 3, "evaluateOnExit": rules})
        submit(batch, "broken", retryStrategy={"attempts": 3, "evaluateOnExit": rules})
        assert batch.wait("flaky", 10) == "SUCCEEDED"
        assert batch.wait("broken", 10) == "FAILED"
        attempts = [(launch.job_name, launch.attempt) for launch in recorder.launches]
        assert sorted(attempts) == [("broken", 1), ("flaky", 1), ("flaky", 2)]
        assert batch.describe(["broken"])[0]["container"]["exitCode"] == 3
    finally:
        batch.shutdown()


def test_container_settings_merge_definition_and_overrides() -> None:
    definition = {"command": ["run"], "environment": [{"name": "A", "value": "1"}]}
    overrides = {"command": ["merge"], "environment": [{"name": "A", "value": "2"}]}
    assert container_settings(definition, overrides)[:2] == (("merge",), {"A": "2"})
