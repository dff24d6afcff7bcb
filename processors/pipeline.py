"""The processing pipeline: crawl batch -> extracted, assessed, deduplicated, claim-tagged, indexed.

Per page, in worker processes (extraction is CPU bound, so every core gets one):
read the response from the WARC archive -> extract -> outlet -> language ->
relevance -> claims. In the main process, in order: deduplication (its state is
one SQLite database) and bulk indexing, a chunk at a time, so memory stays flat
however long the batch is.

Every non-blank line of the batch gets one record in ``processed.jsonl`` beside it, with
its outcome and, for anything not indexed, the reason:

- ``indexed``: in Elasticsearch (``spooled``: in the disk spool, delivered by the
  next run; ``failed``: given up after repeated rejections, kept under
  ``spool/dead/`` with the reason);
- ``not_relevant``: extracted, not about the topic (the relevance reason);
- ``duplicate``: the same canonical URL as an earlier line of this batch;
- ``skipped``: not fetched by the crawler, not in the archive, nothing to
  extract (empty, binary, undecodable), or an unexpected error on that page.

The file is written next to the batch under a temporary name and renamed when
complete. Alerts are raised from it afterwards (``processors.alerts``).
"""

from __future__ import annotations

import collections
import json
import logging
import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from elasticsearch import Elasticsearch

from crawlers.archive import read_response
from crawlers.settings import MEDIAWATCH_TRACKING_PARAMS as CRAWL_TRACKING_PARAMS
from crawlers.urls import page_identity
from mediawatch import es as es_access
from mediawatch.documents import article_id
from mediawatch.records import Article, FetchedPage
from mediawatch.settings import ConfigError, Settings, load_settings
from mediawatch.topics import Topic
from processors.claims import match_claims
from processors.dedup import DuplicateIndex
from processors.extract import ExtractionError, extract_article
from processors.indexing import IndexingError, deliver_spool, index_into, send_articles, spool, update_fields
from processors.language import detect_language
from processors.outlet import outlet_of
from processors.prefilter import cannot_be_relevant
from processors.relevance import assess_relevance

log = logging.getLogger(__name__)

PROCESSED_FILE = "processed.jsonl"
WORKERS_ENV = "MEDIAWATCH_PROCESS_WORKERS"
PREFILTER_ENV = "MEDIAWATCH_PREFILTER"  # "0" extracts every page, even those without a topic term
# Articles deduplicated and indexed together: one bulk request, one write of records.
CHUNK_SIZE = 100
# Pages handed to the workers ahead of the one being collected. Results are
# collected in batch order, so one slow page (the extractor's date search can
# take over 10 s in a fresh process) holds up collection: a deep queue keeps the
# other workers busy meanwhile, while still bounding memory (tens of MB of
# extracted text at most).
PAGES_AHEAD_PER_WORKER = 256
# Content types that are never pages, whatever the body looks like.
NON_PAGE_TYPES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip", "application/octet-stream")
# Fields of an article kept in its processed record (enough for alerts and audits).
RECORD_FIELDS = (
    "id", "url", "canonical_url", "outlet", "outlet_name", "title", "published_at", "language",
    "relevance_score", "relevance_terms", "claims", "duplicate_group", "is_original", "source_type",
)


@dataclass
class ProcessReport:
    lines: int = 0          # records in processed.jsonl (one per input line or article)
    fetched: int = 0        # lines whose page the crawler fetched
    extracted: int = 0
    not_relevant: int = 0
    duplicates: int = 0     # copies of another article (same canonical URL or near-duplicate text)
    indexed: int = 0
    spooled: int = 0
    failed: int = 0         # given up on by the indexer (spool/dead)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    alerts: int = 0
    processed_path: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PageResult:
    """What the per-page stages made of one batch line."""

    line: int
    url: str
    outcome: str            # relevant | not_relevant | skipped
    reason: str = ""
    article: Article | None = None
    fetched: bool = True    # the crawler fetched the page (False: its line records a crawl failure)


# --- per-article stages (pure, run in the workers) -------------------------------------


def enrich(article: Article, topic: Topic) -> Article:
    """Id, outlet, language, topic and word count: what every article gets, crawled or seed."""
    address = article.canonical_url or article.url
    article.id = article.id or article_id(address)
    if not article.outlet:
        article.outlet, name = outlet_of(address, article.outlet_name)
        article.outlet_name = article.outlet_name or name
    if not article.language:
        article.language, article.language_probability = detect_language(article.text, article.declared_language)
    article.topic = topic.name
    if article.word_count is None:
        article.word_count = len(article.text.split())
    return article


def _describe(exc: Exception) -> str:
    """A short, printable reason (messages may quote the junk bytes that caused them)."""
    detail = str(exc)[:120].encode("ascii", "backslashreplace").decode("ascii")
    return f"{exc.__class__.__name__}: {detail}"


def _skip_reason_for_page(page: FetchedPage) -> str | None:
    if not page.warc_file or page.warc_offset is None:
        return "no archived response"
    content_type = (page.content_type or "").lower()
    if content_type.startswith(NON_PAGE_TYPES):
        return f"not a web page ({content_type.split(';')[0]})"
    return None


def analyse_page(line: int, page: FetchedPage, topic: Topic, state_dir: Path, *, prefilter: bool = True) -> PageResult:
    """Archive -> (prefilter) -> extract -> outlet -> language -> relevance -> claims for one batch line."""
    url = page.final_url or page.url
    if page.outcome != "fetched":
        reason = f"crawl {page.outcome}" + (f": {page.reason}" if page.reason else "")
        return PageResult(line, page.url, "skipped", reason, fetched=False)
    reason = _skip_reason_for_page(page)
    if reason:
        return PageResult(line, page.url, "skipped", reason)
    try:
        response = read_response(state_dir, page.warc_file, page.warc_offset)
    except Exception as exc:  # a missing file, a bad offset, a truncated or foreign record: all unreadable
        return PageResult(line, page.url, "skipped", f"archive unreadable: {_describe(exc)}")
    if prefilter and (reason := cannot_be_relevant(response.body, page.encoding, topic)):
        return PageResult(line, page.url, "not_relevant", reason)
    try:
        article = extract_article(response.body, url, encoding=page.encoding)
    except ExtractionError as exc:
        return PageResult(line, page.url, "skipped", f"extraction: {exc.reason}")
    # The crawler's rule for the page's identity (id, outlet), with the crawl's tracking parameters:
    # a declared canonical counts only on the page's own site, so a syndication partner naming the
    # original keeps its own id and outlet.
    article.canonical_url = page_identity(article.canonical_url, page.canonical_url or url, CRAWL_TRACKING_PARAMS)
    article.fetched_at = page.fetched_at
    article.source_id = page.source_id
    article.source_kind = page.source_kind
    article.discovery_path = list(page.discovery_path)
    article.warc_file = page.warc_file
    article.warc_offset = page.warc_offset
    article.html = None  # archived in the WARC; not carried further
    enrich(article, topic)
    relevance = assess_relevance(article, topic)
    article.relevance_score = relevance.score
    article.relevance_terms = list(relevance.terms)
    if not relevance.relevant:
        return PageResult(line, page.url, "not_relevant", relevance.reason, article)
    article.claims = match_claims(article, topic)
    return PageResult(line, page.url, "relevant", "", article)


# --- workers --------------------------------------------------------------------------

_worker_context: dict = {}


def _init_worker(topic: Topic, state_dir: Path, prefilter: bool) -> None:
    _worker_context.update(topic=topic, state_dir=state_dir, prefilter=prefilter)


def _analyse_in_worker(item: tuple[int, dict | str]) -> PageResult:
    line, raw = item
    try:
        page = FetchedPage.from_dict(raw) if isinstance(raw, dict) else None
        if page is None:
            return PageResult(line, "", "skipped", f"unreadable batch line: {raw}", fetched=False)
        context = _worker_context
        return analyse_page(line, page, context["topic"], context["state_dir"], prefilter=context["prefilter"])
    except Exception as exc:  # one bad page must not stop the batch; the traceback goes to the log
        log.error("line %d: unexpected error\n%s", line, traceback.format_exc())
        url = raw.get("url", "") if isinstance(raw, dict) else ""
        return PageResult(line, url, "skipped", f"unexpected error: {_describe(exc)}")


def prefilter_enabled() -> bool:
    return (os.environ.get(PREFILTER_ENV) or "1").lower() not in {"0", "false", "no", "off"}


def worker_count() -> int:
    value = os.environ.get(WORKERS_ENV) or str(os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError as exc:
        raise ConfigError(f"{WORKERS_ENV}={value!r} is not a number") from exc
    if count < 1:
        raise ConfigError(f"{WORKERS_ENV} must be at least 1")
    return count


def _batch_lines(batch_path: Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, FetchedPage dict) per line; a line that is not a JSON object comes as its text."""
    with batch_path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, f"invalid JSON ({exc.msg})"
                continue
            yield number, data if isinstance(data, dict) else "not a JSON object"


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- deduplication and indexing (main process) -----------------------------------------


def _record(result: PageResult, outcome: str, reason: str) -> dict:
    article = result.article
    summary = None
    if article is not None:
        data = article.to_dict()
        summary = {name: data[name] for name in RECORD_FIELDS}
    return {"line": result.line, "url": result.url, "outcome": outcome, "reason": reason, "article": summary}


class ChunkIndexer:
    """Deduplicates and indexes chunks of results; after the cluster fails once, spools the rest.

    ``rebuild_index``: a concrete index being rebuilt (reprocessing) instead of
    the alias: no spool (any failure raises), and original flags of documents
    written earlier in the rebuild are corrected at the end (``finish``).
    """

    def __init__(
        self,
        settings: Settings,
        dedup: DuplicateIndex,
        report: ProcessReport,
        es: Elasticsearch,
        rebuild_index: str | None = None,
    ):
        self.settings = settings
        self.dedup = dedup
        self.report = report
        self.es = es
        self.rebuild_index = rebuild_index
        self.unreachable: IndexingError | None = None
        self.lines_of_id: dict[str, int] = {}  # ids seen in this input -> first line
        self.written: set[str] = set()  # rebuild: ids in the new index
        self.deferred: dict[str, dict] = {}  # rebuild: field updates applied by finish()

    def start(self) -> None:
        """Deliver what earlier runs left in the spool (before this run's documents)."""
        if self.rebuild_index:
            return  # the spool belongs to the live alias
        try:
            deliver_spool(self.settings, self.es)
        except IndexingError as exc:
            self._went_down(exc)

    def _went_down(self, exc: IndexingError) -> None:
        if self.unreachable is None:
            log.error("%s; the rest of this run goes to the spool", exc)
        self.unreachable = exc

    def handle(self, results: list[PageResult]) -> list[dict]:
        """Dedup + index one chunk; returns its processed records, in input order."""
        records: dict[int, dict] = {}
        to_index: dict[str, tuple[PageResult, Article]] = {}
        updates: dict[str, dict] = {}
        for position, result in enumerate(results):
            self.report.fetched += result.fetched
            if result.outcome == "skipped":
                self.report.skip(result.reason)
                records[position] = _record(result, "skipped", result.reason)
                continue
            self.report.extracted += result.article is not None
            if result.outcome == "not_relevant":
                self.report.not_relevant += 1
                records[position] = _record(result, "not_relevant", result.reason)
                continue
            article = result.article
            first_line = self.lines_of_id.setdefault(article.id, result.line)
            if first_line != result.line:
                self.report.duplicates += 1
                records[position] = _record(result, "duplicate", f"same canonical URL as line {first_line}")
                continue
            self.dedup.assign(article)
            self.deferred.pop(article.id, None)  # its own document carries its current flag
            if article.is_original is False:
                self.report.duplicates += 1
            self._flip_originals(article, to_index, updates)
            to_index[article.id] = (result, article)
        outcomes = self._index([article for _, article in to_index.values()], updates)
        for position, result in enumerate(results):
            if position not in records:
                outcome, reason = outcomes[result.article.id]
                records[position] = _record(result, outcome, reason)
        return [records[position] for position in range(len(results))]

    def _flip_originals(self, article: Article, to_index: dict, updates: dict[str, dict]) -> None:
        """An older copy turned up: the articles whose original flag changed follow."""
        if not self.dedup.changed_originals:
            return
        original = self.dedup.group_members(article.duplicate_group)[0]
        for key in self.dedup.changed_originals:
            if key in to_index:
                to_index[key][1].is_original = key == original
            else:
                updates[key] = {"is_original": key == original}

    def _index(self, articles: list[Article], updates: dict[str, dict]) -> dict[str, tuple[str, str]]:
        """Index the chunk; (outcome, reason) per article id."""
        if self.rebuild_index:
            index_into(self.rebuild_index, self.es, articles)  # raises on any failure: the rebuild is abandoned
            self.written.update(article.id for article in articles)
            self.deferred.update(updates)
            self.report.indexed += len(articles)
            return {article.id: ("indexed", "") for article in articles}
        sent = None
        if self.unreachable is None:
            try:
                sent = send_articles(articles, self.settings, self.es)
                if updates:
                    update_fields(updates, self.settings, self.es)
            except IndexingError as exc:
                self._went_down(exc)
                if sent is None:
                    sent = exc.report
                    spool(self.settings, str(exc), updates=updates)
        if sent is None:  # down since an earlier chunk: do not wait on it again
            sent = spool(self.settings, f"Elasticsearch unreachable: {self.unreachable}", articles, updates)
        spooled, dead = set(sent.spooled_ids), set(sent.dead_ids)
        outcomes = {}
        for article in articles:
            if article.id in dead:
                outcomes[article.id] = ("failed", "rejected by Elasticsearch after repeated attempts; kept in spool/dead")
                self.report.failed += 1
            elif article.id in spooled:
                outcomes[article.id] = ("spooled", "not indexed yet: in the spool for the next run")
                self.report.spooled += 1
            else:
                outcomes[article.id] = ("indexed", "")
                self.report.indexed += 1
        return outcomes

    def finish(self) -> None:
        deferred = {key: fields for key, fields in self.deferred.items() if key in self.written}
        if self.rebuild_index and deferred:
            index_into(self.rebuild_index, self.es, updates=deferred)


class _RecordWriter:
    """``processed.jsonl``, written under a temporary name and renamed once complete."""

    def __init__(self, path: Path, report: ProcessReport):
        self.path = path
        self.report = report
        self._tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self._tmp.open("w", encoding="utf-8")

    def write(self, records: list[dict]) -> None:
        for record in records:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.report.lines += len(records)

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._tmp.replace(self.path)


def record_run(results: Iterable[PageResult], indexer: "ChunkIndexer", processed_path: Path) -> None:
    """Dedup, index and record one input (a batch, a list of articles) into ``processed_path``."""
    indexer.report.processed_path = str(processed_path)
    indexer.lines_of_id.clear()
    writer = _RecordWriter(processed_path, indexer.report)
    for chunk in _chunks(results, CHUNK_SIZE):
        writer.write(indexer.handle(chunk))
    writer.close()


def _run(
    results: Iterable[PageResult], settings: Settings, processed_path: Path, report: ProcessReport, es: Elasticsearch | None
) -> ProcessReport:
    """Dedup, index and record ``results``; raise IndexingError at the end if the cluster was down."""
    es = es or es_access.client("writer", settings)
    with DuplicateIndex(settings.state_dir) as dedup:
        indexer = ChunkIndexer(settings, dedup, report, es)
        indexer.start()
        record_run(results, indexer, processed_path)
    if indexer.unreachable is not None:
        raise IndexingError(
            f"{indexer.unreachable}; {report.spooled} documents of this run are in the spool "
            f"(records: {processed_path})",
            indexer.unreachable.report,
        )
    return report


def _crashed(item: tuple[int, dict | str]) -> PageResult:
    line, raw = item
    url = raw.get("url", "") if isinstance(raw, dict) else ""
    log.error("line %d (%s): the worker process died on this page", line, url)
    return PageResult(line, url, "skipped", "worker process died on this page (crash or out of memory)")


class _WorkerPool:
    """Pages through a pool of worker processes, in batch order, with bounded look-ahead.

    A worker that dies (a segfault in a parser, the OOM killer on a huge page)
    breaks the whole pool and fails every page in flight. The pool is then
    restarted and those pages are retried one at a time: the page that kills a
    worker again is recorded as skipped, the others go through.
    """

    def __init__(self, workers: int, topic: Topic, state_dir: Path):
        self.workers = workers
        self.initargs = (topic, state_dir, prefilter_enabled())
        self.ahead = workers * PAGES_AHEAD_PER_WORKER

    def _start(self) -> ProcessPoolExecutor:
        # fork: the workers start with the parent's modules (trafilatura, lxml) already loaded.
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=self.initargs)

    def map(self, items: Iterator[tuple[int, dict | str]]) -> Iterator[PageResult]:
        suspects: collections.deque = collections.deque()  # in flight when a worker died
        while True:
            pool = self._start()
            in_flight: collections.deque = collections.deque()
            try:
                while suspects:
                    item = suspects[0]
                    try:
                        result = pool.submit(_analyse_in_worker, item).result()
                    except BrokenProcessPool:
                        suspects.popleft()
                        yield _crashed(item)
                        raise
                    suspects.popleft()
                    yield result
                while True:
                    while len(in_flight) < self.ahead and (item := next(items, None)) is not None:
                        in_flight.append((item, pool.submit(_analyse_in_worker, item)))
                    if not in_flight:
                        return
                    result = in_flight[0][1].result()
                    in_flight.popleft()
                    yield result
            except BrokenProcessPool:
                log.warning("a worker process died; retrying the %d pages in flight one by one", len(in_flight))
                suspects.extend(item for item, _ in in_flight)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


def analyse_batch(batch_path: Path, topic: Topic, settings: Settings) -> Iterator[PageResult]:
    """Per-page results of a batch, in order, computed by a pool of worker processes."""
    yield from _WorkerPool(worker_count(), topic, settings.state_dir).map(_batch_lines(batch_path))


def process_batch(
    batch_path: Path, topic: Topic, *, settings: Settings | None = None, es: Elasticsearch | None = None
) -> ProcessReport:
    """Run every stage on a crawl batch and index it; ``processed.jsonl`` is written beside it.

    Raises IndexingError (after spooling, and after writing the records) if
    Elasticsearch could not be reached.
    """
    settings = settings or load_settings()
    batch_path = Path(batch_path)
    report = ProcessReport()
    _run(analyse_batch(batch_path, topic, settings), settings, batch_path.with_name(PROCESSED_FILE), report, es)
    log.info("processed %s: %s", batch_path, json.dumps(report.to_dict()))
    return report


def assess_articles(articles: list[Article], topic: Topic) -> list[PageResult]:
    """Per-article stages for already-extracted articles (no relevance: people chose them)."""
    results = []
    for position, article in enumerate(articles, start=1):
        enrich(article, topic)
        article.claims = match_claims(article, topic)
        results.append(PageResult(position, article.url, "relevant", "", article, fetched=False))
    return results


def articles_dir(settings: Settings) -> Path:
    """Where runs over already-extracted articles (the seeds) keep their processed records."""
    return settings.state_dir / "articles"


def process_articles(
    articles: list[Article], topic: Topic, *, settings: Settings | None = None, es: Elasticsearch | None = None
) -> ProcessReport:
    """Outlet, language, dedup, claims, indexing and alerts for already-extracted articles (the seeds).

    Relevance is not assessed: these articles were chosen by people. The records
    go to ``<state>/articles/<UTC time>/processed.jsonl``.
    """
    from processors.alerts import raise_alerts

    settings = settings or load_settings()
    results = assess_articles(articles, topic)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    report = ProcessReport()
    processed_path = articles_dir(settings) / stamp / PROCESSED_FILE
    _run(results, settings, processed_path, report, es)
    report.alerts = len(raise_alerts(processed_path, topic, settings=settings, es=es))
    return report
