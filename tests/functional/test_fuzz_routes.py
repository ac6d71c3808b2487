"""A bounded, seeded fuzz of every route (issue 13): client input never gets a 5xx.

Routes are read from the app itself, so a route added later is fuzzed too. Each
gets the same number of cases from one seeded generator: its own methods and
others, path parameters and query strings of awkward text, bodies of random JSON
(nested up to 30,000 deep, huge integers, floats beyond float64), random bytes, and
a few valid-looking documents with one field wrong, under several content types.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.config import Settings
from tests.functional.conftest import CountingS3
from tests.predict_data import SEED_BENIGN

SEED = 13
CASES_PER_ROUTE = 400
# (not OPTIONS: chalice.test's client fails on the body-less preflight answer it builds itself)
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")
CONTENT_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "", "*/*")
TEXTS = [
    "",
    " ",
    "..",
    "../../etc/passwd",
    "a/../../b",
    "//x",
    "%00",
    "\u0000",
    "\ud7ff",
    "é漢字🙂",
    "x" * 2000,
    "{}",
    "[]",
    "null",
    "-1",
    "1e309",
    "9" * 5000,
    "'; DROP TABLE jobs; --",
    "<script>",
    "=HYPERLINK(1)",
    "s3://",
    "s3://lab-local-images/",
    "s3://lab-local-images/a.png",
]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 10**400, rng.randint(-(10**9), 10**9)])
    if kind == 2:
        return rng.choice([0.5, -1e308, 1e-320, 3.5e38, rng.random()])
    if kind in (3, 4, 5):
        return rng.choice(TEXTS)
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        keys = [*SEED_BENIGN, "task", "input", "params", "attributes", "bucket", "key", "job_id"]
        return {
            rng.choice(keys + TEXTS): random_json(rng, depth + 1) for _ in range(rng.randrange(5))
        }
    return {**SEED_BENIGN, rng.choice(list(SEED_BENIGN)): random_json(rng, depth + 1)}


def random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return b""
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 2:
        depth = rng.choice([100, 965, 1000, 5000, 30_000])
        return ("[" * depth + "]" * depth).encode()
    if kind == 3:
        depth = rng.choice([100, 970, 30_000])
        inner = '{"a":' * depth + "1" + "}" * depth
        return json.dumps({"task": "predict", "input": "X"}).replace('"X"', inner).encode()
    if kind == 4:
        attributes = {rng.choice([*TEXTS, "chat_id", "a b", "AWS.x"]): rng.choice([*TEXTS, "1"])}
        return json.dumps(
            {"task": "count", "input": "s3://a/b.png", "attributes": attributes}
        ).encode()
    if kind == 5:
        return json.dumps(
            {
                "bucket": rng.choice([*TEXTS, "lab-local-data"]),
                "key": rng.choice([*TEXTS, "x.csv", "x.joblib"]),
            }
        ).encode()
    return json.dumps(random_json(rng), allow_nan=rng.random() < 0.2).encode()


def concrete(path: str, rng: random.Random) -> str:
    filled = re.sub(r"\{[^}]+\}", lambda _: quote(rng.choice(TEXTS) or "x", safe=""), path)
    if rng.random() < 0.5:
        filled += "?" + rng.choice(
            ["key=", "key=" + quote(rng.choice(TEXTS), safe=""), "x=1&key=a"]
        )
    return filled


@pytest.fixture
def queues(s3: CountingS3, settings: Settings) -> None:
    sqs = aws.client("sqs")
    for name in (settings.jobs_queue, settings.jobs_dlq, settings.job_results_queue):
        sqs.create_queue(QueueName=name)


def test_no_route_answers_client_input_with_a_5xx(
    client: Client, s3: CountingS3, settings: Settings, queues: None
) -> None:
    import app

    rng = random.Random(SEED)
    routes = sorted(app.app.routes)
    assert len(routes) >= 6
    statuses: Counter[int] = Counter()
    failures = []
    for path in routes:
        own = sorted(app.app.routes[path])
        for _ in range(CASES_PER_ROUTE):
            method = rng.choice(own) if rng.random() < 0.8 else rng.choice(METHODS)
            target = concrete(path, rng)
            headers = {"Content-Type": rng.choice(CONTENT_TYPES)} if rng.random() < 0.9 else {}
            body = random_body(rng) if method in ("POST", "PUT", "PATCH") else b""
            response = client.http.request(method, target, headers=headers, body=body)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append((method, target[:80], body[:80], response.body[:200]))
    cases = sum(statuses.values())
    print(f"fuzzed {cases} requests over {len(routes)} routes: {dict(sorted(statuses.items()))}")
    assert cases == CASES_PER_ROUTE * len(routes)
    assert not failures, f"{len(failures)} of {cases} cases got a 5xx, e.g. {failures[:3]}"
