"""Reprocessing from the WARC archive into a new index, against the real node: the alias
moves only on success, twice in a row changes nothing, a failure leaves the alias alone, and
what a monitor run writes to the live index while the rebuild runs reaches the new index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediawatch import cli
from mediawatch import es as es_access
from mediawatch.documents import article_id
from mediawatch.seeds import index_seeds
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors import reprocess as reprocess_module
from processors.alerts import raise_alerts
from processors.indexing import deliver_spool
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


def _snapshot(settings, index: str | None = None) -> dict[str, dict]:
    """id -> document of the articles alias, or of one concrete index."""
    index = index or settings.index_name("articles")
    writer = es_access.client("writer", settings)
    writer.indices.refresh(index=index)
    hits = writer.search(index=index, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _alias_targets(settings) -> list[str]:
    return sorted(es_access.client("writer", settings).indices.get_alias(name=settings.index_name("articles")))


def _family(settings) -> set[str]:
    return set(es_access.client("writer", settings).indices.get(index=f"{settings.index_name('articles')}-v*"))


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
    assert len(_family(settings)) == 2  # the live index and the one kept from the last switch; the failed one is gone


def _monitor_run(settings, host: str, seed: int, published: str):
    """What a monitor run does: crawl a batch (archived), then process and index it through the alias."""
    batch = write_batch(settings, TOPIC.name, [_page(seed, host, published)])
    return process_batch(batch, TOPIC, settings=settings)


def test_a_failure_while_the_live_index_refuses_writes_gives_them_back(settings, archive, monkeypatch):
    """The second copy fails (the new index is closed under it): alias, old index and its writes are as before."""
    before_targets = _alias_targets(settings)
    family_before = _family(settings)
    real_refuse_writes = reprocess_module._refuse_writes

    def refuse_writes_then_lose_the_new_index(es, indices):
        _monitor_run(settings, "www.reprocess-g-sample.com", 1, "2024-09-04")  # something for the second copy
        real_refuse_writes(es, indices)
        es.indices.close(index=",".join(_family(settings) - family_before))

    monkeypatch.setattr(reprocess_module, "_refuse_writes", refuse_writes_then_lose_the_new_index)
    with pytest.raises(ReprocessError, match="could not carry document"):
        reprocess(settings)
    assert _alias_targets(settings) == before_targets and _family(settings) == family_before
    report = _monitor_run(settings, "www.reprocess-h-sample.com", 1, "2024-09-05")
    assert report.indexed == 1 and report.spooled == 0  # the live index takes writes again


def test_monitor_writes_during_the_rebuild_reach_the_new_index(settings, archive, monkeypatch):
    """A monitor run writes to the live index during the rebuild, after the first copy, and after
    writes are refused: nothing is lost, and a second reprocess changes nothing."""
    real_assess, real_refuse_writes = reprocess_module.assess_articles, reprocess_module._refuse_writes
    monitor: dict[str, object] = {}

    def assess_while_the_monitor_runs(articles, topic):  # half-way through the rebuild: a new document
        monitor["during"] = _monitor_run(settings, "www.reprocess-d-sample.com", 1, "2024-09-02")
        return real_assess(articles, topic)

    def refuse_writes_around_a_monitor_run(es, indices):
        # After the first copy: an older copy of story 0, so the group's original flips (an update).
        monitor["before"] = _monitor_run(settings, "www.reprocess-e-sample.com", 0, "2024-05-01")
        real_refuse_writes(es, indices)
        monitor["after"] = _monitor_run(settings, "www.reprocess-f-sample.com", 1, "2024-09-03")  # refused: spooled

    monkeypatch.setattr(reprocess_module, "assess_articles", assess_while_the_monitor_runs)
    monkeypatch.setattr(reprocess_module, "_refuse_writes", refuse_writes_around_a_monitor_run)
    before = _snapshot(settings)
    first = reprocess(settings)
    monkeypatch.undo()

    assert [monitor[run].indexed for run in ("during", "before")] == [1, 1] and monitor["after"].spooled == 1
    retired = first["retired"][0]
    old, new = _snapshot(settings, retired), _snapshot(settings)
    assert new == old  # same code and data: the new index is the live one, updates included
    older_copy_id = article_id("https://www.reprocess-e-sample.com/2024/raid")
    flipped_id = article_id("https://www.reprocess-a-sample.com/2024/raid")
    assert older_copy_id in new and before[flipped_id]["is_original"] and not new[flipped_id]["is_original"]
    assert first["arrived_during_rebuild"] == 3  # d and e, new; a, whose original flag changed
    assert first["dropped"] == []

    deliver_spool(settings)  # the monitor's next run delivers what the refused index did not take
    spooled_id = article_id("https://www.reprocess-f-sample.com/2024/raid")
    delivered = _snapshot(settings)
    assert set(delivered) == set(new) | {spooled_id} and spooled_id not in _snapshot(settings, retired)

    second = reprocess(settings)
    assert _snapshot(settings) == delivered
    assert second["arrived_during_rebuild"] == 0 and second["dropped"] == []
