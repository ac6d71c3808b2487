"""The rest of ``make demo``: a video through the face-blur workflow, and the chat bot's jobs.

Each part returns (exit code, lines to print), like the Cell Painting part.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.faces.messages import output_names
from chalicelib.storage import Bucket
from devtools.bot import BotClient

VIDEO_KEY = "samples/face-demo.mp4"
SEED_OBSERVATION = {
    "meanConcavePoints": 0.07951,
    "worstRadius": 24.86,
    "worstTexture": 26.58,
    "worstArea": 1866.0,
    "worstConcavePoints": 0.1789,
}


def faces_demo(cloud: Any, out: Path, timeout: float = 120.0) -> tuple[int, list[str]]:
    """Upload a generated video of a face; wait for the workflow's blurred video."""
    try:
        from devtools.synthetic.faces import moving_face
    except ImportError:  # scikit-image (the face photo) is a development dependency
        return 0, ["\nFace blurring: skipped (scikit-image is not installed)"]
    settings = cloud.settings
    s3 = aws.client("s3")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "face-demo.mp4"
        moving_face(source, frames=45, size=(320, 240), fps=15.0)
        s3.upload_file(str(source), settings.videos_bucket, VIDEO_KEY)
    started = time.perf_counter()
    result_key = output_names(VIDEO_KEY)["result"]
    result = None
    while result is None and time.perf_counter() - started < timeout:
        result = Bucket(s3, settings.blurred_videos_bucket).read_json(result_key)
        time.sleep(0.3)
    lines = [
        f"\nFace blurring: uploaded a 3 s video of a moving face to "
        f"s3://{settings.videos_bucket}/{VIDEO_KEY}; the face-blur state machine ran:"
    ]
    if result is None or result.get("status") != "ok":
        reason = (result or {}).get("error", {}).get("reason", f"no result within {timeout:.0f} s")
        return 1, [*lines, f"  failed: {reason}"]
    local = out / "face-demo.blurred.mp4"
    s3.download_file(settings.blurred_videos_bucket, result["output"]["key"], str(local))
    lines += [
        f"  {' -> '.join(_states(settings.face_blur_state_machine))}",
        f"  {result['frames']} frames {result['width']}x{result['height']} "
        f"@ {result['fps']:g} fps, {result['codec']}, {result['face_boxes_blurred']} face boxes "
        f"blurred in "
        f"{time.perf_counter() - started:.1f} s -> {local}",
    ]
    return 0, lines


def _states(machine: str) -> list[str]:
    sfn = aws.client("stepfunctions")
    arn = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == machine
    )
    [execution] = [
        e
        for e in sfn.list_executions(stateMachineArn=arn)["executions"]
        if e["name"].startswith("face-demo")
    ][:1]
    events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def workers_demo(cloud: Any, timeout: float = 60.0) -> tuple[int, list[str]]:
    """Send two jobs the way the chat bot does and print the replies."""
    settings = cloud.settings
    client = BotClient(settings, aws.client("sqs"))
    texts = [
        f"count s3://{settings.images_bucket}/samples/coins.png",
        f"predict {json.dumps(SEED_OBSERVATION)}",
    ]
    lines = ["\nQueue workers: the chat bot's messages and the replies (chat_id 7):"]
    code = 0
    for text in texts:
        reply = client.wait(client.send(text, "7"), timeout)
        if reply is None or reply.get("status") != "ok":
            code = 1
        lines.append(f"  bot> {text[:60]}{'…' if len(text) > 60 else ''}")
        lines.append(f"  worker> {_summary(reply)}")
    return code, lines


def _summary(reply: dict[str, Any] | None) -> str:
    if reply is None:
        return "no reply"
    if reply.get("status") != "ok":
        return f"{reply.get('status')}: {reply.get('error', {}).get('reason')}"
    result = reply["result"]
    if "count" in result:
        return f"{result['count']} cells ({result['method']}), {result['annotated']}"
    return f"{result['label']} (prediction {result['prediction']}, p={result['probability']:.3f})"
