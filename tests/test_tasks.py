"""The task functions the DAGs call: batch bookkeeping, crawl step, failure handling, accounts."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest

from mediawatch import tasks
from mediawatch.settings import ConfigError, load_settings
from tests.support.localweb import LocalWeb, write_topic


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIAWATCH_HOME", str(tmp_path / "var"))
    return load_settings()


def _crawled(settings, topic: str, complete: bool = True) -> Path:
    """A batch directory as the crawler leaves it (summary.json only once the crawl finished)."""
    folder = tasks.new_batch_dir(settings, topic)
    (folder / tasks.BATCH_FILE).write_text("")
    if complete:
        (folder / tasks.SUMMARY_FILE).write_text("{}")
    return folder / tasks.BATCH_FILE


def test_batch_directories_sort_in_crawl_order(state):
    made = [tasks.new_batch_dir(state, "glas_embassy") for _ in range(5)]
    assert sorted(made) == made and len(set(made)) == 5
    assert all(p.parent == state.state_dir / "batches" / "glas_embassy" for p in made)


def test_each_stage_finds_what_earlier_runs_left_undone(state):
    killed = _crawled(state, "glas_embassy", complete=False)
    spooled, processed, done = (_crawled(state, "glas_embassy") for _ in range(3))
    other_topic = _crawled(state, "other")
    (spooled.parent / tasks.PROCESS_MARKER).write_text(json.dumps({"spooled": True, "error": "down"}))
    (processed.parent / tasks.PROCESS_MARKER).write_text("{}")
    (done.parent / tasks.PROCESS_MARKER).write_text("{}")
    (done.parent / tasks.ALERTS_MARKER).write_text("[]")
    fresh = _crawled(state, "glas_embassy")

    # A killed crawl's pages come back in the next crawl's batch (crawlers.state): not processed twice.
    assert killed not in tasks.unprocessed_batches(state, "glas_embassy")
    assert tasks.unprocessed_batches(state, "glas_embassy") == [fresh]
    assert tasks.unalerted_batches(state, "glas_embassy") == [spooled, processed]
    assert tasks.unprocessed_batches(state, "other") == [other_topic]


def test_private_hosts_are_refused_unless_configured(monkeypatch):
    monkeypatch.delenv("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS", raising=False)
    assert tasks.allow_private_hosts() is False
    for value, expected in (("true", True), ("1", True), ("no", False), ("", False)):
        monkeypatch.setenv("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS", value)
        assert tasks.allow_private_hosts() is expected


@pytest.fixture
def web():
    web = LocalWeb().start()
    yield web
    web.stop()


def test_crawl_step_writes_a_complete_batch_under_its_topic(state, web, tmp_path, monkeypatch):
    page = web.add_page("/news/glas.html", "<html><body><p>Jorge Glas</p></body></html>", feed="/feed.rss")
    topic = write_topic(tmp_path / "glas_embassy.yaml", [{"id": "local_feed", "kind": "rss", "url": web.url("/feed.rss")}])
    monkeypatch.setenv("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS", "true")
    batch = tasks.crawl_topic(topic, state)
    assert batch.parent.parent == state.state_dir / "batches" / "glas_embassy"
    assert tasks.unprocessed_batches(state, "glas_embassy") == [batch]
    lines = [json.loads(line) for line in batch.read_text().splitlines()]
    assert [(line["url"], line["outcome"]) for line in lines] == [(page, "fetched")]


def test_crawl_step_refuses_loopback_by_default(state, web, tmp_path, monkeypatch):
    web.add_page("/news/glas.html", "<html><body><p>Jorge Glas</p></body></html>", feed="/feed.rss")
    topic = write_topic(tmp_path / "glas_embassy.yaml", [{"id": "local_feed", "kind": "rss", "url": web.url("/feed.rss")}])
    monkeypatch.delenv("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS", raising=False)
    batch = tasks.crawl_topic(topic, state)
    summary = json.loads(batch.with_name(tasks.SUMMARY_FILE).read_text())
    assert [s["id"] for s in summary["unreachable_sources"]] == ["local_feed"]
    assert web.hits("/feed.rss") == 0


def test_index_step_fails_clearly_and_keeps_the_batch_when_elasticsearch_is_unreachable(settings, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    unreachable = dataclasses.replace(settings, local_es_port=dead_port)
    batch = _crawled(unreachable, "glas_embassy")
    topic = write_topic(tmp_path / "glas_embassy.yaml", [])
    with pytest.raises(tasks.ElasticsearchUnavailable, match=f"127.0.0.1:{dead_port} is unreachable"):
        tasks.index_topic(topic, batch, unreachable)
    assert tasks.unprocessed_batches(unreachable, "glas_embassy") == [batch]


def test_index_step_needs_the_aliases_that_setup_creates(settings, tmp_path):
    """Tasks have the writer role only: a namespace never set up is a clear configuration error."""
    never_set_up = dataclasses.replace(settings, namespace=settings.namespace + "_nosetup")
    batch = _crawled(never_set_up, "glas_embassy")
    topic = write_topic(tmp_path / "glas_embassy.yaml", [])
    with pytest.raises(ConfigError, match="mediawatch-.*_nosetup-articles.*run `mediawatch setup` first"):
        tasks.index_topic(topic, batch, never_set_up)
    assert tasks.unprocessed_batches(never_set_up, "glas_embassy") == [batch]


def test_describe_batch_names_unreachable_sources_and_what_became_of_the_batch(state):
    batch = _crawled(state, "glas_embassy")
    summary = {
        "run_id": "r1", "topic": "glas_embassy", "candidates": 3,
        "counts": {"fetched": 1, "skipped_seen": 0, "failed": {"dns_lookup_failed": 2}, "refused": {}},
        "unreachable_sources": [{"id": "gdelt", "url": "https://api.gdeltproject.org/x", "reason": "dns_lookup_failed"}],
    }
    batch.with_name(tasks.SUMMARY_FILE).write_text(json.dumps(summary))
    text = "\n".join(tasks.describe_batch(tasks.batch_account(batch)))
    assert "gdelt: https://api.gdeltproject.org/x (dns_lookup_failed)" in text
    assert "pages failed: dns_lookup_failed 2" in text
    assert "not processed yet" in text

    batch.with_name(tasks.PROCESS_MARKER).write_text(json.dumps({"spooled": True, "error": "node down"}))
    assert "documents spooled for the next run: node down" in "\n".join(tasks.describe_batch(tasks.batch_account(batch)))

    report = {"extracted": 1, "not_relevant": 0, "duplicates": 0, "indexed": 1, "spooled": 0}
    batch.with_name(tasks.PROCESS_MARKER).write_text(json.dumps(report))
    batch.with_name(tasks.ALERTS_MARKER).write_text("[]")
    text = "\n".join(tasks.describe_batch(tasks.batch_account(batch)))
    assert "1 indexed" in text and "alerts raised: 0" in text

    killed = _crawled(state, "glas_embassy", complete=False)
    assert "did not finish" in tasks.describe_batch(tasks.batch_account(killed))[0]


def test_a_second_run_on_the_same_topic_stops_at_once(state, tmp_path):
    topic = write_topic(tmp_path / "glas_embassy.yaml", [])
    batch = _crawled(state, "glas_embassy")
    with tasks.topic_lock(state, "glas_embassy"):
        with pytest.raises(tasks.TopicBusy, match="another run is processing topic glas_embassy"):
            tasks.index_topic(topic, batch, state)
        with pytest.raises(tasks.TopicBusy):
            tasks.alert_topic(topic, batch.with_name(tasks.PROCESSED_FILE), state)
    assert tasks.unprocessed_batches(state, "glas_embassy") == [batch]
    with tasks.topic_lock(state, "other"):
        with tasks.topic_lock(state, "glas_embassy"):
            pass  # topics do not block each other, and the lock is released after use
