"""mediawatch reprocess: re-extract every archived page into a new index, then switch the alias."""

from __future__ import annotations

import json

from mediawatch.commands.setup import ensure_ready
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from processors.reprocess import reprocess

    settings = load_settings()
    ensure_ready(settings)
    summary = reprocess(settings)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0
