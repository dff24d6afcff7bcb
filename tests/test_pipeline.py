"""The whole pipeline on a crawl batch, against the real node.

The main batch mixes the seed texts published by several outlets (with an AMP variant,
a wire copy, a broken-encoding copy, a cp1252 page labelled UTF-8 and a truncated
page), real corpus pages that are not about the affair, and junk: an empty body,
binary data served as HTML, a PDF, crawl failures, a line without its archived
response, a pointer into the wrong place of a WARC file and a line that is not JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawlers.runner import run_crawl
from mediawatch import cli
from mediawatch import es as es_access
from mediawatch.documents import article_id
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.alerts import list_alerts, raise_alerts
from processors.pipeline import PROCESSED_FILE, process_batch
from tests.support.batches import WEB_PAGES, Page, article_html, corpus_pages, seed_text, write_batch
from tests.support.localweb import FAST_CRAWL, LocalWeb, outlet_webs, write_topic

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")
CLAIM = "us_planned_raid"


def _article_page(seed: int, host: str, path: str, published: str | None, *, site: str, url: str | None = None,
                  paragraphs_from: int = 0, content_type: str = "text/html; charset=utf-8") -> Page:
    title, paragraphs = seed_text(seed)
    canonical = f"https://{host}{path}"
    body = article_html(title, paragraphs[paragraphs_from:], site_name=site, canonical=canonical, published=published)
    return Page(url or canonical, body, content_type=content_type)


def _pages() -> dict[str, Page]:
    a = _article_page(0, "www.outlet-a-sample.com", "/2024/05/07/assault-embassy", "2024-05-07T09:00:00+00:00", site="Outlet A")
    amp = _article_page(0, "www.outlet-a-sample.com", "/2024/05/07/assault-embassy", "2024-05-07T09:00:00+00:00",
                        site="Outlet A", url="https://amp.outlet-a-sample.com/2024/05/07/assault-embassy/amp")
    wire = _article_page(0, "www.outlet-b-sample.com", "/world/washington-designed-assault", "2024-05-08T12:00:00+00:00",
                         site="Outlet B", paragraphs_from=1)
    claim2 = _article_page(1, "www.outlet-c-sample.com", "/us-planned-raid", "2024-09-01T08:00:00+00:00", site="Outlet C")
    truncated = _article_page(1, "www.outlet-e-sample.com", "/raid", "2024-09-02T08:00:00+00:00", site="Outlet E")
    truncated.body = truncated.body[: len(truncated.body) * 2 // 3]  # cut off mid-page, tags left open
    cp1252 = _article_page(0, "www.outlet-f-sample.com", "/assault", "2024-05-09T08:00:00+00:00", site="Outlet F",
                           content_type="text/html; charset=utf-8")
    cp1252.body = cp1252.body.decode("utf-8").encode("cp1252", errors="replace")  # labelled UTF-8, is cp1252
    mojibake = _article_page(0, "www.outlet-g-sample.com", "/assault", "2024-05-10T08:00:00+00:00", site="Outlet G")
    mojibake.body = mojibake.body.decode("utf-8").encode("utf-8").decode("cp1252", errors="replace").encode("utf-8")
    binary = sorted(WEB_PAGES.glob("*.html.gz"))[0].read_bytes()  # gzip bytes, served as if HTML
    pages = {
        "a": a, "amp": amp, "wire": wire, "claim2": claim2, "truncated": truncated, "cp1252": cp1252, "mojibake": mojibake,
        "empty": Page("https://www.junk-sample.org/empty", b""),
        "binary": Page("https://www.junk-sample.org/binary", binary),
        "pdf": Page("https://www.junk-sample.org/report.pdf", binary, content_type="application/pdf"),
        "failed": Page("https://www.junk-sample.org/gone", outcome="failed", reason="HTTP 404"),
        "refused": Page("https://www.junk-sample.org/private", outcome="refused", reason="disallowed by robots.txt"),
        "unarchived": Page("https://www.junk-sample.org/unarchived", b"<html></html>", archived=False),
        "bad_offset": Page("https://www.junk-sample.org/bad-offset", b"<html><p>x</p></html>"),
    }
    for n, page in enumerate(corpus_pages(6)):
        pages[f"corpus{n}"] = page
    return pages


@pytest.fixture(scope="module")
def batch(settings):
    pages = _pages()
    path = write_batch(settings, TOPIC.name, list(pages.values()))
    lines = path.read_text().splitlines()
    names = list(pages)
    # A pointer into the middle of a record, and a line that is not JSON.
    bad = json.loads(lines[names.index("bad_offset")])
    bad["warc_offset"] += 7
    lines[names.index("bad_offset")] = json.dumps(bad)
    lines.append('{"url": "https://www.junk-sample.org/half-written", "outcome": "fe')
    path.write_text("\n".join(lines) + "\n")
    return path, names + ["invalid_json"]


@pytest.fixture(scope="module")
def first_run(settings, batch):
    path, names = batch
    report = process_batch(path, TOPIC, settings=settings)
    records = [json.loads(line) for line in path.with_name(PROCESSED_FILE).read_text().splitlines()]
    return report, dict(zip(names, records, strict=True))


def _docs(settings) -> dict[str, dict]:
    writer = es_access.client("writer", settings)
    writer.indices.refresh(index=settings.index_name("articles"))
    hits = writer.search(index=settings.index_name("articles"), query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def test_every_line_is_accounted_for_with_a_reason(first_run, batch):
    report, records = first_run
    assert report.lines == len(records) == len(batch[0].read_text().splitlines())
    assert [r["line"] for r in records.values()] == list(range(1, len(records) + 1))
    for name, record in records.items():
        assert record["outcome"] in {"indexed", "not_relevant", "skipped", "duplicate"}, (name, record)
        if record["outcome"] != "indexed":
            assert record["reason"], (name, record)
    skipped = {name: r["reason"] for name, r in records.items() if r["outcome"] == "skipped"}
    assert set(skipped) == {"empty", "binary", "pdf", "failed", "refused", "unarchived", "bad_offset", "invalid_json"}
    assert skipped["failed"] == "crawl failed: HTTP 404"
    assert skipped["refused"] == "crawl refused: disallowed by robots.txt"
    assert skipped["pdf"] == "not a web page (application/pdf)"
    assert skipped["unarchived"] == "no archived response"
    assert skipped["bad_offset"].startswith("archive unreadable")
    assert skipped["invalid_json"].startswith("unreadable batch line")
    assert skipped["empty"].startswith("extraction:") and skipped["binary"].startswith("extraction:")
    assert all(records[f"corpus{n}"]["outcome"] == "not_relevant" for n in range(6))
    assert records["amp"]["outcome"] == "duplicate" and records["amp"]["reason"] == "same canonical URL as line 1"
    for name in ("a", "wire", "claim2", "cp1252", "mojibake"):
        assert records[name]["outcome"] == "indexed", (name, records[name])

    assert sum(report.skipped.values()) == len(skipped)
    assert report.fetched == len(records) - 3  # the crawl failures and the unreadable line were never fetched
    assert report.not_relevant == 6
    assert report.indexed == sum(r["outcome"] == "indexed" for r in records.values())
    assert report.lines == report.indexed + report.not_relevant + sum(report.skipped.values()) + 1  # + the AMP line


def test_indexed_documents_are_exactly_the_relevant_articles(settings, first_run):
    _, records = first_run
    docs = _docs(settings)
    assert set(docs) == {r["article"]["id"] for r in records.values() if r["outcome"] == "indexed"}
    a = docs[records["a"]["article"]["id"]]
    assert a["outlet"] == "outlet-a-sample.com" and a["outlet_name"] == "Outlet A"
    assert a["canonical_url"] == "https://www.outlet-a-sample.com/2024/05/07/assault-embassy"
    assert a["language"] == "en" and a["relevance_score"] > 0 and a["relevance_terms"]
    assert a["claim_ids"] == [CLAIM] and a["source_type"] == "crawl" and a["warc_file"]
    assert "Revolución Ciudadana" in docs[records["cp1252"]["article"]["id"]]["text"]


def test_copies_share_a_group_and_the_earliest_is_the_original(settings, first_run):
    _, records = first_run
    docs = _docs(settings)
    group = {name: docs[records[name]["article"]["id"]] for name in ("a", "wire", "cp1252", "mojibake")}
    assert len({d["duplicate_group"] for d in group.values()}) == 1
    assert [name for name, d in group.items() if d["is_original"]] == ["a"]
    assert docs[records["claim2"]["article"]["id"]]["duplicate_group"] != group["a"]["duplicate_group"]


def test_alerts_from_the_batch_then_none_on_rerun(settings, first_run):
    report, records = first_run
    alerts = raise_alerts(Path(report.processed_path), TOPIC, settings=settings)
    carriers = {r["article"]["outlet"] for r in records.values()
                if r["outcome"] == "indexed" and CLAIM in {c["claim_id"] for c in r["article"]["claims"]}}
    assert {"outlet-a-sample.com", "outlet-b-sample.com", "outlet-c-sample.com"} <= carriers
    # Outlet A published first: the baseline; every other carrier alerts once.
    assert sorted(a["outlet"] for a in alerts) == sorted(carriers - {"outlet-a-sample.com"})
    (baseline,) = [a for a in list_alerts(settings, include_baseline=True) if a["baseline"]]
    assert baseline["outlet"] == "outlet-a-sample.com"


def test_reprocessing_the_batch_twice_changes_nothing(settings, batch, first_run):
    path, _ = batch
    before = _docs(settings)
    first_records = path.with_name(PROCESSED_FILE).read_text()
    report = process_batch(path, TOPIC, settings=settings)
    assert path.with_name(PROCESSED_FILE).read_text() == first_records
    assert report.indexed == first_run[0].indexed and report.spooled == 0
    assert _docs(settings) == before
    assert raise_alerts(path.with_name(PROCESSED_FILE), TOPIC, settings=settings) == []


def test_an_older_copy_found_later_becomes_the_original(settings, first_run, capsys, monkeypatch):
    _, records = first_run
    older = _article_page(0, "www.outlet-d-sample.com", "/may-6/assault", "2024-05-06T07:00:00+00:00", site="Outlet D")
    path = write_batch(settings, TOPIC.name, [older])
    monkeypatch.setenv("MEDIAWATCH_PROCESS_WORKERS", "1")
    assert cli.main(["process", str(path), "--no-alerts"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["indexed"] == 1 and printed["lines"] == 1 and printed["alerts"] == 0
    docs = _docs(settings)
    d = next(doc for doc in docs.values() if doc["outlet"] == "outlet-d-sample.com")
    a = docs[records["a"]["article"]["id"]]
    assert d["is_original"] is True and d["duplicate_group"] == a["duplicate_group"]
    assert a["is_original"] is False  # updated in place by the later batch


def test_process_command_refuses_a_missing_batch(capsys, settings):
    assert cli.main(["process", "/nonexistent/batch.jsonl"]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_a_worker_that_dies_costs_only_its_page(settings, monkeypatch):
    """A page that kills its worker (a parser crash, the OOM killer) is recorded; the batch goes on."""
    import os

    from processors import pipeline

    real_extract = pipeline.extract_article

    def extract_or_die(body, url, **kwargs):
        if "/kill-worker" in url:
            os._exit(1)  # what a segfault or the OOM killer does to the worker process
        return real_extract(body, url, **kwargs)

    monkeypatch.setattr(pipeline, "extract_article", extract_or_die)
    pages = corpus_pages(4, start=30)
    pages.insert(2, _article_page(0, "www.junk-sample.org", "/kill-worker", None, site="Junk"))  # passes the prefilter
    path = write_batch(settings, TOPIC.name, pages)
    report = process_batch(path, TOPIC, settings=settings)
    records = [json.loads(line) for line in path.with_name(PROCESSED_FILE).read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["outcome"] for r in records] == ["not_relevant", "not_relevant", "skipped", "not_relevant", "not_relevant"]
    assert records[2]["reason"] == "worker process died on this page (crash or out of memory)"
    assert report.skipped == {"worker process died on this page (crash or out of memory)": 1}


@pytest.mark.slow
def test_a_copy_naming_another_sites_canonical_keeps_its_own_id_and_outlet(settings, first_run, tmp_path):
    """Crawled for real from two local sites: a syndication partner's copy whose rel=canonical
    names the original keeps its own URL as id and outlet, so it neither overwrites the
    original's document nor loses its outlet's alert. The AMP variant on the original's site
    is the original, and no id keeps a tracking parameter (the original declares one)."""
    title, paragraphs = seed_text(1)
    with outlet_webs(2) as (origin, partner):
        original = origin.url("/2024/09/05/raid")
        copy = partner.url("/world/raid")
        for path in ("/2024/09/05/raid", "/2024/09/05/raid/amp"):
            origin.add_page(path, article_html(title, paragraphs, site_name="Origin", canonical=original + "?utm_campaign=share",
                                               published="2024-09-05T08:00:00+00:00"))
        partner.add_page("/world/raid", article_html(title, paragraphs, site_name="Partner", canonical=original,
                                                     published="2024-09-06T08:00:00+00:00"))
        aggregator = LocalWeb().start()
        try:
            for url in (original + "?utm_source=rss", original + "/amp", copy):
                aggregator.add_feed_entry("/feed.rss", url)
            topic = write_topic(tmp_path / "topic.yaml", [{"id": "aggregator", "kind": "rss", "url": aggregator.url("/feed.rss")}])
            crawl = run_crawl(topic, settings=settings, allow_private_hosts=True, overrides=FAST_CRAWL)
        finally:
            aggregator.stop()

    report = process_batch(crawl.batch_path, TOPIC, settings=settings)
    records = [json.loads(line) for line in Path(report.processed_path).read_text().splitlines()]
    indexed = {r["article"]["canonical_url"]: r["article"] for r in records if r["outcome"] == "indexed"}
    assert set(indexed) == {original, copy}, records
    outlets = {url: urlsplit(url).netloc for url in (original, copy)}  # IP hosts: address and port
    assert {url: article["outlet"] for url, article in indexed.items()} == outlets
    docs = _docs(settings)
    assert {url: docs[article_id(url)]["outlet"] for url in outlets} == outlets

    raise_alerts(Path(report.processed_path), TOPIC, settings=settings)
    carriers = {a["outlet"] for a in list_alerts(settings, include_baseline=True) if a["claim_id"] == CLAIM}
    assert set(outlets.values()) <= carriers
