"""``chalice local``'s server, started in-process, quiet and without keep-alive stalls."""

from __future__ import annotations

import json
import logging
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer

from chalicelib.config import CHALICE_CONFIG, PROJECT_DIR

log = logging.getLogger("devtools.local.http")


class FastRequestHandler(ChaliceRequestHandler):
    # chalice writes the headers and the body in two send() calls; with Nagle's
    # algorithm on, the body waits for the client's delayed ACK (~40 ms) on every
    # keep-alive request. TCP_NODELAY sends it at once.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def create_server(app: Any, stage: str, host: str = "127.0.0.1", port: int = 0) -> LocalDevServer:
    """A ``chalice local`` server for ``app`` (port 0: any free port); call ``serve_forever``."""
    config = Config(
        chalice_stage=stage,
        config_from_disk=json.loads(CHALICE_CONFIG.read_text()),
        user_provided_params={"chalice_app": app, "project_dir": str(PROJECT_DIR)},
    )
    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does: thread-local current_request.
        local_class = type("LocalApp", (LocalChalice, app.__class__), {})
        app.__class__ = local_class
    return LocalDevServer(app, config, host, port, handler_cls=FastRequestHandler)
