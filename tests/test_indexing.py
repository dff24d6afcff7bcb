"""The bulk indexer against the real node: idempotent reruns, spool, retries, dead letters,
field updates, and a cluster that is unreachable (a closed port on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import json
import socket

import pytest

from mediawatch import es as es_access
from mediawatch.documents import article_id
from mediawatch.records import Article
from processors.indexing import (
    MAX_ATTEMPTS,
    IndexingError,
    deliver_spool,
    index_articles,
    index_into,
    send_articles,
    update_fields,
)
from tests.support.batches import seed_text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable(settings):
    """The same namespace and state directory, with Elasticsearch on a port nobody listens on."""
    return dataclasses.replace(
        settings, es_url=f"http://127.0.0.1:{_closed_port()}", es_writer_user="writer", es_writer_password="unused"
    )


def _articles(prefix: str, count: int) -> list[Article]:
    title, paragraphs = seed_text(0)
    return [
        Article(
            url=f"https://indexing-sample.org/{prefix}/{n}",
            canonical_url=f"https://indexing-sample.org/{prefix}/{n}",
            title=f"{title} ({n})",
            text="\n".join(paragraphs[n % len(paragraphs) :]),
            published_at="2024-05-07",
            outlet="indexing-sample.org",
        )
        for n in range(count)
    ]


def _docs(settings, prefix: str) -> dict[str, dict]:
    es_access.client("writer", settings).indices.refresh(index=settings.index_name("articles"))
    reader = es_access.client("reader", settings)
    result = reader.search(
        index=settings.index_name("articles"), query={"prefix": {"url": f"https://indexing-sample.org/{prefix}/"}}, size=1000
    )
    return {hit["_id"]: hit["_source"] for hit in result["hits"]["hits"]}


def _spool_files(settings):
    return sorted((settings.state_dir / "spool").glob("pending-*"))


def test_rerun_updates_instead_of_duplicating_and_keeps_indexed_at(settings):
    articles = _articles("rerun", 3)
    first = index_articles(articles, settings, refresh=True)
    assert (first.indexed, first.unchanged, first.spooled) == (3, 0, 0)
    before = _docs(settings, "rerun")
    assert set(before) == {article_id(a.canonical_url) for a in articles}

    second = index_articles(_articles("rerun", 3), settings, refresh=True)
    assert (second.indexed, second.unchanged) == (0, 3)
    changed = _articles("rerun", 3)
    changed[0].title = "A corrected title"
    third = index_articles(changed, settings, refresh=True)
    assert (third.indexed, third.unchanged) == (1, 2)
    after = _docs(settings, "rerun")
    assert set(after) == set(before)
    assert {i: d["indexed_at"] for i, d in after.items()} == {i: d["indexed_at"] for i, d in before.items()}
    assert after[article_id(changed[0].canonical_url)]["title"] == "A corrected title"


def test_unreachable_cluster_spools_everything_and_the_outage_costs_no_attempt(settings):
    down = unreachable(settings)
    articles = _articles("outage", 4)
    for _ in range(MAX_ATTEMPTS + 1):  # a long outage: the documents must never be given up on
        with pytest.raises(IndexingError) as raised:
            index_articles(articles if _ == 0 else [], down)
        assert "unreachable" in str(raised.value)
    entries = [json.loads(line) for path in _spool_files(settings) for line in path.read_text().splitlines()]
    assert sorted(entry["doc"]["id"] for entry in entries) == sorted(article_id(a.canonical_url) for a in articles)
    assert all(entry["attempts"] == 0 for entry in entries)
    assert not (settings.state_dir / "spool" / "dead").exists()

    report = deliver_spool(settings)
    assert report.indexed == 4 and report.spooled == 0
    assert _spool_files(settings) == []
    assert len(_docs(settings, "outage")) == 4


def test_rejected_document_is_retried_then_dead_lettered_with_its_reason(settings):
    good, bad = _articles("rejected", 2)
    bad.published_at = "the day after the raid"  # not a date: the mapping rejects the document
    report = send_articles([good, bad], settings, refresh=True)
    assert report.indexed == 1 and report.spooled_ids == [article_id(bad.canonical_url)]
    for attempt in range(2, MAX_ATTEMPTS + 1):
        report = deliver_spool(settings)
        assert report.indexed == 0
    assert report.dead_ids == [article_id(bad.canonical_url)]
    assert _spool_files(settings) == []
    dead = [json.loads(line) for line in (settings.state_dir / "spool" / "dead" / "dead.jsonl").read_text().splitlines()]
    assert [entry["doc"]["id"] for entry in dead] == [article_id(bad.canonical_url)]
    assert dead[0]["attempts"] == MAX_ATTEMPTS and "date" in dead[0]["reason"]
    assert list(_docs(settings, "rejected")) == [article_id(good.canonical_url)]


def test_field_update_waits_in_the_spool_behind_its_document(settings):
    (article,) = _articles("update", 1)
    article.is_original = True
    doc_id = article_id(article.canonical_url)
    down = unreachable(settings)
    with pytest.raises(IndexingError):
        send_articles([article], down)
    with pytest.raises(IndexingError):
        update_fields({doc_id: {"is_original": False}}, down)
    report = deliver_spool(settings)
    assert (report.indexed, report.spooled) == (2, 0)
    assert _docs(settings, "update")[doc_id]["is_original"] is False


def test_field_update_never_creates_a_stub_document(settings):
    report = update_fields({"no-such-document": {"is_original": False}}, settings)
    assert report.spooled_ids == ["no-such-document"] and "document_missing" in report.errors[0]
    assert _docs(settings, "no-such") == {}
    for path in _spool_files(settings):  # leave the spool clean for the other tests
        path.unlink()


def test_index_into_a_concrete_index_raises_instead_of_spooling(settings):
    admin = es_access.client("admin", settings)
    index = f"{es_access.versioned_index(settings, 'articles')}-indexinto"
    admin.indices.create(index=index)
    writer = es_access.client("writer", settings)
    good, bad = _articles("into", 2)
    report = index_into(index, writer, [good], refresh=True)
    assert report.indexed == 1
    bad.published_at = "soon"
    with pytest.raises(IndexingError, match="could not be indexed"):
        index_into(index, writer, [bad])
    assert _spool_files(settings) == []
    admin.indices.delete(index=index)


def test_corrupt_spool_line_is_dead_lettered_and_the_rest_delivered(settings, tmp_path):
    own = dataclasses.replace(settings, home=tmp_path)  # its own spool and dead letters
    articles = _articles("corrupt", 2)
    with pytest.raises(IndexingError):
        index_articles(articles, unreachable(own))
    [spool_file] = _spool_files(own)
    with spool_file.open("a", encoding="utf-8") as handle:
        handle.write('{"doc": {"id": "truncated by a disk fault"\n')

    report = deliver_spool(own)
    assert report.indexed == 2 and report.dead == 1
    assert _spool_files(own) == []
    [dead] = [json.loads(line) for line in (own.state_dir / "spool" / "dead" / "dead.jsonl").read_text().splitlines()]
    assert dead["reason"].startswith(f"unreadable spool line {spool_file.name}:3")
    assert len(_docs(settings, "corrupt")) == 2
