"""Bulk indexing of articles, with retries and a disk spool so no document is lost.

Each article is sent as an ``update`` with ``doc`` + ``upsert``: the id comes from
the canonical URL, so a rerun updates the same document (a no-op when nothing
changed), and ``indexed_at`` (first seen by mediawatch) is only set by the upsert,
never overwritten. Documents that still fail after the client's retries are
appended to the spool (``<state>/spool/*.jsonl``) and delivered first by the next
run. A document that keeps failing for a reason retries cannot fix (a mapping
error) moves to ``<state>/spool/dead/`` after ``MAX_ATTEMPTS`` with its reason.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from elasticsearch import Elasticsearch, helpers
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import TransportError

from mediawatch import es as es_access
from mediawatch.documents import to_document
from mediawatch.records import Article
from mediawatch.settings import Settings, load_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class IndexingError(RuntimeError):
    """Elasticsearch could not take the documents; they are spooled, nothing is lost."""


@dataclass
class IndexReport:
    indexed: int = 0          # created or updated
    unchanged: int = 0        # rerun of an identical document
    spooled: int = 0          # kept on disk for the next run
    dead: int = 0             # gave up after MAX_ATTEMPTS (kept on disk with the reason)
    errors: list[str] = field(default_factory=list)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _spool_dir(settings: Settings) -> Path:
    return settings.state_dir / "spool"


def _actions(index: str, docs: Iterable[dict]) -> Iterable[dict]:
    for doc in docs:
        upsert = {**doc, "indexed_at": doc.get("indexed_at") or now_iso()}
        partial = {k: v for k, v in doc.items() if k != "indexed_at"}
        yield {"_op_type": "update", "_index": index, "_id": doc["id"], "doc": partial, "upsert": upsert}


def _append_spool(settings: Settings, entries: list[dict]) -> Path:
    spool = _spool_dir(settings)
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"pending-{time.time_ns()}-{os.getpid()}.jsonl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)  # a spool file is either complete or absent
    return path


def _send(es: Elasticsearch, index: str, entries: list[dict], report: IndexReport, refresh: bool) -> list[dict]:
    """Bulk-send spool entries ({doc, attempts, reason}); returns those that failed."""
    by_id = {entry["doc"]["id"]: entry for entry in entries}
    failed: list[dict] = []
    for ok, item in helpers.streaming_bulk(
        es,
        _actions(index, (entry["doc"] for entry in entries)),
        max_retries=3,
        initial_backoff=1,
        raise_on_error=False,
        raise_on_exception=False,
        chunk_size=200,
        refresh="wait_for" if refresh else False,
    ):
        result = item.get("update", {})
        if ok:
            if result.get("result") == "noop":
                report.unchanged += 1
            else:
                report.indexed += 1
            continue
        entry = by_id[result.get("_id")]
        reason = json.dumps(result.get("error") or result.get("exception") or result)[:500]
        failed.append({**entry, "attempts": entry["attempts"] + 1, "reason": reason})
    return failed


def _settle(settings: Settings, failed: list[dict], report: IndexReport) -> None:
    retry = [entry for entry in failed if entry["attempts"] < MAX_ATTEMPTS]
    dead = [entry for entry in failed if entry["attempts"] >= MAX_ATTEMPTS]
    if retry:
        path = _append_spool(settings, retry)
        report.spooled += len(retry)
        log.warning("%d documents could not be indexed; spooled to %s for the next run", len(retry), path)
    if dead:
        dead_dir = _spool_dir(settings) / "dead"
        dead_dir.mkdir(parents=True, exist_ok=True)
        with (dead_dir / "dead.jsonl").open("a", encoding="utf-8") as handle:
            for entry in dead:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                log.error("giving up on document %s after %d attempts: %s", entry["doc"]["id"], entry["attempts"], entry["reason"])
        report.dead += len(dead)
    report.errors.extend(entry["reason"] for entry in failed[:10])


def _index_entries(
    settings: Settings, entries: list[dict], report: IndexReport, es: Elasticsearch | None, refresh: bool = False
) -> None:
    if not entries:
        return
    try:
        es = es or es_access.client("writer", settings)
        failed = _send(es, settings.index_name("articles"), entries, report, refresh)
    except (EsConnectionError, TransportError) as exc:
        # The cluster is unreachable as a whole: keep everything for the next run.
        failed = [{**entry, "attempts": entry["attempts"] + 1, "reason": f"Elasticsearch unreachable: {exc}"} for entry in entries]
        _settle(settings, failed, report)
        raise IndexingError(
            f"Elasticsearch at {es_access.es_url(settings)} is unreachable ({exc.__class__.__name__}); "
            f"{report.spooled} documents spooled under {_spool_dir(settings)} for the next run"
        ) from exc
    _settle(settings, failed, report)


def deliver_spool(settings: Settings | None = None, es: Elasticsearch | None = None) -> IndexReport:
    """Send documents left by earlier runs. Spool files are removed only once handled."""
    settings = settings or load_settings()
    report = IndexReport()
    spool = _spool_dir(settings)
    # *.delivering: files claimed by a run that crashed before settling them.
    for path in sorted([*spool.glob("pending-*.delivering"), *spool.glob("pending-*.jsonl")]):
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        # Claim the file first: if delivery fails, _settle writes a fresh spool file and
        # this one must not be delivered twice.
        claimed = path.with_suffix(".delivering")
        path.replace(claimed)
        try:
            _index_entries(settings, entries, report, es)
        except IndexingError:
            claimed.unlink()
            raise
        claimed.unlink()
    if report.indexed or report.unchanged:
        log.info("delivered %d spooled documents", report.indexed + report.unchanged)
    return report


def index_articles(
    articles: Iterable[Article],
    settings: Settings | None = None,
    es: Elasticsearch | None = None,
    *,
    refresh: bool = False,
) -> IndexReport:
    """Deliver the spool, then index ``articles``; raise IndexingError if the cluster is down.

    ``refresh``: wait until the documents are searchable before returning.
    """
    settings = settings or load_settings()
    report = deliver_spool(settings, es)
    entries = [{"doc": to_document(article), "attempts": 0, "reason": ""} for article in articles]
    _index_entries(settings, entries, report, es, refresh)
    return report
