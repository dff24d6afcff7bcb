"""Reprocessing from the WARC archive into a new index, against the real node: the alias
moves only on success, twice in a row changes nothing, and a failure leaves the alias alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediawatch import cli
from mediawatch import es as es_access
from mediawatch.seeds import index_seeds
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.alerts import raise_alerts
from processors.pipeline import process_batch
from processors.reprocess import ReprocessError, reprocess
from tests.support.batches import Page, article_html, corpus_pages, seed_text, write_batch

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")


def _page(seed: int, host: str, published: str) -> Page:
    title, paragraphs = seed_text(seed)
    url = f"https://{host}/2024/raid"
    return Page(url, article_html(title, paragraphs, site_name=host, canonical=url, published=published))


@pytest.fixture(scope="module")
def archive(settings):
    """Two crawl batches and the seeds, processed and indexed the normal way."""
    first = write_batch(settings, TOPIC.name, [_page(0, "www.reprocess-a-sample.com", "2024-05-07"),
                                               _page(1, "www.reprocess-b-sample.com", "2024-09-01"),
                                               Page("https://www.reprocess-junk-sample.org/empty", b"")]
                        + corpus_pages(3, start=20))
    second = write_batch(settings, TOPIC.name, [_page(0, "www.reprocess-c-sample.com", "2024-05-08"),
                                                _page(1, "www.reprocess-b-sample.com", "2024-09-01")])  # recrawled
    for batch in (first, second):
        report = process_batch(batch, TOPIC, settings=settings)
        raise_alerts(Path(report.processed_path), TOPIC, settings=settings)
    index_seeds(settings)
    return first, second


def _snapshot(settings) -> dict[str, dict]:
    writer = es_access.client("writer", settings)
    writer.indices.refresh(index=settings.index_name("articles"))
    hits = writer.search(index=settings.index_name("articles"), query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _alias_targets(settings) -> list[str]:
    return sorted(es_access.client("writer", settings).indices.get_alias(name=settings.index_name("articles")))


def test_reprocess_twice_changes_nothing_in_the_search_results(settings, archive):
    before = _snapshot(settings)
    assert len(before) == 5  # outlets a, b (crawled twice), c and the two seeds; no corpus page, no junk
    original_index = _alias_targets(settings)

    first = reprocess(settings)
    assert _alias_targets(settings) == [first["index"]] and first["retired"] == original_index
    assert first["documents"] == first["previous_documents"] == len(before) and first["dropped"] == []
    assert first["alerts"] == 0  # every carrier was already known
    after_first = _snapshot(settings)
    assert after_first == before  # same ids, same fields, indexed_at carried over

    second = reprocess(settings)
    assert _alias_targets(settings) == [second["index"]] and second["retired"] == [first["index"]]
    assert second["deleted"] == original_index  # retired two rebuilds ago
    assert _snapshot(settings) == before
    assert second["report"]["skipped"] == first["report"]["skipped"]


def test_reprocess_command_prints_its_summary(settings, archive, capsys):
    assert cli.main(["reprocess"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == 5 and _alias_targets(settings) == [summary["index"]]


def test_failed_rebuild_leaves_the_alias_and_the_old_index_alone(settings, archive):
    before_targets = _alias_targets(settings)
    before = _snapshot(settings)
    warc_dir = settings.state_dir / "warc"
    moved = []
    for path in warc_dir.glob("*.warc.gz"):  # the archive of indexed pages is gone
        moved.append((path, path.with_suffix(".moved")))
        path.rename(moved[-1][1])
    try:
        with pytest.raises(ReprocessError, match="could not be reprocessed"):
            reprocess(settings)
    finally:
        for original, renamed in moved:
            renamed.rename(original)
    assert _alias_targets(settings) == before_targets
    assert _snapshot(settings) == before
    family = es_access.client("writer", settings).indices.get(index=f"{settings.index_name('articles')}-v*")
    assert len(family) == 2  # the live index and the one kept from the last switch; the failed one is gone


def test_documents_indexed_during_the_rebuild_are_carried_over(settings, archive, monkeypatch):
    """A monitor run that indexes into the live index while the rebuild runs loses nothing."""
    from mediawatch.documents import article_id
    from mediawatch.records import Article
    from processors import reprocess as reprocess_module
    from processors.indexing import index_articles

    title, paragraphs = seed_text(1)
    arrival = Article(url="https://www.reprocess-d-sample.com/late", canonical_url="https://www.reprocess-d-sample.com/late",
                      title=title, text="\n".join(paragraphs), outlet="reprocess-d-sample.com", topic=TOPIC.name)
    real_assess = reprocess_module.assess_articles

    def assess_while_the_monitor_indexes(articles, topic):
        index_articles([arrival], settings, refresh=True)  # the monitor, half-way through the rebuild
        return real_assess(articles, topic)

    monkeypatch.setattr(reprocess_module, "assess_articles", assess_while_the_monitor_indexes)
    before = _snapshot(settings)
    summary = reprocess(settings)
    assert summary["arrived_during_rebuild"] == 1
    after = _snapshot(settings)
    assert set(after) == set(before) | {article_id(arrival.canonical_url)}
