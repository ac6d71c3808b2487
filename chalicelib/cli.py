"""``python -m chalicelib``: the project's command line.

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

from chalicelib.errors import InvalidInput


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--param takes NAME=VALUE, got {pair!r}")
        parameters[name.strip().replace("-", "_")] = value.strip()
    return parameters


def cmd_count(args: argparse.Namespace) -> int:
    from chalicelib.cells import imaging
    from chalicelib.cells.messages import CountRequest
    from chalicelib.cells.service import count_image, result_document
    from chalicelib.config import get_settings

    path = Path(args.image)
    started = time.perf_counter()
    data = path.read_bytes()
    counting, image, timings = count_image(
        data, get_settings().max_image_pixels, args.method, _parameters(args.param)
    )
    if args.annotate:
        annotated = imaging.annotate(image, counting)
        Path(args.annotate).write_bytes(imaging.encode_png(annotated))
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
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    import signal
    import threading

    from chalicelib.local.cloud import LocalCloud

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCloud(port=args.port, http_port=args.http_port) as cloud:
        print(f"emulator   {cloud.endpoint}   (export AWS_ENDPOINT_URL={cloud.endpoint})")
        print(f"HTTP API   {cloud.http_url}")
        assert cloud.settings is not None
        print(
            f"upload images to s3://{cloud.settings.images_bucket}/ ; "
            f"results appear in s3://{cloud.settings.results_bucket}/counts/"
        )
        print("ready; Ctrl-C stops", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from chalicelib.local.demo import run_demo

    return run_demo(Path(args.samples), Path(args.out), timeout=args.timeout)


def cmd_train(args: argparse.Namespace) -> int:
    from chalicelib.predict.training import report, train

    result = train()
    print(report(result))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from chalicelib.predict.bench import run_bench

    return int(run_bench(requests=args.requests, seconds=args.seconds, package=not args.no_package))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)

    count = commands.add_parser("count", help="count cells in a local image (no AWS)")
    count.add_argument("image")
    count.add_argument("--json", action="store_true", help="print the full JSON result")
    count.add_argument("--annotate", metavar="OUT.png", help="write the annotated image here")
    count.add_argument("--method", default=None, help="counting method (default: the default)")
    count.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method parameter, repeatable",
    )
    count.set_defaults(run=cmd_count)

    local = commands.add_parser("local", help="run the whole app on the embedded emulator")
    local.add_argument("--port", type=int, default=4566, help="emulator port (0: any free)")
    local.add_argument("--http-port", type=int, default=8000, help="HTTP API port (0: any free)")
    local.set_defaults(run=cmd_local)

    demo = commands.add_parser("demo", help="upload the sample images locally and print counts")
    demo.add_argument("--samples", default=str(Path(__file__).resolve().parent.parent / "samples"))
    demo.add_argument("--out", default="demo-output", help="where annotated images are copied")
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(run=cmd_demo)

    train = commands.add_parser("train", help="train the breast-cancer model, write its artifacts")
    train.set_defaults(run=cmd_train)

    bench = commands.add_parser("bench", help="benchmark a pipeline")
    bench.add_argument("pipeline", choices=["predict"])
    bench.add_argument("--requests", type=int, default=2000, help="HTTP requests at most")
    bench.add_argument("--seconds", type=float, default=5.0, help="HTTP seconds at most")
    bench.add_argument("--no-package", action="store_true", help="skip `chalice package`")
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
    try:
        result: Any = args.run(args)
    except InvalidInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)
