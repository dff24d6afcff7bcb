"""Shared fixtures: the real local Elasticsearch node, and a fresh namespace per test module.

The node is the project's own (mediawatch.esnode), started once per session and
reused if it is already running (on the configured port), otherwise started on a
free port; if this session started it, it stops it at the end
(MEDIAWATCH_KEEP_ES=1 keeps it). Each test module gets its own MEDIAWATCH_NAMESPACE (indices, aliases,
templates) and its own MEDIAWATCH_HOME (state directory), so modules never see
each other's data; the namespace is dropped afterwards.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from mediawatch import es, esnode
from mediawatch.settings import PROJECT_ROOT, Settings, load_settings
from tests.support.ports import free_port_pair

SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data directory {SHARED} is missing (corpora and seeds live there)")
    return SHARED


@pytest.fixture(scope="session")
def es_node():
    """The real local node (or the external cluster named by MEDIAWATCH_ES_URL)."""
    settings = load_settings()
    if settings.uses_external_es:
        yield settings
        return
    was_running = esnode.status(settings)["running"]
    if not was_running and "MEDIAWATCH_LOCAL_ES_PORT" not in os.environ:
        # A free port rather than the default: a node left by another checkout or a killed
        # run on the default port must not fail the whole suite.
        os.environ["MEDIAWATCH_LOCAL_ES_PORT"] = str(free_port_pair())
        settings = load_settings()
    esnode.start(settings)
    os.environ["MEDIAWATCH_LOCAL_ES_HOME"] = str(settings.local_es_dir)
    yield settings
    if not was_running and os.environ.get("MEDIAWATCH_KEEP_ES") != "1":
        esnode.stop(settings)


def _namespace_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[-20:]
    return f"t_{slug}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def settings(es_node, request, tmp_path_factory) -> Settings:
    """A fresh namespace and state directory, with templates and aliases set up."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDIAWATCH_NAMESPACE", _namespace_for(request.module.__name__))
        patch.setenv("MEDIAWATCH_HOME", str(tmp_path_factory.mktemp("mediawatch-home")))
        module_settings = load_settings()
        es.ensure_setup(module_settings)
        yield module_settings
        es.drop_namespace(module_settings)


@pytest.fixture(scope="module")
def seeded_settings(settings) -> Settings:
    """``settings`` with the two seed documents indexed and searchable."""
    from mediawatch.seeds import index_seeds

    index_seeds(settings)
    es.client("admin", settings).indices.refresh(index=settings.index_name("articles"))
    return settings
