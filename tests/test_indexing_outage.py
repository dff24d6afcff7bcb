"""Elasticsearch stopped in the middle of indexing loses nothing.

The real node sits behind a TCP proxy on 127.0.0.1 that plays the outage: when the
client starts its N-th bulk request, the proxy drops every connection and stops
listening, so the request in flight dies half-way and every later connection is
refused, as when the node is killed. (Stopping the shared node itself would break
the other test modules that use it.) After the outage, delivering the spool to the
real node must leave every document indexed exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import pytest

from mediawatch import es as es_access
from mediawatch.documents import article_id
from mediawatch.records import Article
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.indexing import IndexingError, deliver_spool, index_articles
from tests.support.batches import Page, article_html, corpus_pages, seed_text, write_batch

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")


class OutageProxy:
    """Forwards 127.0.0.1:<port> to the node until the ``cut_at``-th bulk request starts."""

    def __init__(self, target: tuple[str, int], cut_at: int):
        self.target = target
        self.cut_at = cut_at
        self.bulk_requests = 0
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and b"/_bulk" in data.split(b"\r\n", 1)[0]:
                    with self._lock:
                        self.bulk_requests += 1
                        if self.bulk_requests >= self.cut_at:
                            self._stop()
                            return
                sink.sendall(data)
        except OSError:
            pass

    def _stop(self) -> None:
        """The node 'dies': in-flight connections reset, new ones refused."""
        self.cut.set()
        try:
            # shutdown, not just close: it wakes the thread blocked in accept() and stops
            # the kernel from queueing new connections, so they are refused at once.
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        with self._lock:
            if not self.cut.is_set():
                self._stop()


@pytest.fixture
def proxy(settings):
    proxies = []

    def start(cut_at: int):
        host, port = es_access.es_url(settings).removeprefix("http://").split(":")
        proxies.append(OutageProxy((host, int(port)), cut_at))
        writer_user, writer_password = es_access.credentials_for(settings, "writer")
        proxied = dataclasses.replace(
            settings,
            es_url=f"http://127.0.0.1:{proxies[-1].port}",
            es_writer_user=writer_user,
            es_writer_password=writer_password,
        )
        return proxies[-1], proxied

    yield start
    for p in proxies:
        p.close()


def _count(settings, query: dict) -> int:
    writer = es_access.client("writer", settings)
    writer.indices.refresh(index=settings.index_name("articles"))
    return writer.count(index=settings.index_name("articles"), query=query)["count"]


def test_indexer_loses_nothing_when_the_node_stops_mid_way(settings, proxy):
    title, paragraphs = seed_text(1)
    articles = [
        Article(url=f"https://outage-sample.org/{n}", canonical_url=f"https://outage-sample.org/{n}",
                title=f"{title} {n}", text="\n".join(paragraphs), outlet="outage-sample.org")
        for n in range(450)  # three bulk requests of 200
    ]
    outage, proxied = proxy(cut_at=2)
    with pytest.raises(IndexingError):
        index_articles(articles, proxied)
    assert outage.cut.is_set() and outage.bulk_requests >= 2  # the client retries the cut request
    indexed_before = _count(settings, {"prefix": {"url": "https://outage-sample.org/"}})
    assert indexed_before == 200  # the first request went through, the rest did not

    report = deliver_spool(settings)
    assert report.spooled == 0 and report.dead == 0
    assert _count(settings, {"prefix": {"url": "https://outage-sample.org/"}}) == 450
    ids = {hit["_id"] for hit in es_access.client("writer", settings).search(
        index=settings.index_name("articles"), query={"prefix": {"url": "https://outage-sample.org/"}}, size=1000,
        source=False)["hits"]["hits"]}
    assert ids == {article_id(a.canonical_url) for a in articles}


def test_pipeline_loses_nothing_when_the_node_stops_mid_batch(settings, proxy, monkeypatch):
    from processors import pipeline

    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 20)  # several bulk requests from a small batch
    title, paragraphs = seed_text(0)
    relevant = [
        Page(
            f"https://www.outage-outlet-{n % 7}.com/2024/05/raid-{n}",
            article_html(f"{title} ({n})", [f"Update {n}."] + paragraphs, site_name=f"Outage Outlet {n % 7}",
                         canonical=f"https://www.outage-outlet-{n % 7}.com/2024/05/raid-{n}", published="2024-05-07"),
        )
        for n in range(50)  # three chunks: 20 indexed, then the node stops: 20 + 10 spooled
    ]
    pages = relevant + corpus_pages(5)
    batch = write_batch(settings, TOPIC.name, pages)
    outage, proxied = proxy(cut_at=2)
    with pytest.raises(IndexingError):
        pipeline.process_batch(batch, TOPIC, settings=proxied)
    assert outage.cut.is_set()
    records = [json.loads(line) for line in batch.with_name("processed.jsonl").read_text().splitlines()]
    assert len(records) == len(pages)  # every line accounted for, even after the outage
    outcomes = [r["outcome"] for r in records]
    assert outcomes.count("indexed") == 20 and outcomes.count("spooled") == 30, outcomes
    assert outcomes.count("not_relevant") + outcomes.count("skipped") == 5

    deliver_spool(settings)
    expected = {r["article"]["id"] for r in records if r["outcome"] in ("indexed", "spooled")}
    query = {"ids": {"values": sorted(expected)}}
    assert _count(settings, query) == len(expected) == 50
