"""Container-image Lambda functions, which Chalice cannot declare.

Each entry maps the ``Settings`` field holding the function's name to the
dotted path of its handler. The container's Dockerfile ``CMD`` names the same
path (a test holds them together) and the local emulator dispatches a Lambda
invoke of that function name to the same handler, in-process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings


@dataclass(frozen=True)
class ContainerFunction:
    directory: str  # containers/<directory>/Dockerfile
    name_setting: str  # Settings field with the deployed function name
    handler: str  # dotted path: package.module.function
    timeout_setting: str  # Settings field with its timeout (synchronous callers wait longer)
    async_failures_setting: str | None = None  # queue receiving failed async events

    def load(self) -> Callable[[dict[str, Any], Any], Any]:
        module, _, attribute = self.handler.rpartition(".")
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


CONTAINER_FUNCTIONS = (
    ContainerFunction(
        directory="cell-counter",
        name_setting="cell_counter_function",
        handler="chalicelib.cells.container.handle_count_request",
        timeout_setting="cell_counter_timeout",
        async_failures_setting="cell_counter_failures_queue",
    ),
    ContainerFunction(
        directory="face-blur",
        name_setting="face_blur_function",
        handler="chalicelib.faces.container.handle_face_blur",
        timeout_setting="face_blur_timeout",
    ),
)


def by_name(settings: Settings) -> dict[str, ContainerFunction]:
    """Deployed function name -> its definition, for this stage."""
    return {getattr(settings, f.name_setting): f for f in CONTAINER_FUNCTIONS}
