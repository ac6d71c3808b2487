"""The CellProfiler Batch image: every module the job runner imports is copied in, and
runs under the image's Python (3.8 in the official CellProfiler 4.2 images)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "containers" / "cellprofiler" / "Dockerfile"


def chalicelib_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """``module`` and every chalicelib module it imports, transitively (static)."""
    seen = seen if seen is not None else set()
    if module in seen:
        return seen
    seen.add(module)
    path = ROOT / (module.replace(".", "/") + ".py")
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith("chalicelib") and (ROOT / (name.replace(".", "/") + ".py")).exists():
                chalicelib_imports(name, seen)
    package_inits = {m.rsplit(".", 1)[0] + ".__init__" for m in seen if "." in m}
    return seen | package_inits


def test_image_has_every_module_the_runner_imports() -> None:
    text = DOCKERFILE.read_text()
    copied = {
        p.removesuffix(".py").replace("/", ".") for p in re.findall(r"(chalicelib/\S+\.py)", text)
    }
    needed = chalicelib_imports("chalicelib.painting.container")
    assert needed <= copied, needed - copied
    assert "FROM cellprofiler/cellprofiler:" in text
    entry = (ROOT / "containers" / "cellprofiler" / "entrypoint.sh").read_text()
    assert "-m chalicelib.painting.container" in entry


BATCH_PYTHON = (3, 8)
# Runs under the Batch image's Python: every runner module imported, and the pure
# parts the runner relies on exercised, with the results printed as JSON to compare
# with this interpreter's (an S3 fake stands in for boto3, which 3.8 here lacks).
UNDER_BATCH_PYTHON = """
import json, sys
from pathlib import Path
import chalicelib.painting.container as container
from chalicelib.painting import layout, merge, pipeline, records
from chalicelib import storage

class S3:
    def __init__(self): self.objects = {}
    def put_object(self, Bucket, Key, Body, ContentType, **extra):
        if extra.get("IfNoneMatch") == "*" and Key in self.objects:
            raise Conflict412()
        self.objects[Key] = Body
    def get_object(self, Bucket, Key, **extra):
        import io
        return {"Body": io.BytesIO(self.objects[Key]), "ETag": '"e"'}

class Conflict412(Exception):
    response = {"Error": {"Code": "PreconditionFailed"}}

bucket = storage.Bucket(S3(), "b")
bucket.write_json("k", {"a": 1}, create_only=True)
try:
    bucket.write_json("k", {"a": 2}, create_only=True)
    second = "written"
except Exception as exc:
    second = type(exc).__name__
record = records.JobRecord.from_dict({"job_id": "cp-1", "state": "submitted", "x": 1})
info = pipeline.inspect_pipeline(Path(sys.argv[1]).read_text())
print(json.dumps({
    "python": list(sys.version_info[:2]),
    "ranges": layout.split_ranges(10, 3),
    "merged": merge.merge_tables(["ImageNumber,A\\n1,2\\n", "ImageNumber,A\\n2,3\\n"]).text,
    "outputs": pipeline.expected_outputs(info),
    "record": record.with_(state="succeeded").to_dict(),
    "conflict": second,
    "read": bucket.read_json("k"),
    "main_usage": container.main(["nonsense"]),
}))
"""


def batch_python() -> str:
    """An interpreter of the Batch image's Python version: never skipped."""
    wanted = "python{}.{}".format(*BATCH_PYTHON)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = sorted(pyenv.glob("versions/{}.{}*/bin/".format(*BATCH_PYTHON) + wanted))
    candidates = [os.environ.get("BATCH_PYTHON", ""), *map(str, versions), shutil.which(wanted)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(BATCH_PYTHON):
            return candidate
    pytest.fail(
        f"{wanted} is needed to check the CellProfiler Batch runner (the image runs it): "
        f"install it (pyenv install 3.8) or point BATCH_PYTHON at one"
    )


def test_the_runner_runs_under_the_batch_images_python(tmp_path: Path) -> None:
    from tests.painting import PIPELINE

    pipeline_file = tmp_path / "p.cppipe"
    pipeline_file.write_text(PIPELINE)
    done = subprocess.run(
        [batch_python(), "-B", "-c", UNDER_BATCH_PYTHON, str(pipeline_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen.pop("python") == list(BATCH_PYTHON)
    # The same calls in this interpreter give the same answers.
    here = subprocess.run(
        [sys.executable, "-B", "-c", UNDER_BATCH_PYTHON, str(pipeline_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(here.stdout.strip().splitlines()[-1])
    expected.pop("python")
    assert seen == expected
    assert seen["conflict"] == "Conflict" and seen["main_usage"] == 2
    assert seen["outputs"] == ["Image.csv", "Nuclei.csv"]
