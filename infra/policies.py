"""The Chalice functions' IAM policy files, written from ``infra/permissions.py``.

With ``autogen_policy: false`` Chalice gives every function its own role with the
policy file its ``lambda_functions`` entry names (``.chalice/policy-<stage>-<handler>.json``).
The files are committed so a reviewer sees exactly what each function may do; a
test fails when they differ from what this module generates for the current code
and config. Regenerate after changing either:

    .venv/bin/python -m infra.policies
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.config import CHALICE_CONFIG
from infra import permissions
from infra.stages import DEPLOYABLE_STAGES, Stage

CHALICE_DIR = CHALICE_CONFIG.parent


def policy_file_name(stage: str, handler: str) -> str:
    return f"policy-{stage}-{handler}.json"


def function_policy(stage: Stage, handler: str) -> dict[str, Any]:
    grants = permissions.CHALICE_FUNCTIONS[handler](stage.settings)
    grants += permissions.log_grants(stage.function_name(handler))
    return permissions.static_policy(grants)


def expected_files(stage_names: tuple[str, ...] = DEPLOYABLE_STAGES) -> dict[Path, str]:
    files = {}
    for name in stage_names:
        stage = Stage(name)
        for handler in stage.handlers:
            text = json.dumps(function_policy(stage, handler), indent=2) + "\n"
            files[CHALICE_DIR / policy_file_name(name, handler)] = text
    return files


def write() -> list[Path]:
    written = []
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main() -> int:
    for path in write():
        sys.stdout.write(f"wrote {path.relative_to(CHALICE_DIR.parent)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
