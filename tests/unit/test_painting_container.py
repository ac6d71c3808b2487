"""The CellProfiler Batch image copies every module the job runner imports."""

from __future__ import annotations

import ast
import re

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
