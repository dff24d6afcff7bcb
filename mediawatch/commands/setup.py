"""mediawatch setup: start the local node if needed, then users, templates and aliases."""

from __future__ import annotations

from mediawatch import es, esnode
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    pass


def ensure_ready(settings) -> None:
    """The node (local default) is up and the namespace's templates and aliases exist."""
    if not settings.uses_external_es:
        esnode.start(settings)
    es.ensure_setup(settings)


def run(args) -> int:
    settings = load_settings()
    ensure_ready(settings)
    print(f"Elasticsearch ready at {es.es_url(settings)}: aliases "
          + ", ".join(settings.index_name(kind) for kind in es.INDEX_KINDS))
    return 0
