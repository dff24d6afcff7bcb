"""mediawatch es start|stop|status: the local Elasticsearch node."""

from __future__ import annotations

import json

from mediawatch import esnode
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])


def run(args) -> int:
    settings = load_settings()
    if settings.uses_external_es:
        print(f"MEDIAWATCH_ES_URL is set ({settings.es_url}): mediawatch uses that cluster, not a local node.")
        return 0
    if args.action == "start":
        info = esnode.start(settings)
        verb = "already running" if info.reused else f"started in {info.start_seconds:.1f}s"
        print(f"Elasticsearch {verb} at {info.url} (pid {info.pid})")
    elif args.action == "stop":
        print("stopped" if esnode.stop(settings) else "not running")
    else:
        print(json.dumps(esnode.status(settings), indent=2))
    return 0
