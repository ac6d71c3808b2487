"""Who calls what on AWS: one table for every function, job and workflow role.

Each entry lists the AWS actions a piece of code really makes (read off the
``self._s3.…``/``self._sqs.…`` calls in ``chalicelib``) and the resources they
touch, by *name* from the stage settings. Two renderers turn the same grants
into policy documents:

- :func:`static_policy` for the Chalice functions' policy files in ``.chalice/``
  (static JSON, the same for any account: the account is the policy variable
  ``${aws:PrincipalAccount}`` — the function role's own account, resolved by IAM
  per request —, the region ``*``; the resource names are ours);
- ``infra/stack.py`` for the CDK roles (real region and account).

Reading an S3 object that may be missing also needs ``s3:ListBucket`` on the
bucket: without it S3 answers 403 instead of 404 and our ``is_missing`` checks
would turn an expected "not there yet" into a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.painting.submission import PAINTING_JOB_TAG

# Actions that have no resource type in IAM: AWS only accepts "Resource": "*" for them.
# Each has the reason; the IAM audit (infra/iam_audit.py) allows exactly these.
RESOURCELESS_ACTIONS = {
    "rekognition:StartFaceDetection": "Rekognition Video jobs have no resource ARN",
    "rekognition:GetFaceDetection": "Rekognition Video jobs have no resource ARN",
    "states:ListStateMachines": "a list action: no resource type",
    "batch:DescribeJobs": "AWS Batch supports no resource-level permissions for it",
    "batch:ListJobs": "AWS Batch supports no resource-level permissions for it",
    "ecr:GetAuthorizationToken": "an account-wide registry login token",
}


@dataclass(frozen=True)
class Resource:
    """A resource of ours, by kind and name (``any`` only for resource-less actions)."""

    kind: str  # objects | bucket | queue | function | state_machine | executions | parameter
    #            | job_queue | job_definition | batch_jobs | log_group | any
    name: str = ""


@dataclass(frozen=True)
class Condition:
    """One IAM condition: ``{operator: {key: values}}``."""

    operator: str  # e.g. "ForAllValues:StringEquals"
    key: str  # e.g. "aws:TagKeys"
    values: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[Resource, ...]
    conditions: tuple[Condition, ...] = ()


def condition_block(conditions: Iterable[Condition]) -> dict[str, dict[str, list[str]]]:
    """The ``Condition`` element of a statement (empty: no conditions)."""
    block: dict[str, dict[str, list[str]]] = {}
    for condition in conditions:
        block.setdefault(condition.operator, {})[condition.key] = list(condition.values)
    return block


def objects(bucket: str) -> Resource:
    return Resource("objects", bucket)


def bucket(name: str) -> Resource:
    return Resource("bucket", name)


def queue(name: str) -> Resource:
    return Resource("queue", name)


def function(name: str) -> Resource:
    return Resource("function", name)


ANY = Resource("any")


# -- building blocks ----------------------------------------------------------------------
def read(sid: str, *buckets: str, versions: bool = False) -> list[Grant]:
    """GetObject (HeadObject too) and ListBucket so that a missing key is a 404."""
    actions = ("s3:GetObject", "s3:GetObjectVersion") if versions else ("s3:GetObject",)
    return [
        Grant(sid + "Objects", actions, tuple(objects(b) for b in buckets)),
        Grant(sid + "List", ("s3:ListBucket",), tuple(bucket(b) for b in buckets)),
    ]


def write(sid: str, *buckets: str, multipart: bool = False) -> Grant:
    actions = ("s3:PutObject", "s3:AbortMultipartUpload") if multipart else ("s3:PutObject",)
    return Grant(sid, actions, tuple(objects(b) for b in buckets))


def poll(sid: str, name: str) -> Grant:
    """What Lambda's SQS poller does with the function's role, plus our own deletes."""
    return Grant(
        sid,
        ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
        (queue(name),),
    )


def send(sid: str, *names: str) -> Grant:
    return Grant(sid, ("sqs:GetQueueUrl", "sqs:SendMessage"), tuple(queue(n) for n in names))


def invoke(sid: str, *names: str) -> Grant:
    return Grant(sid, ("lambda:InvokeFunction",), tuple(function(n) for n in names))


def start_workflow(settings: Settings) -> list[Grant]:
    return [
        Grant("FindStateMachine", ("states:ListStateMachines",), (ANY,)),
        Grant(
            "StartFaceBlur",
            ("states:StartExecution",),
            (Resource("state_machine", settings.face_blur_state_machine),),
        ),
    ]


def input_buckets(settings: Settings) -> tuple[str, ...]:
    """Buckets a job may name as its input (uploads and the lab's data)."""
    return (settings.images_bucket, settings.data_bucket, settings.videos_bucket)


# -- the Chalice functions (zip) -----------------------------------------------------------
def api_handler(s: Settings) -> list[Grant]:
    """Every route: /counts, /jobs, /painting/jobs/{id}, /predict, /predict/batch, /model,
    and the lab console's /console/api/… (one function serves them all)."""
    return [
        *read("ReadResults", s.results_bucket),  # counts/…/result.json, results/jobs/…
        # POST /jobs: the queued record; POST /predict/batch: predictions/<key>.csv;
        # the console's listing index (console/index/…)
        write("WriteResults", s.results_bucket),
        send("EnqueueJobs", s.jobs_queue),
        # POST /jobs withdraws its ``queued`` record when the send fails (a conditional
        # delete on its ETag, which also needs the GetObject of ReadResults): job records only.
        Grant(
            "WithdrawQueuedJobs",
            ("s3:DeleteObject",),
            (objects(f"{s.results_bucket}/results/jobs"),),
        ),
        # GET /painting/jobs: status records and outputs; POST /predict/batch reads its
        # observations from the trusted data bucket only (any other bucket: 403 -> Forbidden).
        *read("ReadData", s.data_bucket),
        Grant("DescribeBatchJobs", ("batch:DescribeJobs",), (ANY,)),
        # The console: lists uploads and videos and signs links to them (a presigned URL
        # carries this role's permission), signs upload forms for the images bucket,
        # recounts a stored image, and reads the face-blur workflow's state.
        *read("ReadUploads", s.images_bucket, s.videos_bucket, s.blurred_videos_bucket),
        write("SignUploads", s.images_bucket),
        invoke("Recount", s.cell_counter_function),
        Grant("FindStateMachine", ("states:ListStateMachines",), (ANY,)),
        Grant(
            "ReadFaceBlurRuns",
            ("states:DescribeExecution", "states:GetExecutionHistory"),
            (Resource("executions", s.face_blur_state_machine),),
        ),
        # GET /console/auth.json: the hosted sign-in page's domain and the app client id
        Grant(
            "ReadConsoleSignIn",
            ("ssm:GetParameter",),
            (Resource("parameter", s.console_signin_parameter),),
        ),
        # GET /painting/jobs/{id} redraws a plate job's plate maps; POST .../retry rewrites
        # its status record and submits the failed groups again.
        write("WritePaintingRecords", s.data_bucket),
        *submit_cellprofiler(s),
    ]


def submit_cellprofiler(s: Settings) -> list[Grant]:
    """SubmitJob on the allowed CellProfiler queues and job definitions (and its tags)."""
    queues = [Resource("job_queue", name) for name in s.allowed_job_queues]
    definitions = [Resource("job_definition", name) for name in s.allowed_job_definitions]
    return [
        Grant("SubmitCellProfiler", ("batch:SubmitJob",), (*queues, *definitions)),
        # SubmitJob with tags also authorises TagResource on the job it creates. A job's
        # ARN exists only once submitted, so the resource is any job of the account: the
        # condition keeps the grant to our one tag key (no other tag on any job).
        Grant(
            "TagSubmittedJobs",
            ("batch:TagResource",),
            (Resource("batch_jobs"),),
            (Condition("ForAllValues:StringEquals", "aws:TagKeys", (PAINTING_JOB_TAG,)),),
        ),
    ]


def on_image_uploaded(s: Settings) -> list[Grant]:
    return [
        *read("HeadUploads", s.images_bucket),
        write("WriteErrorResults", s.results_bucket),
        invoke("StartCounter", s.cell_counter_function),
        # Lambda sends an event that failed every retry to the on-failure destination
        # with the function's own role (infra/api_access.py attaches the destination).
        send("UploadFailures", s.upload_failures_queue),
    ]


def on_video_uploaded(s: Settings) -> list[Grant]:
    return [
        *read("HeadUploads", s.videos_bucket),
        write("WriteErrorResults", s.blurred_videos_bucket),
        *start_workflow(s),
        send("UploadFailures", s.upload_failures_queue),
    ]


def start_face_detection(s: Settings) -> list[Grant]:
    return [
        Grant("StartRekognition", ("rekognition:StartFaceDetection",), (ANY,)),
        # Rekognition Video reads the video with the caller's permissions: uploads, and
        # worker ``blur-faces`` jobs naming a video in any input bucket.
        Grant(
            "RekognitionReadsVideo",
            ("s3:GetObject", "s3:GetObjectVersion"),
            tuple(objects(b) for b in input_buckets(s)),
        ),
    ]


def get_face_detection_status(s: Settings) -> list[Grant]:
    return [
        Grant("PollRekognition", ("rekognition:GetFaceDetection",), (ANY,)),
        *read("ReadDetections", s.blurred_videos_bucket),  # detections.json: absent = running
    ]


def get_face_detections(s: Settings) -> list[Grant]:
    return [
        Grant("ReadRekognition", ("rekognition:GetFaceDetection",), (ANY,)),
        write("WriteDetections", s.blurred_videos_bucket),
    ]


def record_face_blur_failure(s: Settings) -> list[Grant]:
    return [write("WriteErrorResult", s.blurred_videos_bucket)]


def on_job_messages(s: Settings) -> list[Grant]:
    return [
        poll("ConsumeJobs", s.jobs_queue),
        send("ReplyAndDeadLetter", s.job_results_queue, s.jobs_dlq),
        *read("ReadJobRecords", s.results_bucket),
        Grant("WriteJobRecords", ("s3:PutObject", "s3:DeleteObject"), (objects(s.results_bucket),)),
        *read("HeadJobInputs", *input_buckets(s)),
        invoke("RunContainerFunctions", s.cell_counter_function, s.face_blur_function),
        *start_workflow(s),
    ]


def on_painting_message(s: Settings) -> list[Grant]:
    return [
        poll("ConsumePaintingJobs", s.painting_queue),
        *read("ReadPaintingData", s.data_bucket),
        write("WriteStatusRecords", s.data_bucket),
        *submit_cellprofiler(s),
        Grant("FindBatchJobs", ("batch:ListJobs", "batch:DescribeJobs"), (ANY,)),
    ]


CHALICE_FUNCTIONS: dict[str, Callable[[Settings], list[Grant]]] = {
    "api_handler": api_handler,
    "on_image_uploaded": on_image_uploaded,
    "on_video_uploaded": on_video_uploaded,
    "start_face_detection": start_face_detection,
    "get_face_detection_status": get_face_detection_status,
    "get_face_detections": get_face_detections,
    "record_face_blur_failure": record_face_blur_failure,
    "on_job_messages": on_job_messages,
    "on_painting_message": on_painting_message,
}


# -- CDK-managed code: container functions and the Batch job --------------------------------
def cell_counter(s: Settings) -> list[Grant]:
    return [
        # Uploads and worker jobs (an image in the data bucket); IfMatch on the ETag.
        *read("ReadImages", s.images_bucket, s.data_bucket),
        *read("ReadResults", s.results_bucket),  # an earlier result: duplicate events
        write("WriteResults", s.results_bucket),
    ]


def face_blur(s: Settings) -> list[Grant]:
    return [
        # Videos by version (download_file with VersionId), images for worker jobs.
        *read("ReadInputs", *input_buckets(s), versions=True),
        *read("ReadDetections", s.blurred_videos_bucket),
        write("WriteOutputs", s.blurred_videos_bucket, multipart=True),
        # JoinSegments removes the segment files (_work/...) once the video is joined.
        Grant("DeleteSegments", ("s3:DeleteObject",), (objects(s.blurred_videos_bucket),)),
    ]


def cellprofiler_job(s: Settings) -> list[Grant]:
    """The Batch job runner: pipeline and images in, CSVs, manifest and status out."""
    return [
        *read("ReadPaintingData", s.data_bucket),
        write("WritePaintingOutputs", s.data_bucket, multipart=True),
    ]


# -- rendering -------------------------------------------------------------------------------
# ARN patterns for a policy file: any region, the caller's own account, our resource names.
# (S3 ARNs carry no account: bucket names are global; `make deploy` checks they are ours.)
ACCOUNT = "${aws:PrincipalAccount}"
STATIC_ARNS = {
    "objects": ("arn:aws:s3:::{name}/*",),
    "bucket": ("arn:aws:s3:::{name}",),
    "queue": ("arn:aws:sqs:*:{account}:{name}",),
    "function": ("arn:aws:lambda:*:{account}:function:{name}",),
    "state_machine": ("arn:aws:states:*:{account}:stateMachine:{name}",),
    "executions": ("arn:aws:states:*:{account}:execution:{name}:*",),
    "parameter": ("arn:aws:ssm:*:{account}:parameter{name}",),  # SSM names start with "/"
    "job_queue": ("arn:aws:batch:*:{account}:job-queue/{name}",),
    # SubmitJob names a definition by name (latest revision) or name:revision.
    "job_definition": (
        "arn:aws:batch:*:{account}:job-definition/{name}",
        "arn:aws:batch:*:{account}:job-definition/{name}:*",
    ),
    "batch_jobs": ("arn:aws:batch:*:{account}:job/*",),  # a job's ARN exists only once submitted
    "log_group": (
        "arn:aws:logs:*:{account}:log-group:{name}",
        "arn:aws:logs:*:{account}:log-group:{name}:*",
    ),
    "any": ("*",),
}


def static_arns(resource: Resource) -> list[str]:
    if resource.kind not in STATIC_ARNS:
        raise ValueError(f"unknown resource kind {resource.kind!r}")
    return [
        pattern.format(name=resource.name, account=ACCOUNT)
        for pattern in STATIC_ARNS[resource.kind]
    ]


def log_grants(function_name: str) -> list[Grant]:
    group = Resource("log_group", f"/aws/lambda/{function_name}")
    actions = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
    return [Grant("Logs", actions, (group,))]


def statement(grant: Grant, arns: Iterable[str]) -> dict[str, Any]:
    resources = sorted(set(arns))
    document: dict[str, Any] = {
        "Sid": grant.sid,
        "Effect": "Allow",
        "Action": sorted(grant.actions),
        "Resource": resources[0] if len(resources) == 1 else resources,
    }
    if grant.conditions:
        document["Condition"] = condition_block(grant.conditions)
    return document


def static_policy(grants: Iterable[Grant]) -> dict[str, Any]:
    statements = [
        statement(g, [arn for r in g.resources for arn in static_arns(r)]) for g in grants
    ]
    return {"Version": "2012-10-17", "Statement": statements}
