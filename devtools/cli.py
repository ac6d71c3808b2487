"""``lab``: the project's command line.

Commands import what they need when they run, so ``local`` never loads OpenCV.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from chalicelib.config import PROJECT_DIR
from chalicelib.errors import InvalidInput, NotFound


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--param takes NAME=VALUE, got {pair!r}")
        parameters[name.strip().replace("-", "_")] = value.strip()
    return parameters


def cmd_count_summary(args: argparse.Namespace) -> int:
    """``lab count FOLDER_OR_S3_PREFIX --summary out.csv [--heatmap out.png]``."""
    from devtools.bench.progress import Bar
    from devtools.summary import summarise

    parameters: dict[str, Any] = dict(_parameters(args.param))
    for name in ("diameter", "threshold_offset", "image_type", "pixel_size"):
        if getattr(args, name) is not None:
            parameters[name] = getattr(args, name)
    summary = Path(args.summary) if args.summary else None
    heatmap = Path(args.heatmap) if args.heatmap else None
    with Bar("counting") as bar:
        lines = summarise(args.image, summary, heatmap, args.method, parameters, bar.update)
    print("\n".join(lines))
    return 0


def parameter_grid(values: dict[str, str]) -> list[dict[str, str]]:
    """Every combination of comma-separated parameter values, in order.

    >>> parameter_grid({"diameter": "10,15", "image_type": "auto"})
    [{'diameter': '10', 'image_type': 'auto'}, {'diameter': '15', 'image_type': 'auto'}]
    """
    import itertools

    names = list(values)
    choices = [[v.strip() for v in values[name].split(",") if v.strip()] for name in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def cmd_count(args: argparse.Namespace) -> int:
    from devtools.summary import is_target_folder

    if args.summary or args.heatmap or is_target_folder(args.image):
        return cmd_count_summary(args)
    from chalicelib.cells import imaging
    from chalicelib.cells.container import count_image, result_document
    from chalicelib.cells.messages import CountRequest
    from chalicelib.config import get_settings

    path = Path(args.image)
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; give one image file (PNG, JPEG or TIFF)")
    data = path.read_bytes()
    given: dict[str, str] = dict(_parameters(args.param))
    for name in ("diameter", "threshold_offset", "image_type", "pixel_size"):
        if getattr(args, name) is not None:
            given[name] = str(getattr(args, name))
    grid = parameter_grid(given)
    if len(grid) > 1:
        return _count_sheet(args, path, data, grid)
    started = time.perf_counter()
    counting, image, timings = count_image(
        data, get_settings().max_image_pixels, args.method, grid[0]
    )
    if args.annotate:
        annotated = imaging.annotate(image, counting)
        Path(args.annotate).write_bytes(imaging.encode(annotated, args.annotate))
    elapsed = (time.perf_counter() - started) * 1e3
    if args.json:
        request = CountRequest(bucket="", key=str(path))
        print(json.dumps(result_document(request, counting, image, elapsed, timings), indent=1))
    else:
        height, width = image.shape[:2]
        print(
            f"{path.name}: {counting.count} cells ({counting.method}, {width}x{height}) "
            f"in {elapsed:.0f} ms (decode {timings['decode']:.0f} ms, "
            f"count {timings['count']:.0f} ms)"
        )
        if counting.quality is not None:
            verdict = "reliable" if counting.quality.reliable else "NOT reliable"
            qc = counting.quality.qc
            # Diagnostics on stderr: stdout stays one line per image for scripts.
            print(
                f"  {qc['image_type']} (confidence {qc['image_type_confidence']}), "
                f"diameter {qc['diameter_px']} px, {qc['flagged_objects']} flagged; {verdict}",
                file=sys.stderr,
            )
            for warning in qc["warnings"]:
                print(f"  warning: {warning}", file=sys.stderr)
    return 0


def _count_sheet(
    args: argparse.Namespace, path: Path, data: bytes, grid: list[dict[str, str]]
) -> int:
    """Count once per parameter combination; one contact sheet of the overlays."""
    from chalicelib.cells import imaging
    from chalicelib.cells.container import count_image
    from chalicelib.config import get_settings

    panels = []
    for parameters in grid:
        counting, image, _ = count_image(
            data, get_settings().max_image_pixels, args.method, parameters
        )
        label = ", ".join(f"{k}={v}" for k, v in parameters.items())
        print(f"{path.name}: {label}: {counting.count} cells")
        panels.append((imaging.annotate(image, counting), f"{label}: {counting.count}"))
    out = Path(args.sheet or args.annotate or f"{path.stem}.sheet.png")
    out.write_bytes(imaging.encode(imaging.contact_sheet(panels), out.name))
    print(f"contact sheet: {out}")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    import signal
    import threading

    from chalicelib import aws
    from devtools.local.cloud import LocalCloud
    from devtools.local.watch import ResultWatcher, sources

    stop = threading.Event()
    # Ctrl-C and SIGTERM stop it, whatever the parent left: a shell that starts a job in
    # the background (`lab local &` in a script, CI) sets SIGINT to "ignore", and Python
    # then installs no KeyboardInterrupt handler, so Ctrl-C / kill -INT did nothing.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    state = Path(args.state_dir) if args.state_dir else None
    with LocalCloud(port=args.port, http_port=args.http_port, state_dir=state) as cloud:
        assert cloud.settings is not None
        print(f"console    {cloud.http_url}/   (the lab console: open it in a browser)")
        print(f"emulator   {cloud.endpoint}   (export AWS_ENDPOINT_URL={cloud.endpoint})")
        print(f"HTTP API   {cloud.http_url}")
        if state is not None:
            print(
                f"kept in    {state}/ ({cloud.restored} objects restored; "
                "--state-dir '' keeps none)"
            )
        print(
            f"upload images on the page or to s3://{cloud.settings.images_bucket}/ ; "
            "each finished result is printed below"
        )
        watcher = ResultWatcher(
            aws.client("s3"), sources(cloud.settings), lambda line: print(line, flush=True)
        )
        watcher.prime()
        watcher.start()
        print("ready; Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
        watcher.stop()
        print("stopping", flush=True)
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from chalicelib import aws
    from devtools.local.redrive import redrive
    from devtools.transfer import use_endpoint

    use_endpoint(args.endpoint)
    try:
        done = redrive(aws.client("sqs"), args.queue)
    except LookupError as error:
        raise InvalidInput(str(error)) from None
    print(f"{done.moved} message(s) moved from {done.dead_letters} back to {done.source}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools.local.demo import run_demo

    return run_demo(Path(args.samples), Path(args.out), timeout=args.timeout)


def cmd_blur(args: argparse.Namespace) -> int:
    from chalicelib.config import get_settings
    from chalicelib.faces import process, video
    from chalicelib.faces.blazeface import shared_detector
    from chalicelib.faces.tracking import CoverageSettings
    from devtools.bench.progress import Bar

    source, target = Path(args.video), Path(args.out)
    info, times = process.checked_video(source, get_settings().max_video_seconds)
    # A variable-rate source is written at its average rate, then joined back onto its
    # frames' own times with its sound laid over (as the workflow's join does).
    retimed = video.variable_times(times) is not None
    written = target.with_suffix(".average-rate.mp4") if retimed else target
    coverage = CoverageSettings.for_mode(args.strict)
    started = time.perf_counter()
    with Bar("blurring faces") as bar:
        done = process.anonymise(
            source,
            written,
            shared_detector(),
            info,
            settings=coverage,
            audio=not retimed,
            progress=bar.update,
        )
    if retimed:
        try:
            video.join([written], target, audio_from=source, times=times)
        finally:
            written.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    sheet = target.with_suffix(".review.png")
    if done.review_png:
        sheet.write_bytes(done.review_png)
    whole = f", {done.stats.frames_fully_blurred} blurred whole" if args.strict else ""
    print(
        f"{target}: {done.frames} frames {info.width}x{info.height} "
        f"@ {info.fps:g} fps, {done.codec}; {done.rects_blurred} face boxes blurred "
        f"(up to {done.stats.max_faces} per frame, {done.stats.tracks} faces tracked{whole}) "
        f"in {elapsed:.1f} s = {done.frames / elapsed:.0f} fps "
        f"({done.frames / info.fps / elapsed:.1f}x real time); review sheet {sheet}"
    )
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from chalicelib import aws
    from chalicelib.config import get_settings
    from devtools.bot import BotClient
    from devtools.transfer import use_endpoint

    use_endpoint(args.endpoint)
    client = BotClient(get_settings(), aws.client("sqs"))
    job_id = client.send(f"{args.task} {args.input}", args.chat_id)
    print(f"job {job_id} sent (chat_id {args.chat_id})", flush=True)
    if not args.wait:
        return 0
    reply = client.wait(job_id, args.timeout)
    if reply is None:
        print(f"error: no reply within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=1))
    return 0 if reply.get("status") == "ok" else 1


def cmd_put(args: argparse.Namespace) -> int:
    from devtools.transfer import put, use_endpoint

    use_endpoint(args.endpoint)
    metadata = {name.replace("_", "-"): value for name, value in _parameters(args.meta).items()}
    for url in put(Path(args.source), args.target, metadata, gunzip=args.gunzip):
        print(url)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from devtools.transfer import get, use_endpoint

    use_endpoint(args.endpoint)
    body = get(args.source, Path(args.out) if args.out else None, wait=args.wait)
    if not args.out:
        sys.stdout.buffer.write(body)
    return 0


def cmd_painting(args: argparse.Namespace) -> int:
    from devtools.transfer import painting_job, send_painting, use_endpoint, wait_for_painting

    use_endpoint(args.endpoint)
    job_id = send_painting(painting_job(args.pipeline, args.input, args.output))
    print(f"painting job {job_id} sent (GET {args.api}/painting/jobs/{job_id})", flush=True)
    if not args.wait:
        return 0
    status = wait_for_painting(args.api, job_id, args.timeout)
    if status is None:
        print(f"error: no status within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=1))
    return 0 if status.get("state") == "succeeded" else 1


def cmd_bench(args: argparse.Namespace) -> int:
    if args.pipeline == "count" and args.against:
        from devtools.bench import compare

        return compare.compare(
            args.against, args.rounds or 5, args.large, args.identical, as_json=args.json
        )
    if args.pipeline == "count" and args.small_crops:
        from devtools.bench import small_crops

        return small_crops.run(as_json=args.json)
    if args.pipeline == "count":
        from devtools.bench import count

        return count.run(Path(args.image) if args.image else None, as_json=args.json)
    if args.pipeline == "blur":
        from devtools.bench import blur

        return blur.run(
            held_out=args.held_out,
            strict=args.strict,
            only=args.case,
            seed=args.seed,
            detector=args.detector,
            cold=args.cold,
            rounds=args.rounds or 1,
        )
    if args.pipeline == "predict":
        from devtools.bench.predict import run_bench

        return int(
            run_bench(requests=args.requests, seconds=args.seconds, package=not args.no_package)
        )
    if args.pipeline == "painting" and args.plate:
        from devtools.bench import plate

        return plate.run(args.plate, args.workers, args.cellprofiler)
    if args.pipeline == "painting":
        from devtools.bench import painting

        shards = [int(n) for n in args.shards.split(",")]
        return painting.run(Path(args.data), shards, args.copies, args.cellprofiler)
    if args.pipeline == "console":
        from devtools.bench import console

        return console.run(browser=args.browser)
    if args.pipeline == "outage":
        from devtools.bench.outage import print_outage

        return print_outage(
            [float(s) for s in args.outage.split(",")],
            args.service.split(","),
            images=args.images,
            jobs=args.jobs,
            visibility=args.visibility_timeout,
            as_json=args.json,
        )
    raise InvalidInput(f"no benchmark named {args.pipeline!r}")


def cmd_train(args: argparse.Namespace) -> int:
    if args.model == "phase-cells":
        from devtools import phase_training

        print(phase_training.report(phase_training.train(cross_validation=not args.no_cv)))
        return 0
    from devtools.training import report, train

    result = train()
    print(report(result))
    return 0


def _endpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=None,
        help="AWS endpoint (default: $AWS_ENDPOINT_URL, else the local cloud on :4566)",
    )


def build_parser() -> argparse.ArgumentParser:
    from devtools.transfer import api_url

    parser = argparse.ArgumentParser(prog="lab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)

    count = commands.add_parser(
        "count", help="count cells in a local image or folder (no AWS), or summarise s3://…"
    )
    count.add_argument("image", help="an image, a folder of images, or s3://bucket/prefix")
    count.add_argument(
        "--summary",
        metavar="OUT.csv",
        help="folder/plate summary: per image (and OUT-wells.csv per well); .xlsx for both",
    )
    count.add_argument("--heatmap", metavar="OUT.png", help="plate heatmap of mean counts per well")
    count.add_argument("--json", action="store_true", help="print the full JSON result")
    count.add_argument(
        "--annotate", metavar="OUT.png", help="write the annotated image here (.png or .jpg)"
    )
    count.add_argument("--method", default=None, help="counting method (default: the default)")
    count.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other method parameter, repeatable; VALUE may be a comma list",
    )
    count.add_argument(
        "--diameter", help="expected object diameter in pixels (0: estimate); 10,15,20 tries each"
    )
    count.add_argument(
        "--threshold-offset",
        help="-3..3: negative finds more (fainter) objects, positive fewer; comma list: each",
    )
    count.add_argument(
        "--image-type",
        help="auto (default), fluorescence or phase-contrast; a comma list tries each",
    )
    count.add_argument("--pixel-size", help="micrometres per pixel: the CSV gets µm columns too")
    count.add_argument(
        "--sheet",
        metavar="OUT.png",
        help="with comma lists: write the overlays side by side here (default IMAGE.sheet.png)",
    )
    count.set_defaults(run=cmd_count)

    local = commands.add_parser("local", help="run the whole app on the embedded emulator")
    local.add_argument("--port", type=int, default=4566, help="emulator port (0: any free)")
    local.add_argument("--http-port", type=int, default=8000, help="HTTP API port (0: any free)")
    local.add_argument(
        "--state-dir",
        default=str(PROJECT_DIR / ".local-cloud"),
        help="keep the buckets here across restarts ('' keeps nothing)",
    )
    local.set_defaults(run=cmd_local)

    demo = commands.add_parser("demo", help="upload the sample images locally and print counts")
    demo.add_argument("--samples", default=str(Path(__file__).resolve().parent.parent / "samples"))
    demo.add_argument("--out", default="demo-output", help="where annotated images are copied")
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(run=cmd_demo)

    train = commands.add_parser(
        "train", help="train a model from the repository's data, write its artifacts"
    )
    train.add_argument(
        "model",
        nargs="?",
        default="breast-cancer",
        choices=["breast-cancer", "phase-cells"],
        help="breast-cancer (the Prediction API) or phase-cells (phase-contrast cell density)",
    )
    train.add_argument(
        "--no-cv", action="store_true", help="phase-cells: skip the leave-one-crop-out counts"
    )
    train.set_defaults(run=cmd_train)

    blur = commands.add_parser("blur", help="blur every face in a local video (no AWS)")
    blur.add_argument("video")
    blur.add_argument("out", help="output .mp4")
    blur.add_argument(
        "--strict",
        action="store_true",
        help="over-blur when unsure: hold faces longer, pad more, blur whole frames if needed",
    )
    blur.set_defaults(run=cmd_blur)

    submit = commands.add_parser("submit", help="send a job to the workers as the chat bot does")
    submit.add_argument("task", help="count-cells, predict or blur-faces (or count, blur)")
    submit.add_argument("input", help="s3://bucket/key, or observations as JSON for predict")
    submit.add_argument("--wait", action="store_true", help="wait for the reply and print it")
    submit.add_argument("--chat-id", default="cli", help="the chat the reply is for")
    submit.add_argument("--timeout", type=float, default=120.0)
    _endpoint_option(submit)
    submit.set_defaults(run=cmd_submit)

    redrive = commands.add_parser(
        "redrive", help="move a dead-letter queue's messages back to their queue (after a fix)"
    )
    redrive.add_argument(
        "queue",
        help="the queue or its dead-letter queue, e.g. lab-local-jobs, lab-local-images-events",
    )
    _endpoint_option(redrive)
    redrive.set_defaults(run=cmd_redrive)

    put = commands.add_parser("put", help="upload a file or a folder to S3 (the local cloud)")
    put.add_argument("source", help="a file or a folder")
    put.add_argument("target", help="s3://bucket/key (or s3://bucket/prefix/ for a folder)")
    put.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="object metadata, e.g. count-diameter=15 (repeatable)",
    )
    put.add_argument("--gunzip", action="store_true", help="decompress .gz files on upload")
    _endpoint_option(put)
    put.set_defaults(run=cmd_put)

    get = commands.add_parser("get", help="download an S3 object (to a file or stdout)")
    get.add_argument("source", help="s3://bucket/key")
    get.add_argument("out", nargs="?", help="file to write (default: stdout)")
    get.add_argument("--wait", type=float, default=0.0, help="wait up to this many s for it")
    _endpoint_option(get)
    get.set_defaults(run=cmd_get)

    painting = commands.add_parser("painting", help="send a Cell Painting job (seed form)")
    painting.add_argument("pipeline", help="key of the .cppipe in the data bucket")
    painting.add_argument("input", help="prefix of the images in the data bucket")
    painting.add_argument("output", help="prefix for CellProfiler's results")
    painting.add_argument("--wait", action="store_true", help="wait for the job and print it")
    painting.add_argument("--timeout", type=float, default=600.0)
    painting.add_argument(
        "--api", default=api_url(), help="HTTP API (default: $LAB_API_URL, else :8000)"
    )
    _endpoint_option(painting)
    painting.set_defaults(run=cmd_painting)

    bench = commands.add_parser("bench", help="print benchmark figures for a pipeline")
    bench.add_argument(
        "pipeline", choices=["count", "blur", "painting", "predict", "console", "outage"]
    )
    bench.add_argument(
        "--browser", action="store_true", help="console: time lab local to a count via the page"
    )
    bench.add_argument("--image", help="count: time this JPEG end to end (default: generated)")
    bench.add_argument("--json", action="store_true", help="machine-readable output")
    bench.add_argument(
        "--against",
        help="count: compare speed and results with this commit (alternated in one process)",
    )
    bench.add_argument(
        "--rounds",
        type=int,
        help="timing rounds: count --against (default 5); blur: each case N times, least CPU "
        "reported (default 1)",
    )
    bench.add_argument(
        "--small-crops",
        action="store_true",
        help="count: small crops of the tune regions at three scales (sizes, over-splitting)",
    )
    bench.add_argument("--large", action="store_true", help="count --against: the large fields too")
    bench.add_argument(
        "--identical",
        action="store_true",
        help="count --against: compare results on every image the bench counts (timed once)",
    )
    bench.add_argument(
        "--held-out", action="store_true", help="blur: the held-out cases (never tuned on)"
    )
    bench.add_argument("--strict", action="store_true", help="blur: strict mode")
    bench.add_argument("--seed", type=int, default=2026, help="blur: seed of the held-out cases")
    bench.add_argument("--case", action="append", help="blur: only this case (repeatable)")
    bench.add_argument(
        "--cold",
        action="store_true",
        help="blur: a new detector per case (a container's first segment), not one for all",
    )
    bench.add_argument(
        "--detector",
        choices=("default", "haar"),
        default="default",
        help="blur: BlazeFace + Haar for small faces (default), or the Haar views alone (before)",
    )
    bench.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parent.parent / "samples/painting/ExampleVitraImages"),
        help="painting: a folder with one .cppipe and images/ (.gz files are decompressed)",
    )
    bench.add_argument("--shards", default="1,2", help="painting: shard counts, e.g. 1,2,4")
    bench.add_argument("--copies", type=int, default=1, help="painting: repeat the wells")
    bench.add_argument("--cellprofiler", default=None, help="painting: the command to time")
    bench.add_argument(
        "--plate", default=None, help="painting: a generated plate by well groups, e.g. 4x2"
    )
    bench.add_argument("--workers", type=int, default=0, help="painting --plate: groups at once")
    bench.add_argument("--requests", type=int, default=2000, help="predict: HTTP requests at most")
    bench.add_argument("--seconds", type=float, default=5.0, help="predict: HTTP seconds at most")
    bench.add_argument("--no-package", action="store_true", help="predict: skip `chalice package`")
    bench.add_argument("--outage", default="20,60", help="outage: seconds of 503s, e.g. 20,60")
    bench.add_argument("--service", default="s3,sqs", help="outage: the services that go down")
    bench.add_argument("--images", type=int, default=60, help="outage: images uploaded meanwhile")
    bench.add_argument("--jobs", type=int, default=10, help="outage: jobs sent meanwhile")
    bench.add_argument(
        "--visibility-timeout", type=int, default=30, help="outage: the queues' timeout (s)"
    )
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto logs every failed Step Functions execution as an exception; ours record
        # their own error results, so keep the console for what the user asked.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
    try:
        result: Any = args.run(args)
    except InvalidInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as error:
        print(f"error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except Exception as error:
        from botocore.exceptions import EndpointConnectionError

        if not isinstance(error, EndpointConnectionError):
            raise
        print(f"error: {error} (is the local cloud running? `make local`)", file=sys.stderr)
        return 1
    return int(result or 0)
