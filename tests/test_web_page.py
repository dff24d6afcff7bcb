"""The analyst page (`mediawatch serve`) in Debian's headless Chromium, against the
real node: seeds plus a hostile article and its duplicate, and the alert it raises.

Chromium loads the page exactly as an analyst would (the search form is a GET
form, so a search is a URL) and dumps the DOM after parsing, which is what the
assertions read; a screenshot is kept under tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest

from mediawatch.records import Article, ClaimMatch
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from mediawatch.web.app import collapse_duplicates, link_target
from processors.alerts import raise_alerts
from processors.indexing import index_articles

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium")

PAYLOAD_SCRIPT = "<script>document.title='pwned';document.body.dataset.pwned='1'</script>"
PAYLOAD_IMG = '<img src=x onerror="document.body.dataset.pwned=\'1\'">'
HOSTILE = Article(
    url='https://hostile.example/raid"><script>alert(1)</script>',
    canonical_url="https://hostile.example/raid",
    title=f"{PAYLOAD_SCRIPT}Embassy dossier {PAYLOAD_IMG}",
    text=(
        f"The Carondelet dossier says the United States planned the raid on the Mexican embassy. {PAYLOAD_SCRIPT} "
        f"{PAYLOAD_IMG} <a href=\"javascript:alert(1)\" onmouseover=\"alert(2)\">click</a> Jorge Glas was arrested."
    ),
    description=f"<b onmouseover=alert(3)>hover</b>{PAYLOAD_SCRIPT}",
    outlet="hostile.example",
    outlet_name=f"Hostile <i onclick=alert(4)>Outlet</i>{PAYLOAD_SCRIPT}",
    language="en",
    published_at="2024-04-10",
    source_type="crawl",
    topic="glas_embassy",
    duplicate_group="dup-hostile",
    is_original=True,
    claims=[ClaimMatch(claim_id="us_planned_raid", passage=f"the United States planned the raid {PAYLOAD_SCRIPT}")],
)
HOSTILE_COPY = Article(
    url="javascript:alert(document.domain)",
    canonical_url="https://copycat.example/dossier",
    title="Carondelet dossier, copied",
    text=HOSTILE.text,
    outlet="copycat.example",
    outlet_name="Copycat",
    language="en",
    published_at="2024-04-11",
    source_type="crawl",
    topic="glas_embassy",
    duplicate_group="dup-hostile",
    is_original=False,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(env: dict[str, str]):
    """Start `mediawatch serve` and wait until it answers; returns (process, base URL)."""
    port = _free_port()
    # A file, not a pipe: nobody reads the access log while the tests run, and a full pipe
    # would block the server.
    log_path = Path(tempfile.mkdtemp(prefix="mediawatch-serve-")) / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mediawatch.cli", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mediawatch serve exited with {process.returncode}: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, base
        except OSError:
            time.sleep(0.2)
    process.terminate()
    pytest.fail("mediawatch serve did not listen within 60 s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def page_data(seeded_settings, tmp_path_factory):
    """Seeds, the hostile article and its copy, and the alerts the hostile article raises."""
    index_articles([HOSTILE, HOSTILE_COPY], seeded_settings, refresh=True)
    processed = tmp_path_factory.mktemp("processed") / "processed.jsonl"
    with processed.open("w", encoding="utf-8") as handle:
        for article in (HOSTILE, HOSTILE_COPY):
            handle.write(json.dumps({"outcome": "indexed", "article": article.to_dict()}) + "\n")
    topic = load_topic(seeded_settings.topics_dir / "glas_embassy.yaml")
    raise_alerts(processed, topic, settings=seeded_settings)
    return seeded_settings


@pytest.fixture(scope="module")
def server(page_data):
    process, base = _serve(dict(os.environ))  # the module's namespace and home are in the environment
    yield base
    _stop(process)


def _chromium(url: str, tmp_path, *flags: str) -> str:
    # A missing browser fails the test: `make test` installs it (scripts/install-system-deps.sh).
    assert CHROMIUM, "Debian's chromium is not installed: run scripts/install-system-deps.sh"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *flags, url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Dom(HTMLParser):
    """The parsed DOM dump: every start tag with its attributes, and the visible text."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if tag == "a" and attrs.get("href")]


def _dom(server: str, tmp_path, **params: str) -> Dom:
    return Dom(_chromium(f"{server}/?{urlencode(params)}", tmp_path, "--dump-dom"))


# --- pure parts ------------------------------------------------------------------------


def test_only_http_links_are_followable():
    assert link_target("https://www.elcomercio.com/a") == "https://www.elcomercio.com/a"
    assert link_target(" JavaScript:alert(1)") is None
    assert link_target("data:text/html,<script>alert(1)</script>") is None
    assert link_target("urn:mediawatch:seed:67cb1c65146480c7") is None
    assert link_target(None) is None


def test_duplicate_groups_collapse_onto_their_original_at_the_best_rank():
    hits = [
        {"id": "copy", "duplicate_group": "g", "is_original": False},
        {"id": "alone", "duplicate_group": None},
        {"id": "original", "duplicate_group": "g", "is_original": True},
        {"id": "copy2", "duplicate_group": "g", "is_original": False},
    ]
    entries = collapse_duplicates(hits)
    assert [entry["hit"]["id"] for entry in entries] == ["original", "alone"]
    assert [copy["id"] for copy in entries[0]["copies"]] == ["copy", "copy2"]


# --- the page in Chromium -----------------------------------------------------------------


def test_search_shows_highlighted_hits_and_facets(server, tmp_path):
    dom = _dom(server, tmp_path, q="embassy")
    text = dom.text
    assert "Assault on Mexican Embassy in Ecuador was designed in Washington" in text
    assert "Source: US planned raid of Mexican embassy in Ecuador, to kidnap Glas" in text
    highlighted = [attrs for tag, attrs in dom.tags if tag == "em"]
    assert highlighted, "no highlighted term in the hits"
    facets = {attrs["data-facet"] for tag, attrs in dom.tags if tag == "section" and "data-facet" in attrs}
    assert {"outlet", "language", "source_type"} <= facets
    hrefs = dom.hrefs()
    assert any("lang=en" in href for href in hrefs), "the language facet does not filter"
    assert any("source_type=seed" in href for href in hrefs)
    # Seeds have URNs, not web addresses: shown as text, never linked.
    assert "urn:mediawatch:seed:67cb1c65146480c7" in text
    assert not any(href.startswith("urn:") for href in hrefs)


def test_facet_filter_narrows_the_search(server, tmp_path):
    dom = _dom(server, tmp_path, q="embassy", source_type="seed")
    assert "2 matching articles" in dom.text
    assert "Carondelet" not in dom.text


def test_duplicate_group_is_collapsed_under_its_original(server, tmp_path):
    dom = _dom(server, tmp_path, q="Carondelet dossier")
    hits = [attrs for tag, attrs in dom.tags if tag == "li" and attrs.get("class") == "hit"]
    assert len(hits) == 1
    assert "2 matching articles, 1 shown after collapsing duplicates" in dom.text
    assert "2 articles in this duplicate group" in dom.text
    assert "Carondelet dossier, copied" in dom.text  # the copy, listed inside the group


@pytest.mark.parametrize(
    "params",
    [{"q": "Carondelet dossier"}, {"outlet": "hostile.example"}],
    ids=["highlighted", "filter-only"],  # filter-only: no highlights, the raw title and description are shown
)
def test_hostile_article_renders_inert(server, tmp_path, params):
    dom = _dom(server, tmp_path, **params)
    assert "hostile.example" in dom.text
    # The page itself has no script: any script element would come from an article.
    assert [tag for tag, _ in dom.tags if tag in ("script", "img", "iframe", "object", "embed")] == []
    handlers = [(tag, name) for tag, attrs in dom.tags for name in attrs if name.lower().startswith("on")]
    assert handlers == []
    assert not any(href.strip().lower().startswith(("javascript:", "data:")) for href in dom.hrefs())
    # A URL crafted to break out of href stays one attribute value.
    assert 'https://hostile.example/raid"><script>alert(1)</script>' in dom.hrefs()
    # The hostile markup is shown to the analyst as text.
    assert PAYLOAD_SCRIPT in dom.text
    assert "onerror=" in dom.text
    assert ("body", {"data-pwned": "1"}) not in dom.tags
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"analyst_page_hostile_{'-'.join(params)}.png"
    screenshot.unlink(missing_ok=True)
    _chromium(
        f"{server}/?{urlencode(params)}", tmp_path,
        f"--screenshot={screenshot}", "--window-size=1280,1400", "--hide-scrollbars",
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alerts_are_listed_escaped(server, tmp_path):
    dom = _dom(server, tmp_path)
    rows = [attrs for tag, attrs in dom.tags if tag == "tr" and "alert" in (attrs.get("class") or "").split()]
    assert rows, "the alert raised by the hostile article is not listed"
    section = dom.text[dom.text.index("Alerts"):]
    assert "the United States planned the raid " + PAYLOAD_SCRIPT in section
    assert [tag for tag, _ in dom.tags if tag == "script"] == []


# --- errors -----------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_bad_date_is_a_clear_client_error(server):
    status, body = _get(f"{server}/?{urlencode({'q': 'embassy', 'since': 'last tuesday'})}")
    assert status == 400
    assert "is not a date (use YYYY-MM-DD)" in body


def test_elasticsearch_down_is_a_clear_503(page_data):
    env = {
        **os.environ,
        "MEDIAWATCH_ES_URL": f"http://127.0.0.1:{_free_port()}",  # nothing listens there
        "MEDIAWATCH_ES_READER_USER": "reader",
        "MEDIAWATCH_ES_READER_PASSWORD": "unused",
    }
    process, base = _serve(env)
    try:
        status, body = _get(f"{base}/?q=embassy")
    finally:
        _stop(process)
    assert status == 503
    assert "could not answer: ConnectionError" in body

