"""Pytest fixtures for crawl tests; use with ``pytest_plugins = ["tests.support.web_fixtures"]``.

- ``local_web``: a started ``LocalWeb`` on 127.0.0.1 (empty; add pages with ``add_page``).
- ``fixture_site``: ``local_web`` filled by ``build_fixture_site`` (the awkward cases).
- ``crawl_settings``: mediawatch ``Settings`` whose state lives under the test's tmp dir.

Helpers to write topic files for the local web (``write_topic``, ``fixture_sources``)
and the fast crawl settings (``FAST_CRAWL``) live in ``tests.support.localweb``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mediawatch.settings import Settings, load_settings
from tests.support.localweb import FixtureSite, LocalWeb, build_fixture_site


@pytest.fixture
def local_web():
    web = LocalWeb().start()
    yield web
    web.stop()


@pytest.fixture
def fixture_site(local_web: LocalWeb) -> FixtureSite:
    return build_fixture_site(local_web)


@pytest.fixture
def crawl_settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(load_settings(), home=tmp_path / "var", namespace="crawltest")
