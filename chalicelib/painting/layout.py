"""Where a painting job's records and outputs live, and how a job splits into shards.

Pure and Python 3.8-compatible: the zip Lambda, the Batch container and the
local executor all import it, so they agree on every key.

Keys in the data bucket::

    painting-jobs/<job_id>.json                 the job's status record
    <output>_status.json                        the same record, next to the results
    <output>manifest.json                       what produced the results (job or merge)
    <output>_shards/0001-of-0004/...            one shard's own outputs and manifest.json
    <output>_logs/<shard>-attempt<N>.log        CellProfiler's full log of each run
"""

from __future__ import annotations

import hashlib

STATUS_PREFIX = "painting-jobs/"
OUTPUT_STATUS = "_status.json"
MANIFEST = "manifest.json"
SHARDS_DIR = "_shards/"
LOGS_DIR = "_logs/"
MAX_ARRAY_SIZE = 10_000  # AWS Batch array jobs: 2..10,000 children

# Exit codes of the job runner. Batch retries any other non-zero exit (infrastructure)
# but not 3 (the pipeline or the data are wrong: another attempt would fail the same way).
EXIT_OK = 0
EXIT_FAILED = 3


def normalise_prefix(prefix: str) -> str:
    """An S3 prefix with no leading slash and exactly one trailing slash.

    >>> normalise_prefix("/examples/ExampleVitraImages/images")
    'examples/ExampleVitraImages/images/'
    """
    stripped = prefix.strip().strip("/")
    return stripped + "/" if stripped else ""


def job_key(bucket: str, pipeline: str, input_prefix: str, output_prefix: str) -> str:
    """The deterministic id of a job: the same work always gets the same id.

    Resource overrides are left out on purpose: resending a failed job with more
    memory is a retry of the same job, not a second one.

    >>> job_key("b", "p.cppipe", "in/", "out/") == job_key("b", "p.cppipe", "in/", "out/")
    True
    >>> job_key("b", "p.cppipe", "in/", "out/").startswith("cp-")
    True
    """
    text = "\n".join(
        [bucket, pipeline, normalise_prefix(input_prefix), normalise_prefix(output_prefix)]
    )
    return "cp-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def status_key(job_id: str) -> str:
    return STATUS_PREFIX + job_id + ".json"


def shard_name(index: int, count: int) -> str:
    """``0001-of-0004`` for the first of four shards (``index`` is 0-based).

    >>> shard_name(0, 4)
    '0001-of-0004'
    """
    return f"{index + 1:04d}-of-{count:04d}"


def shard_prefix(output: str, index: int, count: int) -> str:
    """Where shard ``index`` writes; a job of one shard writes to the output itself."""
    if count <= 1:
        return output
    return output + SHARDS_DIR + shard_name(index, count) + "/"


def log_key(output: str, index: int, count: int, attempt: int) -> str:
    return f"{output}{LOGS_DIR}{shard_name(index, count)}-attempt{attempt}.log"


def split_ranges(image_sets: int, shards: int) -> list[tuple[int, int | None]]:
    """CellProfiler ``-f/-l`` ranges (1-based, inclusive) for ``shards`` shards.

    Sizes differ by at most one. The last range is open (``None``): if the
    image-set count was an underestimate, the last shard still runs to the end.

    >>> split_ranges(5, 2)
    [(1, 3), (4, None)]
    >>> split_ranges(2, 1)
    [(1, None)]
    >>> split_ranges(3, 5)
    [(1, 1), (2, 2), (3, None)]
    """
    if image_sets < 1 or shards < 1:
        raise ValueError("image_sets and shards must be positive")
    shards = min(shards, image_sets)
    base, extra = divmod(image_sets, shards)
    ranges: list[tuple[int, int | None]] = []
    first = 1
    for index in range(shards):
        size = base + (1 if index < extra else 0)
        last: int | None = first + size - 1
        ranges.append((first, last))
        first += size
    ranges[-1] = (ranges[-1][0], None)
    return ranges


def shard_range(index: int, shards: int, image_sets: int) -> tuple[int, int | None]:
    """The range of one shard; a single shard runs every image set: ``(1, None)``."""
    if shards <= 1:
        return (1, None)
    return split_ranges(image_sets, shards)[index]


def range_arguments(shard: tuple[int, int | None]) -> list[str]:
    """``cellprofiler`` arguments for a range; none when it covers everything.

    >>> range_arguments((4, None))
    ['-f', '4']
    >>> range_arguments((1, None))
    []
    """
    first, last = shard
    arguments: list[str] = []
    if first > 1:
        arguments += ["-f", str(first)]
    if last is not None:
        arguments += ["-l", str(last)]
    return arguments
