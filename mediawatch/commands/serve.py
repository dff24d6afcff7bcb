"""mediawatch serve: the analyst page on 127.0.0.1, reading Elasticsearch as the reader user."""

from __future__ import annotations

import logging

from mediawatch.settings import load_settings

log = logging.getLogger(__name__)

# Loopback only: the page has no login of its own; it relies on the machine's users.
HOST = "127.0.0.1"


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (default 8700)")


def run(args) -> int:
    import uvicorn

    from mediawatch.web.app import create_app

    settings = load_settings()
    app = create_app(settings)
    log.info("analyst page on http://%s:%d/ (namespace %r)", HOST, args.port, settings.namespace or "default")
    uvicorn.run(app, host=HOST, port=args.port, log_level="info", access_log=False)
    return 0
