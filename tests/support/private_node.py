"""A private Elasticsearch node that a test may really stop and start.

Use with ``pytest_plugins = ["tests.support.private_node"]``.

- ``private_node``: ``Settings`` of a second local node, started with the project's own
  ``mediawatch.esnode`` (the Maven-cached distribution, its own node home and free ports),
  with a fresh namespace set up on it and the test's own ``MEDIAWATCH_HOME``. The settings
  are in the environment for the test's duration, so Airflow tasks and CLI commands use
  the private node too. It is stopped and deleted afterwards, whatever the outcome.

The session node (conftest ``es_node``) serves every test module and must stay up; a test
that needs Elasticsearch to go down stops this one instead
(``esnode.stop(private_node)`` / ``esnode.start(private_node)``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediawatch import es, esnode
from mediawatch.settings import Settings, load_settings
from tests.support.ports import free_port_pair

@pytest.fixture
def private_node(tmp_path: Path) -> Iterator[Settings]:
    # Not under tmp_path: as root, esnode runs the node as an unprivileged user who
    # must traverse its home, and pytest's temporary directories are mode 0700.
    with tempfile.TemporaryDirectory(prefix="mediawatch-private-es-") as node_home, pytest.MonkeyPatch.context() as patch:
        os.chmod(node_home, 0o755)
        # A configured external cluster would take the place of the node under test.
        patch.delenv("MEDIAWATCH_ES_URL", raising=False)
        patch.setenv("MEDIAWATCH_LOCAL_ES_HOME", node_home)
        patch.setenv("MEDIAWATCH_LOCAL_ES_PORT", str(free_port_pair()))
        patch.setenv("MEDIAWATCH_HOME", str(tmp_path / "mediawatch-home"))
        patch.setenv("MEDIAWATCH_NAMESPACE", "private_node")
        settings = load_settings()
        try:
            esnode.start(settings)
            es.ensure_setup(settings)
            yield settings
        finally:
            esnode.stop(settings)
