"""Bulk indexing of articles, with retries and a disk spool so no document is lost.

Each article is sent as an ``update`` with ``doc`` + ``upsert``: the id comes from
the canonical URL, so a rerun updates the same document (a no-op when nothing
changed), and ``indexed_at`` (first seen by mediawatch) is only set by the upsert,
never overwritten. Documents that still fail after the client's retries are
appended to the spool (``<state>/spool/*.jsonl``) and delivered first by the next
run. A document that keeps failing for a reason retries cannot fix (a mapping
error) moves to ``<state>/spool/dead/`` after ``MAX_ATTEMPTS`` with its reason.

Field updates of documents indexed earlier (``update_fields``: an older copy
turned up, so another article stopped being its group's original) go through
the same spool, as partial updates without upsert. Spool files are delivered in
the order they were written, so an update never overtakes its document.
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

from mediawatch.errors import OperationalError
from mediawatch import es as es_access
from mediawatch.documents import to_document
from mediawatch.records import Article
from mediawatch.settings import Settings, load_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class IndexingError(OperationalError):
    """Elasticsearch could not take the documents; they are spooled, nothing is lost.

    ``report`` says what the failed call did before (indexed, spooled ids).
    """

    def __init__(self, message: str, report: "IndexReport | None" = None):
        super().__init__(message)
        self.report = report


@dataclass
class IndexReport:
    indexed: int = 0          # created or updated
    unchanged: int = 0        # rerun of an identical document
    spooled: int = 0          # kept on disk for the next run
    dead: int = 0             # gave up after MAX_ATTEMPTS (kept on disk with the reason)
    errors: list[str] = field(default_factory=list)
    spooled_ids: list[str] = field(default_factory=list)
    dead_ids: list[str] = field(default_factory=list)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _spool_dir(settings: Settings) -> Path:
    return settings.state_dir / "spool"


def _actions(index: str, entries: Iterable[dict]) -> Iterable[dict]:
    for entry in entries:
        doc = entry["doc"]
        if entry.get("partial"):
            # Fields of a document indexed earlier: never create a stub document.
            yield {"_op_type": "update", "_index": index, "_id": doc["id"], "doc": doc}
            continue
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


def _send(es: Elasticsearch, index: str, entries: list[dict], report: IndexReport, refresh: bool) -> tuple[list[dict], Exception | None]:
    """Bulk-send spool entries ({doc, attempts, reason}).

    Returns the entries that failed, and the exception if the cluster became
    unreachable part-way (then every entry not yet acknowledged is among the
    failed: those acknowledged before are indexed and not sent again).
    """
    # Items retried after a 429 come back out of order, so results are matched by
    # id; an id can occur twice (a document, then a field update of it).
    unacknowledged: dict[str, list[dict]] = {}
    for entry in entries:
        unacknowledged.setdefault(entry["doc"]["id"], []).append(entry)
    failed: list[dict] = []
    try:
        for ok, item in helpers.streaming_bulk(
            es,
            _actions(index, entries),
            max_retries=3,
            initial_backoff=1,
            raise_on_error=False,
            raise_on_exception=False,
            chunk_size=200,
            refresh="wait_for" if refresh else False,
        ):
            result = item.get("update", {})
            entry = unacknowledged[result.get("_id")].pop(0)
            if ok:
                if result.get("result") == "noop":
                    report.unchanged += 1
                else:
                    report.indexed += 1
                continue
            reason = json.dumps(result.get("error") or result.get("exception") or result)[:500]
            failed.append({**entry, "attempts": entry["attempts"] + 1, "reason": reason})
    except (EsConnectionError, TransportError) as exc:
        # A cluster that is down is no fault of the documents: their attempts do not count.
        reason = f"Elasticsearch unreachable: {exc}"
        failed += [{**entry, "reason": reason} for pending in unacknowledged.values() for entry in pending]
        return failed, exc
    return failed, None


def _append_dead(settings: Settings, entries: list[dict]) -> None:
    """Dead letters: kept on disk with their reason, never retried automatically."""
    dead_dir = _spool_dir(settings) / "dead"
    dead_dir.mkdir(parents=True, exist_ok=True)
    with (dead_dir / "dead.jsonl").open("a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _settle(settings: Settings, failed: list[dict], report: IndexReport) -> None:
    retry = [entry for entry in failed if entry["attempts"] < MAX_ATTEMPTS]
    dead = [entry for entry in failed if entry["attempts"] >= MAX_ATTEMPTS]
    if retry:
        path = _append_spool(settings, retry)
        report.spooled += len(retry)
        report.spooled_ids.extend(entry["doc"]["id"] for entry in retry)
        log.warning("%d documents could not be indexed; spooled to %s for the next run", len(retry), path)
    if dead:
        for entry in dead:
            log.error("giving up on document %s after %d attempts: %s", entry["doc"]["id"], entry["attempts"], entry["reason"])
        _append_dead(settings, dead)
        report.dead += len(dead)
        report.dead_ids.extend(entry["doc"]["id"] for entry in dead)
    report.errors.extend(entry["reason"] for entry in failed[:10])


def _unreachable(settings: Settings, exc: Exception, report: IndexReport) -> IndexingError:
    return IndexingError(
        f"Elasticsearch at {es_access.es_url(settings)} is unreachable ({exc.__class__.__name__}); "
        f"{report.spooled} documents spooled under {_spool_dir(settings)} for the next run",
        report,
    )


def _index_entries(
    settings: Settings, entries: list[dict], report: IndexReport, es: Elasticsearch | None, refresh: bool = False
) -> None:
    if not entries:
        return
    es = es or es_access.client("writer", settings)
    failed, unreachable = _send(es, settings.index_name("articles"), entries, report, refresh)
    _settle(settings, failed, report)
    if unreachable is not None:
        raise _unreachable(settings, unreachable, report) from unreachable


def _read_spool_file(settings: Settings, path: Path, report: IndexReport) -> list[dict]:
    """The entries of a spool file; a line that does not parse (a disk fault, a hand edit)
    goes to the dead letters with its reason instead of blocking the spool for good."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            reason = f"unreadable spool line {path.name}:{number}: {exc}"
            log.error("%s", reason)
            _append_dead(settings, [{"raw": line, "attempts": 0, "reason": reason}])
            report.dead += 1
    return entries


def deliver_spool(settings: Settings | None = None, es: Elasticsearch | None = None) -> IndexReport:
    """Send documents left by earlier runs. Spool files are removed only once handled."""
    settings = settings or load_settings()
    report = IndexReport()
    spool = _spool_dir(settings)
    # *.delivering: files claimed by a run that crashed before settling them.
    for path in sorted([*spool.glob("pending-*.delivering"), *spool.glob("pending-*.jsonl")]):
        entries = _read_spool_file(settings, path, report)
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


def _entries(articles: Iterable[Article]) -> list[dict]:
    return [{"doc": to_document(article), "attempts": 0, "reason": ""} for article in articles]


def _update_entries(updates: dict[str, dict]) -> list[dict]:
    return [{"doc": {**fields, "id": doc_id}, "partial": True, "attempts": 0, "reason": ""} for doc_id, fields in updates.items()]


def send_articles(
    articles: Iterable[Article], settings: Settings, es: Elasticsearch | None = None, *, refresh: bool = False
) -> IndexReport:
    """Index ``articles`` (failures spooled); raise IndexingError if the cluster is down."""
    report = IndexReport()
    _index_entries(settings, _entries(articles), report, es, refresh)
    return report


def update_fields(
    updates: dict[str, dict], settings: Settings, es: Elasticsearch | None = None, *, refresh: bool = False
) -> IndexReport:
    """Set fields of documents indexed earlier ({id: {field: value}}), spooled like documents."""
    report = IndexReport()
    _index_entries(settings, _update_entries(updates), report, es, refresh)
    return report


def spool(
    settings: Settings, reason: str, articles: Iterable[Article] = (), updates: dict[str, dict] | None = None
) -> IndexReport:
    """Put articles and field updates straight into the spool (the cluster is known to be down)."""
    report = IndexReport()
    entries = _entries(articles) + _update_entries(updates or {})
    if entries:
        _settle(settings, [{**entry, "reason": reason} for entry in entries], report)
    return report


def index_into(
    index: str,
    es: Elasticsearch,
    articles: Iterable[Article] = (),
    updates: dict[str, dict] | None = None,
    *,
    refresh: bool = False,
) -> IndexReport:
    """Index articles and field updates into one concrete index, with no spool: any failure raises.

    For rebuilding an index (``processors.reprocess``), where a partial result is
    thrown away rather than completed later.
    """
    report = IndexReport()
    failed, unreachable = _send(es, index, _entries(articles) + _update_entries(updates or {}), report, refresh)
    if unreachable is not None or failed:
        reasons = [entry["reason"] for entry in failed[:3]]
        raise IndexingError(f"{len(failed)} documents could not be indexed into {index}: {reasons}") from unreachable
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
    _index_entries(settings, _entries(articles), report, es, refresh)
    return report
