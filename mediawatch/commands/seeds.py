"""mediawatch seeds: index the seed documents (safe to rerun)."""

from __future__ import annotations

import json

from mediawatch.commands.setup import ensure_ready
from mediawatch.seeds import index_seeds
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    settings = load_settings()
    ensure_ready(settings)
    report = index_seeds(settings)
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0
