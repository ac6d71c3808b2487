"""Amazon Rekognition Video face detection, as plain data (pagination hidden)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chalicelib.faces.messages import Box, Sample


class RekognitionFaces:
    def __init__(self, client: Any) -> None:
        self._client = client

    def start(self, bucket: str, key: str, version_id: str | None = None) -> str:
        video: dict[str, Any] = {"Bucket": bucket, "Name": key}
        if version_id:
            video["Version"] = version_id
        response = self._client.start_face_detection(
            Video={"S3Object": video}, FaceAttributes="DEFAULT"
        )
        return str(response["JobId"])

    def status(self, job_id: str) -> tuple[str, str]:
        """(``IN_PROGRESS`` | ``SUCCEEDED`` | ``FAILED``, Rekognition's message)."""
        response = self._client.get_face_detection(JobId=job_id, MaxResults=1)
        return str(response["JobStatus"]), str(response.get("StatusMessage", ""))

    def samples(self, job_id: str) -> list[Sample]:
        """Every face of the finished job, grouped by timestamp (ms), oldest first."""
        by_time: dict[float, list[Box]] = defaultdict(list)
        token = None
        while True:
            kwargs: dict[str, Any] = {"JobId": job_id, "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = self._client.get_face_detection(**kwargs)
            for face in page.get("Faces", []):
                box = face["Face"]["BoundingBox"]
                by_time[float(face["Timestamp"])].append(
                    (
                        float(box["Left"]),
                        float(box["Top"]),
                        float(box["Width"]),
                        float(box["Height"]),
                    )
                )
            token = page.get("NextToken")
            if not token:
                break
        return [Sample(t, tuple(boxes)) for t, boxes in sorted(by_time.items())]
