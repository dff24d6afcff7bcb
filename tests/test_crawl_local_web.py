"""End-to-end crawls over real HTTP against the local web (tests/support/localweb.py).

Each crawl is a real Scrapy run in its own process (``crawlers.runner``), with
the production settings except throttling and the size of limits (``FAST_CRAWL``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawlers.archive import read_response
from crawlers.runner import CrawlError, run_crawl, start_crawl
from mediawatch.settings import PROJECT_ROOT, load_settings
from crawlers.urls import canonicalize
from tests.support.localweb import (
    FAST_CRAWL,
    RETRY_AFTER_SECONDS,
    LocalWeb,
    Reply,
    build_fixture_site,
    corpus_pages,
    fixture_sources,
    write_topic,
)

pytest_plugins = ["tests.support.web_fixtures"]


def read_batch(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_url(lines: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for line in lines:
        grouped.setdefault(line["url"], []).append(line)
    return grouped


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Three crawls of the fixture site: first, again unchanged, again after one new article."""
    tmp = tmp_path_factory.mktemp("crawl")
    web = LocalWeb().start()
    site = build_fixture_site(web)
    settings = dataclasses.replace(load_settings(), home=tmp / "var", namespace="crawl_e2e")
    topic = write_topic(tmp / "topic.yaml", fixture_sources(site))
    first = run_crawl(topic, settings=settings, allow_private_hosts=True, overrides=FAST_CRAWL)
    hits_after_first = {r.path: web.hits(r.path) for r in web.requests}
    requests_after_first = len(web.requests)
    second = run_crawl(topic, settings=settings, allow_private_hosts=True, overrides=FAST_CRAWL)
    second_requests = web.requests[requests_after_first:]
    new_url = web.add_page("/articles/glas-embajada-nueva.html",
                           "<html><head><title>Glas</title></head><body><p>Jorge Glas, embajada.</p></body></html>",
                           feed="/feeds/news.rss", title="Nueva")
    third = run_crawl(topic, settings=settings, allow_private_hosts=True, overrides=FAST_CRAWL)
    yield dataclasses.make_dataclass("Crawled", ["web", "site", "settings", "first", "second", "third", "new_url",
                                                 "hits_after_first", "second_requests"])(
        web, site, settings, first, second, third, new_url, hits_after_first, second_requests)
    web.stop()


def test_every_discovery_kind_finds_its_articles(crawled):
    site, lines = crawled.site, by_url(read_batch(crawled.first.batch_path))
    expected_kinds = {
        "rss": site.rss_articles[2:], "atom": site.atom_articles, "page": site.section_articles,
        "gdelt": site.gdelt_articles,
    }
    for kind, urls in expected_kinds.items():
        for url in urls:
            fetched = [line for line in lines[url] if line["outcome"] == "fetched"]
            assert len(fetched) == 1 and fetched[0]["source_kind"] == kind, (url, lines[url])
    news_sitemap = [lines[u][0] for u in site.sitemap_articles[:2]]
    assert all(p["outcome"] == "fetched" and p["hints"]["language"] == "es" and p["hints"]["title"] for p in news_sitemap)
    assert lines[site.sitemap_articles[2]][0]["outcome"] == "fetched"  # from the gzipped child sitemap
    # The section page's off-site and mailto links are not followed.
    assert not any("localhost" in url or url.startswith("mailto:") for url in lines)

    # Google News: the encoded link resolves to the publisher URL before dedup and fetch...
    decoded = [p for p in lines[site.google_articles[0]] if p["outcome"] == "fetched"][0]
    assert decoded["source_kind"] == "google_news"
    assert "/gnews/rss/articles/" in decoded["discovery_path"][1] and decoded["discovery_path"][-1] == site.google_articles[0]
    assert crawled.web.hits("/gnews/rss/articles/" + decoded["discovery_path"][1].split("/articles/")[1].split("?")[0]) == 0
    # ...and an opaque link is followed through its redirect to the publisher.
    opaque = [p for url, ps in lines.items() if "AU_yqL" in url for p in ps if p["outcome"] == "fetched"][0]
    assert opaque["final_url"] == opaque["canonical_url"] == site.google_articles[1]


def test_awkward_cases_get_the_right_outcome_and_reason(crawled):
    web, site, lines = crawled.web, crawled.site, by_url(read_batch(crawled.first.batch_path))
    special = site.special

    def only(role):
        [line] = lines[special[role]]
        return line

    assert (only("robots")["outcome"], only("robots")["reason"]) == ("skipped", "robots_txt")
    assert web.hits("/private/memo.html") == 0
    assert (only("loop")["outcome"], only("loop")["reason"]) == ("failed", "too_many_redirects")
    assert (only("not_found")["outcome"], only("not_found")["reason"], only("not_found")["status"]) == ("failed", "http_404", 404)
    assert (only("server_error")["outcome"], only("server_error")["reason"]) == ("failed", "http_500")
    assert crawled.hits_after_first["/status/500"] == 2  # one retry (FAST_CRAWL: RETRY_TIMES=1)
    assert (only("busy")["outcome"], only("busy")["reason"]) == ("failed", "http_503")
    assert (only("timeout")["outcome"], only("timeout")["reason"]) == ("failed", "timeout")
    assert (only("drip")["outcome"], only("drip")["reason"]) == ("failed", "timeout")
    assert (only("oversized")["outcome"], only("oversized")["reason"]) == ("failed", "too_large")
    assert (only("binary")["outcome"], only("binary")["reason"]) == ("skipped", "content_type:application/pdf")
    assert only("binary")["warc_file"] is None  # not archived
    assert (only("metadata")["outcome"], only("metadata")["reason"]) == ("refused", "address:metadata:169.254.169.254")
    assert (only("ftp")["outcome"], only("ftp")["reason"]) == ("refused", "scheme:ftp")

    fresh = only("redirect_fresh")
    assert fresh["outcome"] == "fetched" and fresh["final_url"].endswith("/articles/fresh-after-redirect.html")
    # A redirect onto an article the feed also lists: fetched under one URL, the other is a duplicate.
    pair = [only("redirect_to_known"), *lines[site.rss_articles[0]]]
    assert sorted((p["outcome"], p["reason"]) for p in pair) == [("fetched", ""), ("skipped", "duplicate_canonical")]

    # A page whose rel=canonical names another page of its site is that page.
    pair = [only("canonical_original"), only("canonical_copy")]
    assert sorted((p["outcome"], p["reason"]) for p in pair) == [("fetched", ""), ("skipped", "duplicate_canonical")]
    assert {p["canonical_url"] for p in pair} == {special["canonical_original"]}
    # Another site's URL is not taken as a page's identity (it could hide that site's article).
    syndicated = only("canonical_other_site")
    assert (syndicated["outcome"], syndicated["canonical_url"]) == ("fetched", special["canonical_other_site"])
    assert syndicated["hints"]["declared_canonical"] == "https://www.eluniverso.com/noticias/x.html"

    # Tracking-parameter variants are one URL: fetched once, the variants recorded as duplicates.
    variants = lines[site.rss_articles[1]]
    assert sorted((p["outcome"], p["reason"]) for p in variants) == [
        ("fetched", ""), ("skipped", "duplicate"), ("skipped", "duplicate")]
    assert crawled.hits_after_first[path_of(site.rss_articles[1])] == 1

    legacy = only("legacy")
    assert (legacy["outcome"], legacy["encoding"]) == ("fetched", "cp1252")
    body = read_response(crawled.settings.state_dir, legacy["warc_file"], legacy["warc_offset"]).body
    assert site.legacy_text in body.decode(legacy["encoding"])


def test_retries_back_off_and_honour_retry_after(crawled):
    def gap(path):
        first, retry = [r.at for r in crawled.web.requests if r.path == path][:2]
        return retry - first

    assert gap("/status/500") >= FAST_CRAWL["MEDIAWATCH_RETRY_BACKOFF_BASE"]
    assert gap("/status/503") >= RETRY_AFTER_SECONDS


def test_records_are_complete_and_warc_reads_back_the_served_bytes(crawled):
    lines = read_batch(crawled.first.batch_path)
    fetched = [p for p in lines if p["outcome"] == "fetched"]
    assert len(fetched) >= 16
    for page in fetched:
        assert page["status"] == 200 and page["fetched_at"] and page["content_type"].startswith("text/html")
        assert page["source_id"].startswith("local_") and canonicalize(page["discovery_path"][-1]) == page["url"]
        assert page["canonical_url"] and page["topic"] == "glas_embassy"
        record = read_response(crawled.settings.state_dir, page["warc_file"], page["warc_offset"])
        assert record.url == page["final_url"]
        assert record.body == crawled.web.served_body(path_of(page["final_url"]))
    for page in lines:
        assert page["outcome"] in ("fetched", "skipped", "refused", "failed") and (page["reason"] or page["outcome"] == "fetched")


def test_summary_counts_every_line_and_every_source(crawled):
    summary, lines = crawled.first.summary, read_batch(crawled.first.batch_path)
    counts = summary["counts"]
    assert counts["fetched"] == sum(p["outcome"] == "fetched" for p in lines)
    for outcome in ("skipped", "refused", "failed"):
        expected: dict[str, int] = {}
        for p in lines:
            if p["outcome"] == outcome:
                expected[p["reason"]] = expected.get(p["reason"], 0) + 1
        assert counts[outcome] == expected
    assert summary["candidates"] == len(lines)
    assert summary["unreachable_sources"] == []
    listed = {(s["source_id"], s["listing_kind"]) for s in summary["sources"] if s["outcome"] == "listed"}
    assert {("local_rss", "rss"), ("local_atom", "atom"), ("local_sitemap", "sitemap_index"),
            ("local_sitemap", "news_sitemap"), ("local_sitemap", "sitemap"), ("local_section", "page"),
            ("local_google_news", "rss"), ("local_gdelt", "gdelt")} <= listed
    assert json.loads(crawled.first.summary_path.read_text()) == summary


def test_second_run_fetches_nothing_new_and_asks_feeds_conditionally(crawled):
    lines = read_batch(crawled.second.batch_path)
    assert [p for p in lines if p["outcome"] == "fetched"] == []
    requested = {r.path for r in crawled.second_requests}
    already_fetched = {path_of(p["final_url"]) for p in read_batch(crawled.first.batch_path) if p["outcome"] == "fetched"}
    assert requested & already_fetched == set()
    # Final failures are not retried; transient ones are, in a later run.
    assert requested.isdisjoint({"/loop/a", "/status/404", "/big.html", "/files/report.pdf"})
    assert {"/status/500", "/slow/timeout"} <= requested
    feeds = [r for r in crawled.second_requests if r.path in ("/feeds/news.rss", "/feeds/news.atom", "/sitemaps/index.xml")]
    assert len(feeds) == 3 and all(r.headers.get("if-none-match") and r.status == 304 for r in feeds)
    not_modified = {s["source_id"] for s in crawled.second.summary["sources"] if s["outcome"] == "not_modified"}
    assert {"local_rss", "local_atom", "local_sitemap"} <= not_modified
    # The search feeds list the same articles again: recorded as seen.
    assert crawled.second.summary["counts"]["skipped_seen"] > 0


def test_a_page_added_later_is_the_only_fetch_of_the_next_run(crawled):
    fetched = [p for p in read_batch(crawled.third.batch_path) if p["outcome"] == "fetched"]
    assert [p["url"] for p in fetched] == [crawled.new_url]
    assert crawled.web.hits("/articles/glas-embajada-nueva.html") == 1


def test_a_killed_run_resumes_without_refetching_or_losing_items(local_web, crawl_settings, tmp_path):
    pages = corpus_pages(40)
    for name, body in pages:
        local_web.add_reply(f"/k/{name}.html", Reply(200, body, {"Content-Type": "text/html"}))
        local_web.add_feed_entry("/feeds/k.rss", local_web.url(f"/k/{name}.html"))
    topic = write_topic(tmp_path / "topic.yaml", [{"id": "k_rss", "kind": "rss", "url": local_web.url("/feeds/k.rss")}])
    # One request at a time, so the kill lands mid-crawl; some real pages exceed FAST_CRAWL's 1 MiB.
    slow = {**FAST_CRAWL, "CONCURRENT_REQUESTS": 1, "DOWNLOAD_DELAY": 0.15, "DOWNLOAD_MAXSIZE": 4 * 1024 * 1024}
    job = start_crawl(topic, settings=crawl_settings, allow_private_hosts=True, overrides=slow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _fetched_lines(job.batch_path) < 8:
        time.sleep(0.05)
    job.process.kill()
    job.process.wait()
    killed = [p for p in read_batch(job.batch_path) if p["outcome"] == "fetched"]
    assert 8 <= len(killed) < len(pages), "the run must be killed mid-crawl"
    assert not job.summary_path.exists()

    resumed = run_crawl(topic, settings=crawl_settings, allow_private_hosts=True, overrides=slow)
    lines = read_batch(resumed.batch_path)
    fetched_urls = [p["url"] for p in lines if p["outcome"] == "fetched"]
    all_urls = {local_web.url(f"/k/{name}.html") for name, _ in pages}
    assert sorted(fetched_urls) == sorted(all_urls)  # nothing lost: every page is in the resumed batch, once
    recovered = {p["url"] for p in lines if p["hints"].get("recovered_from_run")}
    assert recovered == {p["url"] for p in killed}
    # The feed was unchanged (304): the pending URLs came from the saved frontier.
    assert [s["outcome"] for s in resumed.summary["sources"]] == ["not_modified"]
    hits = {url: local_web.hits(path_of(url)) for url in all_urls}
    assert all(hits[p["url"]] == 1 for p in killed)  # recorded pages are never fetched again
    # At most the one page in flight at the kill is fetched twice.
    assert sum(hits.values()) <= len(all_urls) + 1


def test_one_crawl_at_a_time_per_state_directory(local_web, crawl_settings, tmp_path):
    for name, body in corpus_pages(10):
        local_web.add_reply(f"/k/{name}.html", Reply(200, body, {"Content-Type": "text/html"}))
        local_web.add_feed_entry("/feeds/k.rss", local_web.url(f"/k/{name}.html"))
    topic = write_topic(tmp_path / "topic.yaml", [{"id": "k_rss", "kind": "rss", "url": local_web.url("/feeds/k.rss")}])
    # Slow enough (>= 18 s for the 10 pages) that starting the second crawl's process on a
    # loaded machine cannot outlast the first crawl.
    slow = {**FAST_CRAWL, "CONCURRENT_REQUESTS": 1, "DOWNLOAD_DELAY": 2.0, "RANDOMIZE_DOWNLOAD_DELAY": False}
    first = start_crawl(topic, settings=crawl_settings, allow_private_hosts=True, overrides=slow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _fetched_lines(first.batch_path) < 1:
        time.sleep(0.05)
    with pytest.raises(CrawlError, match="another crawl is running"):
        run_crawl(topic, settings=crawl_settings, allow_private_hosts=True, overrides=FAST_CRAWL)
    # Interrupted waiting stops the crawl gracefully: it still finishes its run and summary.
    with pytest.raises(subprocess.TimeoutExpired):
        first.wait(timeout=0.1)
    first.process.wait(timeout=60)
    assert first.summary_path.exists()
    assert 1 <= json.loads(first.summary_path.read_text())["counts"]["fetched"] < 10


def _fetched_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return sum('"outcome": "fetched"' in line for line in path.read_text(encoding="utf-8").splitlines())


def test_private_hosts_are_refused_unless_allowed(fixture_site, local_web, crawl_settings, tmp_path):
    topic = write_topic(tmp_path / "topic.yaml", [{"id": "local_rss", "kind": "rss", "url": fixture_site.rss}])
    result = run_crawl(topic, settings=crawl_settings, overrides=FAST_CRAWL)
    assert result.summary["unreachable_sources"] == [
        {"id": "local_rss", "url": fixture_site.rss, "reason": "address:loopback:127.0.0.1"}]
    assert read_batch(result.batch_path) == []
    assert local_web.requests == []  # not even robots.txt


def test_the_resolver_refuses_private_addresses_at_connection_time(fixture_site, local_web, crawl_settings, tmp_path):
    """Without the middleware's early check, the resolver still stops the connection
    (what defeats DNS rebinding); Twisted reports its refusal as a lookup failure."""
    topic = write_topic(tmp_path / "topic.yaml", [{"id": "local_rss", "kind": "rss", "url": fixture_site.rss}])
    overrides = {**FAST_CRAWL, "RETRY_TIMES": 0,
                 "DOWNLOADER_MIDDLEWARES": {"crawlers.middlewares.AddressPolicyMiddleware": None}}
    result = run_crawl(topic, settings=crawl_settings, overrides=overrides)
    assert result.summary["unreachable_sources"] == [{"id": "local_rss", "url": fixture_site.rss, "reason": "dns"}]
    assert local_web.requests == []


def test_unreachable_sources_are_recorded_and_the_crawl_finishes(crawl_settings, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sources = [
        {"id": "refusing", "kind": "rss", "url": f"http://127.0.0.1:{closed_port}/feed.xml"},
        {"id": "offline", "kind": "sitemap", "url": "http://mediawatch-offline.invalid/sitemap.xml"},
    ]
    topic = write_topic(tmp_path / "topic.yaml", sources)
    result = run_crawl(topic, settings=crawl_settings, allow_private_hosts=True, overrides={**FAST_CRAWL, "RETRY_TIMES": 0})
    assert sorted((s["id"], s["reason"]) for s in result.summary["unreachable_sources"]) == [
        ("offline", "dns"), ("refusing", "connection_refused")]
    assert read_batch(result.batch_path) == []


def test_cli_crawl_adds_sources_of_any_kind_and_names_itself(fixture_site, local_web, tmp_path):
    topic = write_topic(tmp_path / "topic.yaml", [])
    out = tmp_path / "batch"
    env = {**os.environ, "MEDIAWATCH_HOME": str(tmp_path / "var"), "MEDIAWATCH_NAMESPACE": "crawlcli",
           "MEDIAWATCH_USER_AGENT_CONTACT": "https://example.org/mediawatch-contact"}
    completed = subprocess.run(
        [sys.executable, "-m", "mediawatch.cli", "crawl", "--topic", str(topic), "--allow-private-hosts",
         "--source", fixture_site.atom, "--source", fixture_site.section, "--out", str(out)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    printed = json.loads(completed.stdout.split("\nbatch:")[0])
    assert printed["counts"]["fetched"] == 4
    kinds = {p["url"]: p["source_kind"] for p in read_batch(out / "batch.jsonl") if p["outcome"] == "fetched"}
    assert kinds == {**{u: "atom" for u in fixture_site.atom_articles}, **{u: "page" for u in fixture_site.section_articles}}
    agents = {r.headers.get("user-agent") for r in local_web.requests}
    assert agents == {"mediawatch/0.1 (+https://example.org/mediawatch-contact)"}
