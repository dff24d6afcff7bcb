"""mediawatch seeds: index the seed documents (safe to rerun)."""

from __future__ import annotations

import json
import sys

from elasticsearch import ApiError, TransportError

from mediawatch import esnode
from mediawatch.commands.setup import ensure_ready
from mediawatch.seeds import index_seeds
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    settings = load_settings()
    try:
        ensure_ready(settings)
        report = index_seeds(settings)
    except (esnode.EsNodeError, ApiError, TransportError) as exc:
        print(f"mediawatch seeds: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0
