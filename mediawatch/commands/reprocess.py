"""mediawatch reprocess: re-extract every archived page into a new index, then switch the alias."""

from __future__ import annotations

import json
import sys

from elasticsearch import ApiError, TransportError

from mediawatch import esnode
from mediawatch.commands.setup import ensure_ready
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from processors.indexing import IndexingError
    from processors.reprocess import ReprocessError, reprocess

    settings = load_settings()
    try:
        ensure_ready(settings)
        summary = reprocess(settings)
    except (ReprocessError, IndexingError) as exc:
        print(f"mediawatch reprocess: {exc}", file=sys.stderr)
        return 1
    except (esnode.EsNodeError, ApiError, TransportError) as exc:
        print(f"mediawatch reprocess: Elasticsearch error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0
