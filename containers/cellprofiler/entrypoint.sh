#!/bin/sh
# Thin entry point of the CellProfiler Batch image: the shared job runner does the work.
exec "${PYTHON:-python3}" -m chalicelib.painting.container "$@"
