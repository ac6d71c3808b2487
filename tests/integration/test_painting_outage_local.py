"""Cell Painting when S3 fails under the handler: retried, then dead-lettered, never lost.

A module of its own: it needs a local cloud whose data bucket it may delete, and only
one local cloud runs per process (the other painting tests share theirs).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from chalicelib import aws
from devtools.local.batch import ProcessLauncher
from devtools.local.cloud import LocalCloud
from tests.integration.conftest import eventually
from tests.integration.test_painting_local import send
from tests.painting import FAKE_CELLPROFILER

pytestmark = pytest.mark.integration


def test_transient_failures_go_to_the_dead_letter_queue_after_n_receives() -> None:
    """S3 failing (here: the data bucket is gone) is retried, then dead-lettered, never lost."""
    launcher = ProcessLauncher(sys.executable, str(FAKE_CELLPROFILER))
    with LocalCloud(port=0, retry_delay=0, batch_launcher=launcher) as cloud:
        assert cloud.settings is not None and cloud.provisioned is not None
        aws.client("s3").delete_bucket(Bucket=cloud.settings.data_bucket)
        body = json.dumps({"pipeline": "p.cppipe", "input": "in/", "output": "out/"})
        send(cloud, body)
        dlq = cloud.provisioned.url(cloud.settings.painting_dlq)

        def dead_letters() -> list[dict[str, Any]]:
            answer = aws.client("sqs").receive_message(
                QueueUrl=dlq, WaitTimeSeconds=1, AttributeNames=["ApproximateReceiveCount"]
            )
            return list(answer.get("Messages", []))

        [message] = eventually(dead_letters, timeout=30)
        assert message["Body"] == body
        assert cloud.batch is not None and cloud.batch.submissions == []
