"""The least-privilege policies allow the AWS calls the code really makes.

Each function's entry point runs with the ``dev`` stage's names against
in-memory AWS (moto); every botocore call is recorded, turned into the IAM
action and resource ARN AWS would authorise, and checked against that
function's policy (the Chalice policy file, or the CDK role's grants). A
policy missing a permission fails here instead of with AccessDenied in AWS.
"""

from __future__ import annotations

import fnmatch
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import aws
from chalicelib.config import Settings, reload_settings
from chalicelib.errors import InvalidInput
from chalicelib.faces.handlers import state_machine_definition
from chalicelib.faces.messages import FaceBlurJob
from devtools.local.resources import Provisioner
from devtools.synthetic.faces import moving_face
from infra import permissions, policies
from infra.stages import Stage
from tests.images import discs, encode
from tests.painting import upload_dataset

REGION, ACCOUNT = "us-east-1", "123456789012"
PNG = encode(discs(), ".png")


@dataclass
class Recorder:
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))


class RecordingLambda:
    """Records invokes (as botocore calls would be) and answers like our container functions."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self._recorder.calls.append(("lambda", "Invoke", kwargs))
        answer = {"status": "ok", "count": 3, "method": "watershed", "width": 8, "height": 8}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Recorder, Any]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("STAGE", "dev")
    settings = reload_settings()
    recorder = Recorder()
    aws.reset()
    # moto records submitted Batch jobs without trying to run them in Docker
    with mock_aws(config={"batch": {"use_docker": False}}):
        clients = {
            name: boto3.client(name, region_name=REGION)
            for name in ("s3", "sqs", "stepfunctions", "batch", "iam")
        }
        provisioner = Provisioner(settings, clients.__getitem__)
        provisioner.provision([])
        definition = state_machine_definition(
            {name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:x" for name in _placeholders()}
        )
        provisioner.state_machine(settings.face_blur_state_machine, definition)
        for client in clients.values():
            client.meta.events.register("before-parameter-build", recorder)
        with aws.injected(lambda_=RecordingLambda(recorder), **clients):
            yield settings, recorder, clients["s3"]
    aws.reset()
    monkeypatch.undo()
    reload_settings()


def _placeholders() -> list[str]:
    from chalicelib.faces.handlers import CONTAINER_TASKS, TASK_FUNCTIONS

    return [*TASK_FUNCTIONS, *CONTAINER_TASKS]


# -- what AWS authorises for a call ----------------------------------------------------------
def _s3(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
    obj = f"{bucket}/{params.get('Key', '')}"
    read = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
    table = {
        "HeadObject": [(read, obj)],
        "GetObject": [(read, obj)],
        "PutObject": [("s3:PutObject", obj)],
        "CreateMultipartUpload": [("s3:PutObject", obj)],
        "UploadPart": [("s3:PutObject", obj)],
        "CompleteMultipartUpload": [("s3:PutObject", obj)],
        "AbortMultipartUpload": [("s3:AbortMultipartUpload", obj)],
        # a conditional delete on an ETag also needs GetObject (S3's user guide)
        "DeleteObject": [("s3:DeleteObject", obj)]
        + ([(read, obj)] if params.get("IfMatch") else []),
        "ListObjectsV2": [("s3:ListBucket", bucket)],
        "ListObjects": [("s3:ListBucket", bucket)],
        # botocore signs a presigned POST through the CreateBucket model (no key yet);
        # what the form lets a browser do is PutObject into that bucket. (No function
        # creates buckets.)
        "CreateBucket": [("s3:PutObject", f"{bucket}/uploaded-by-a-form.png")],
    }
    if operation == "CopyObject":
        source = params["CopySource"]
        source_key = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source
        return [("s3:GetObject", f"arn:aws:s3:::{source_key}"), ("s3:PutObject", obj)]
    return table[operation]


def required(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs AWS checks for one API call."""
    if service == "s3":
        return _s3(operation, params)
    if service == "sqs":
        name = params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[-1]
        return [(f"sqs:{operation}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "lambda":
        name = params["FunctionName"]
        return [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")]
    if service == "stepfunctions":
        if operation == "StartExecution":
            return [("states:StartExecution", params["stateMachineArn"])]
        if "executionArn" in params:
            return [(f"states:{operation}", params["executionArn"])]
        return [(f"states:{operation}", "*")]
    if service == "ssm":
        return [(f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{params['Name']}")]
    if service == "batch" and operation == "SubmitJob":
        arn = f"arn:aws:batch:{REGION}:{ACCOUNT}"
        needed = [
            ("batch:SubmitJob", f"{arn}:job-queue/{params['jobQueue']}"),
            ("batch:SubmitJob", f"{arn}:job-definition/{params['jobDefinition']}"),
        ]
        return needed + ([("batch:TagResource", f"{arn}:job/new")] if params.get("tags") else [])
    return [(f"{service}:{operation}", "*")]


def request_context(service: str, operation: str, params: dict[str, Any]) -> dict[str, list[str]]:
    """The condition keys a call carries that our policies test (SubmitJob's tag keys)."""
    if service == "batch" and operation == "SubmitJob":
        return {"aws:TagKeys": sorted(params.get("tags") or {})}
    return {}


def allowed(
    policy: dict[str, Any], action: str, arn: str, context: dict[str, list[str]] | None = None
) -> bool:
    """Does an Allow statement match the action, the resource (IAM's * and ? globs, the
    caller's account for ``${aws:PrincipalAccount}``) and its conditions?"""
    for statement in policy["Statement"]:
        actions = _as_list(statement["Action"])
        resources = [
            r.replace("${aws:PrincipalAccount}", ACCOUNT) for r in _as_list(statement["Resource"])
        ]
        if (
            statement["Effect"] == "Allow"
            and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
            and any(fnmatch.fnmatchcase(arn, r) for r in resources)
            and conditions_hold(statement.get("Condition", {}), context or {})
        ):
            return True
    return False


def conditions_hold(block: dict[str, dict[str, Any]], context: dict[str, list[str]]) -> bool:
    """IAM's ForAllValues:StringEquals; any other operator is not modelled: no match."""
    for operator, tests in block.items():
        for key, values in tests.items():
            if operator != "ForAllValues:StringEquals":
                return False
            if not set(context.get(key, [])) <= set(_as_list(values)):
                return False
    return True


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def denied(recorder: Recorder, policy: dict[str, Any]) -> list[str]:
    return [
        f"{action} on {arn} ({service}.{operation})"
        for service, operation, params in recorder.calls
        for action, arn in required(service, operation, params)
        if not allowed(policy, action, arn, request_context(service, operation, params))
    ]


def chalice_policy(handler: str) -> dict[str, Any]:
    return policies.function_policy(Stage("dev"), handler)


def cdk_policy(grants: Callable[[Settings], list[permissions.Grant]], settings: Settings) -> Any:
    return permissions.static_policy(grants(settings))


def test_the_check_catches_a_missing_permission(cloud: tuple[Settings, Recorder, Any]) -> None:
    settings, recorder, s3 = cloud
    s3.put_object(Bucket=settings.data_bucket, Key="x", Body=b"1")  # not in the policy below
    assert denied(recorder, chalice_policy("record_face_blur_failure")) == [
        f"s3:PutObject on arn:aws:s3:::{settings.data_bucket}/x (s3.PutObject)"
    ]


def test_the_check_holds_the_account_and_the_tag_keys() -> None:
    """Another account's queue of our name and a tag key SubmitJob does not send are refused."""
    policy = chalice_policy("on_painting_message")
    queue = Stage("dev").settings.painting_queue
    mine = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
    assert allowed(policy, "sqs:ReceiveMessage", mine)
    assert not allowed(policy, "sqs:ReceiveMessage", mine.replace(ACCOUNT, "210987654321"))
    job = f"arn:aws:batch:{REGION}:{ACCOUNT}:job/new"
    assert allowed(policy, "batch:TagResource", job, {"aws:TagKeys": ["painting-job"]})
    assert not allowed(policy, "batch:TagResource", job, {"aws:TagKeys": ["painting-job", "owner"]})


# -- the functions, each through the call its Chalice handler makes ----------------------------
def test_image_upload(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.cells import handlers as intake

    settings, recorder, s3 = cloud
    s3.put_object(Bucket=settings.images_bucket, Key="a.png", Body=PNG)
    s3.put_object(Bucket=settings.images_bucket, Key="empty.png", Body=b"")
    recorder.calls.clear()
    assert intake.on_image_uploaded(settings.images_bucket, "a.png") == "dispatched"
    assert intake.on_image_uploaded(settings.images_bucket, "empty.png") == "rejected"
    assert intake.on_image_uploaded(settings.images_bucket, "gone.png") == "gone"
    assert denied(recorder, chalice_policy("on_image_uploaded")) == []


def test_video_upload_and_workflow_steps(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.faces import handlers as workflow

    settings, recorder, s3 = cloud
    s3.put_object(Bucket=settings.videos_bucket, Key="clip.mp4", Body=b"not really")
    recorder.calls.clear()
    assert workflow.on_video_uploaded(settings.videos_bucket, "clip.mp4") == "started"
    assert workflow.on_video_uploaded(settings.videos_bucket, "notes.txt") == "rejected"
    assert denied(recorder, chalice_policy("on_video_uploaded")) == []
    job = workflow._job(settings, settings.videos_bucket, "clip.mp4", "etag").to_state()
    # With the OpenCV detector the Rekognition steps refuse (detection runs in the
    # segment tasks); moto has no Rekognition, so only the failure step runs here.
    with pytest.raises(InvalidInput):
        workflow.run_step("start", job)
    recorder.calls.clear()
    workflow.run_step("failure", job)
    assert denied(recorder, chalice_policy("record_face_blur_failure")) == []


def test_every_route(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.cells import handlers as intake
    from chalicelib.errors import NotFound
    from chalicelib.painting import handlers as painting
    from chalicelib.predict import handlers as prediction
    from chalicelib.workers import handlers as jobs

    settings, recorder, s3 = cloud
    s3.put_object(
        Bucket=settings.data_bucket,
        Key="obs.csv",
        Body=b"meanConcavePoints,worstRadius,worstTexture,worstArea,worstConcavePoints\n"
        b"0.05,15,25,700,0.1\n",
    )
    recorder.calls.clear()
    with pytest.raises(NotFound):
        intake.get_count("missing.png")
    queued = jobs.submit_job(json.dumps({"task": "count-cells", "input": "s3://x/y.png"}))
    assert jobs.get_job(queued["job_id"])["status"] == "queued"
    with pytest.raises(NotFound):
        painting.get_job("cp-0123456789abcdef")
    body = json.dumps({"bucket": settings.data_bucket, "key": "obs.csv"})
    assert "rows" in json.dumps(prediction.predict_batch(body))
    assert denied(recorder, chalice_policy("api_handler")) == []


class RefusingSQS:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def send_message(self, **kwargs: Any) -> Any:
        raise RuntimeError("SQS is down")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_job_post_that_cannot_send_withdraws_its_record(
    cloud: tuple[Settings, Recorder, Any],
) -> None:
    """``POST /jobs`` deletes its ``queued`` (conditionally) when SQS refuses the send."""
    from chalicelib.workers import handlers as jobs

    _settings, recorder, _s3 = cloud
    recorder.calls.clear()
    with aws.injected(sqs=RefusingSQS(aws.client("sqs"))), pytest.raises(RuntimeError):
        jobs.submit_job(json.dumps({"job_id": "j-1", "task": "predict", "input": {"a": 1}}))
    assert "DeleteObject" in [operation for _s, operation, _p in recorder.calls]
    assert denied(recorder, chalice_policy("api_handler")) == []


def test_every_console_route(cloud: tuple[Settings, Recorder, Any]) -> None:
    """The lab console's routes run in the same function, with the same policy."""
    from chalicelib.cells.container import handle_count_request
    from chalicelib.console import handlers as console
    from chalicelib.console import pages
    from chalicelib.faces import handlers as workflow

    settings, recorder, s3 = cloud
    head = s3.put_object(Bucket=settings.images_bucket, Key="p/A01.png", Body=PNG)
    request = {
        "bucket": settings.images_bucket,
        "key": "p/A01.png",
        "etag": head["ETag"].strip('"'),
    }
    handle_count_request(request)
    s3.put_object(Bucket=settings.videos_bucket, Key="clip.mp4", Body=b"not really")
    workflow.on_video_uploaded(settings.videos_bucket, "clip.mp4")
    upload_dataset(s3, settings.data_bucket)
    recorder.calls.clear()
    assert console.list_images({"prefix": "p/"})["items"][0]["status"] == "ok"
    assert console.image({"key": "p/A01.png"})["document"]["status"] == "ok"
    assert console.upload_forms({"prefix": "p", "files": ["B01.png"], "diameter": "9"})["forms"]
    assert console.recount({"key": "p/A01.png", "method": "hough"})["status"] == "counting"
    assert console.summary_file({"prefix": "p/", "format": "xlsx"}).status_code == 200
    assert console.painting_jobs({})["total"] == 0
    assert console.videos({})["items"][0]["key"] == "clip.mp4"
    assert console.video({"key": "clip.mp4"})["workflow"]["states"]
    assert console.jobs({})["total"] == 0
    assert denied(recorder, chalice_policy("api_handler")) == []
    ssm = boto3.client("ssm", region_name=REGION)
    signin = {"domain": "https://x.auth.us-east-1.amazoncognito.com", "client_id": "abc"}
    ssm.put_parameter(
        Name=settings.console_signin_parameter, Value=json.dumps(signin), Type="String"
    )
    recorder.calls.clear()
    ssm.meta.events.register("before-parameter-build", recorder)
    with aws.injected(ssm=ssm):
        found = pages.auth_settings("cognito", settings.console_signin_parameter)
    assert (
        found["login_url"].startswith(signin["domain"] + "/login?")
        and "client_id=abc" in found["login_url"]
    )
    assert denied(recorder, chalice_policy("api_handler")) == []


def _records(s3: Any, queue: str, *bodies: str) -> list[Any]:
    """Real SQS records (valid receipt handles) as Chalice hands them over."""
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"

    class Record:
        def __init__(self, message: dict[str, Any]) -> None:
            self._raw = {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "eventSourceARN": arn,
            }

        def to_dict(self) -> dict[str, Any]:
            return self._raw

    return [Record(m) for m in received["Messages"]]


def test_job_worker(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.workers import handlers as jobs

    settings, recorder, s3 = cloud
    s3.put_object(Bucket=settings.images_bucket, Key="a.png", Body=PNG)
    s3.put_object(Bucket=settings.videos_bucket, Key="clip.mp4", Body=b"video")
    records = _records(
        s3,
        settings.jobs_queue,
        f"count s3://{settings.images_bucket}/a.png",
        f"blur s3://{settings.videos_bucket}/clip.mp4",
        f"count s3://{settings.data_bucket}/missing.png",
        "predict "
        + json.dumps(
            {
                "meanConcavePoints": 0.05,
                "worstRadius": 15,
                "worstTexture": 25,
                "worstArea": 700,
                "worstConcavePoints": 0.1,
            }
        ),
    )
    recorder.calls.clear()
    jobs.on_job_messages(records)
    assert denied(recorder, chalice_policy("on_job_messages")) == []


def test_painting_handler(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.painting import handlers as painting

    settings, recorder, s3 = cloud
    job = upload_dataset(s3, settings.data_bucket)
    records = _records(s3, settings.painting_queue, json.dumps(job), "{not json")
    recorder.calls.clear()
    outcomes = painting.on_painting_messages(records)
    assert sorted(o for found in outcomes.values() for o in found) == ["rejected", "submitted"]
    assert denied(recorder, chalice_policy("on_painting_message")) == []


def test_plate_jobs(cloud: tuple[Settings, Recorder, Any]) -> None:
    """A plate job: submitted by the SQS handler; reported and retried by the API handler."""
    from chalicelib.painting import handlers as painting
    from chalicelib.painting import layout
    from chalicelib.painting.messages import parse_job
    from devtools.synthetic.plate import REGEX, fields

    settings, recorder, s3 = cloud
    job = upload_dataset(s3, settings.data_bucket, "plates/p2/")
    for site in fields("P2", 2, 1):
        for channel in (1, 2):
            key = job["input"] + site.file_name(channel)
            s3.put_object(Bucket=settings.data_bucket, Key=key, Body=b"II*\x00")
    plate_job = {**job, "group_by": ["Well"], "metadata_regex": REGEX}
    records = _records(s3, settings.painting_queue, json.dumps(plate_job))
    recorder.calls.clear()
    assert list(painting.on_painting_messages(records).values()) == [["submitted"]]
    assert denied(recorder, chalice_policy("on_painting_message")) == []
    job_id = parse_job(0, plate_job).key(settings.data_bucket)  # type: ignore[union-attr]
    folder = layout.group_prefix(job["output"], "Well-A01")
    manifest = {"job_id": job_id, "status": "failed", "reason": "x", "submission": 1}
    s3.put_object(Bucket=settings.data_bucket, Key=folder + layout.MANIFEST,
                  Body=json.dumps(manifest).encode())  # fmt: skip
    recorder.calls.clear()
    assert "Well=A01" in json.dumps(painting.get_job(job_id)["groups"])
    painting.retry_job(job_id)
    assert denied(recorder, chalice_policy("api_handler")) == []


def test_container_functions(cloud: tuple[Settings, Recorder, Any]) -> None:
    from chalicelib.cells.container import handle_count_request
    from chalicelib.faces.container import handle_face_blur

    settings, recorder, s3 = cloud
    head = s3.put_object(Bucket=settings.data_bucket, Key="a.png", Body=PNG)
    recorder.calls.clear()
    request = {
        "bucket": settings.data_bucket,
        "key": "a.png",
        "etag": head["ETag"].strip('"'),
        "size": 1,
    }
    assert handle_count_request(request)["status"] == "ok"
    assert denied(recorder, cdk_policy(permissions.cell_counter, settings)) == []
    recorder.calls.clear()
    handle_face_blur({"action": "blur_image", "bucket": settings.data_bucket, "key": "a.png"})
    assert denied(recorder, cdk_policy(permissions.face_blur, settings)) == []
    # The workflow's three container tasks: plan, one segment, join.
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        moving_face(clip, frames=6, size=(160, 120), fps=6.0)
        s3.upload_file(str(clip), settings.videos_bucket, "clip.mp4")
    etag = s3.head_object(Bucket=settings.videos_bucket, Key="clip.mp4")["ETag"].strip('"')
    job = FaceBlurJob(
        settings.videos_bucket, "clip.mp4", etag, settings.blurred_videos_bucket, "opencv", 1
    )
    recorder.calls.clear()
    state = handle_face_blur({"action": "plan", "state": job.to_state()})
    parts = [handle_face_blur(item) for item in state["segments"]]
    handle_face_blur({"action": "join", "state": {**state, "parts": parts}})
    assert denied(recorder, cdk_policy(permissions.face_blur, settings)) == []


def test_cellprofiler_job(cloud: tuple[Settings, Recorder, Any]) -> None:
    """The Batch job runner (with the fake CellProfiler): shards, then the merge."""
    from chalicelib.painting.container import main
    from tests.painting import FAKE_CELLPROFILER

    settings, recorder, s3 = cloud
    job = upload_dataset(s3, settings.data_bucket)
    env = {
        "PAINTING_JOB_ID": "cp-test",
        "PAINTING_BUCKET": settings.data_bucket,
        "PIPELINE": job["pipeline"],
        "INPUT": job["input"],
        "OUTPUT": job["output"],
        "PAINTING_SHARDS": "2",
        "PAINTING_IMAGE_SETS": "2",
        "PAINTING_ATTEMPTS": "2",
        "CELLPROFILER": str(FAKE_CELLPROFILER),
    }
    recorder.calls.clear()
    for index in ("0", "1"):
        assert main(["run"], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": index}) == 0
    assert main(["merge"], env) == 0
    assert denied(recorder, cdk_policy(permissions.cellprofiler_job, settings)) == []
