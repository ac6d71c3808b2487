"""Modules imported on first use.

Every zip Lambda imports ``app.py`` on a cold start, but each function needs
only its own pipeline's code: ``app.py`` binds pipelines through these proxies,
so the prediction function never pays for the queue workers' imports.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module; the first attribute access imports it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name} ({state})>"


def lazy(name: str) -> Any:
    """``lazy("chalicelib.cells.handlers")``: the module, imported when first used."""
    return LazyModule(name)
