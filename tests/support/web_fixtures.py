"""Pytest fixtures for crawl tests; use with ``pytest_plugins = ["tests.support.web_fixtures"]``.

- ``local_web``: a started ``LocalWeb`` on 127.0.0.1 (empty; add pages with ``add_page``).
- ``fixture_site``: ``local_web`` filled by ``build_fixture_site`` (the awkward cases).
- ``crawl_settings``: mediawatch ``Settings`` whose state lives under the test's tmp dir.
- ``write_topic(path, sources)``: writes a topic file whose sources point at the local web.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from mediawatch.settings import PROJECT_ROOT, Settings, load_settings
from tests.support.localweb import FixtureSite, LocalWeb, build_fixture_site

# Production settings with throttling off and small limits, so the awkward cases
# (timeouts, retries, size limit) resolve in seconds; everything else stays on.
FAST_CRAWL = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "DOWNLOAD_TIMEOUT": 2,
    "RETRY_TIMES": 1,
    "MEDIAWATCH_RETRY_BACKOFF_BASE": 0.2,
    "DOWNLOAD_MAXSIZE": 1024 * 1024,
}


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


def write_topic(path: Path, sources: list[dict[str, Any]], base: Path = PROJECT_ROOT / "topics" / "glas_embassy.yaml") -> Path:
    """A copy of the project's topic (vocabulary, queries, claims) with ``sources`` replaced."""
    topic = yaml.safe_load(base.read_text(encoding="utf-8"))
    topic["sources"] = sources
    path.write_text(yaml.safe_dump(topic, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def fixture_sources(site: FixtureSite, languages: tuple[str, ...] = ("es",)) -> list[dict[str, Any]]:
    """One source of every kind, all on the fixture site."""
    return [
        {"id": "local_rss", "kind": "rss", "url": site.rss},
        {"id": "local_atom", "kind": "atom", "url": site.atom},
        {"id": "local_sitemap", "kind": "sitemap", "url": site.sitemap_index},
        {"id": "local_section", "kind": "page", "url": site.section, "max_depth": 1},
        {"id": "local_google_news", "kind": "google_news", "languages": list(languages), "base_url": site.google_news_base},
        {"id": "local_gdelt", "kind": "gdelt", "languages": list(languages), "base_url": site.gdelt_base},
    ]
