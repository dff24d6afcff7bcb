"""The work of each Airflow task, as plain functions over paths and settings.

The DAG files in ``dags/`` only wire these together; everything here runs (and
is tested) without Airflow. Batches move between tasks by path: a crawl writes
``batch.jsonl`` into its own directory under
``<state_dir>/batches/<topic>/<UTC timestamp>/``, and each later stage leaves a
marker file next to it when it has finished with that batch:

- ``summary.json`` (written by the crawler): the crawl finished;
- ``process_report.json``: processed, and every document either indexed or in
  the spool (``processors.indexing``) waiting for Elasticsearch;
- ``alerts.json``: alerts raised for the batch.

A stage always works through *every* batch of its topic that lacks its marker,
oldest first, so a run that failed half-way (crawl killed, Elasticsearch down,
alerting broken) is finished by the next run; nothing depends on the failed
run being retried.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from mediawatch.settings import ConfigError, Settings
from mediawatch.topics import load_topic

log = logging.getLogger(__name__)

BATCH_FILE = "batch.jsonl"
SUMMARY_FILE = "summary.json"
PROCESSED_FILE = "processed.jsonl"
PROCESS_MARKER = "process_report.json"
ALERTS_MARKER = "alerts.json"


class ElasticsearchUnavailable(RuntimeError):
    """Elasticsearch could not be reached; the message says where and what is kept."""


class TopicBusy(RuntimeError):
    """Another run is processing or alerting the same topic's batches."""


def topic_batches_dir(settings: Settings, topic_name: str) -> Path:
    return settings.state_dir / "batches" / topic_name


def new_batch_dir(settings: Settings, topic_name: str) -> Path:
    """A fresh directory for one crawl; the name sorts in crawl order."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = topic_batches_dir(settings, topic_name) / stamp
    path.mkdir(parents=True, exist_ok=False)
    return path


@contextmanager
def topic_lock(settings: Settings, topic_name: str) -> Iterator[None]:
    """Hold the topic's batches for one run's index or alert stage.

    ``max_active_runs=1`` keeps scheduled runs apart, but ``mediawatch run`` may
    start while the scheduler's run is working; the second one stops at once
    (the task fails and retries) rather than processing the same batch twice.
    """
    folder = topic_batches_dir(settings, topic_name)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TopicBusy(
                f"another run is processing topic {topic_name} ({folder}); its batches wait for the next run"
            ) from exc
        yield


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a marker is either complete or absent."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def _batches(settings: Settings, topic_name: str) -> list[Path]:
    return sorted(topic_batches_dir(settings, topic_name).glob(f"*/{BATCH_FILE}"))


def unprocessed_batches(settings: Settings, topic_name: str) -> list[Path]:
    """Complete batches whose documents are not yet indexed or spooled.

    A crawl is complete when it wrote its summary. The pages of a crawl killed
    before that are delivered again by the next crawl (``crawlers.state``), so
    its partial batch is left alone (with its log) rather than processed twice.
    """
    return [
        b
        for b in _batches(settings, topic_name)
        if (b.parent / SUMMARY_FILE).exists() and not (b.parent / PROCESS_MARKER).exists()
    ]


def unalerted_batches(settings: Settings, topic_name: str) -> list[Path]:
    """Processed batches whose alerts have not been raised yet."""
    return [
        b
        for b in _batches(settings, topic_name)
        if (b.parent / PROCESS_MARKER).exists() and not (b.parent / ALERTS_MARKER).exists()
    ]


def allow_private_hosts() -> bool:
    """Whether crawls may fetch private/loopback addresses (local test webs, intranets).

    Off unless ``MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS`` is true: a feed must not
    be able to point the crawler at internal services.
    """
    return (os.environ.get("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS") or "").lower() in {"1", "true", "yes"}


# --- the stages ----------------------------------------------------------------------


def crawl_topic(topic_path: Path, settings: Settings) -> Path:
    """Crawl a topic's sources (Scrapy in a subprocess) into a new batch; returns its path."""
    from crawlers.runner import run_crawl

    topic = load_topic(topic_path)
    out_dir = new_batch_dir(settings, topic.name)
    result = run_crawl(Path(topic_path), out_dir, allow_private_hosts=allow_private_hosts(), settings=settings)
    log.info("crawl of %s: %s", topic.name, json.dumps(result.summary, default=str)[:2000])
    return Path(result.batch_path)


def _ensure_elasticsearch(settings: Settings) -> None:
    """Elasticsearch answers, the aliases exist, and documents spooled by earlier runs are delivered.

    Tasks work with the writer role only: creating templates, aliases and users is
    ``mediawatch setup`` (run by ``mediawatch run``, or a deployment's setup job).
    """
    from elasticsearch import ConnectionError as EsConnectionError

    from mediawatch.es import INDEX_KINDS, client, es_url
    from processors.indexing import IndexingError, deliver_spool

    writer = client("writer", settings)
    try:
        missing = [settings.index_name(k) for k in INDEX_KINDS if not writer.indices.exists_alias(name=settings.index_name(k))]
    except EsConnectionError as exc:
        raise ElasticsearchUnavailable(
            f"Elasticsearch at {es_url(settings)} is unreachable ({exc.__class__.__name__}); crawled "
            "batches are kept and the next run indexes them (local node: `mediawatch es start`)"
        ) from exc
    if missing:
        raise ConfigError(f"{', '.join(missing)} missing at {es_url(settings)}: run `mediawatch setup` first")
    try:
        report = deliver_spool(settings)
    except IndexingError as exc:
        raise ElasticsearchUnavailable(f"{exc} (documents from earlier runs stay in the spool)") from exc
    if report.indexed or report.unchanged or report.spooled or report.dead:
        log.info("spool from earlier runs: %s", report)


def index_topic(topic_path: Path, batch_path: Path, settings: Settings) -> Path:
    """Process and index every unprocessed batch of the topic, ``batch_path`` included.

    Returns the processed file of ``batch_path``. When Elasticsearch fails
    mid-way the documents are in the spool; the batch is marked so it is not
    processed twice, and the task fails so that the run shows it.
    """
    from processors.indexing import IndexingError
    from processors.pipeline import process_batch

    topic = load_topic(topic_path)
    with topic_lock(settings, topic.name):
        _ensure_elasticsearch(settings)
        for batch in unprocessed_batches(settings, topic.name):
            try:
                report = process_batch(batch, topic, settings=settings)
            except IndexingError as exc:
                _write_json(batch.parent / PROCESS_MARKER, {"spooled": True, "error": str(exc)})
                raise ElasticsearchUnavailable(
                    f"indexing {batch} failed: {exc}; its documents are spooled and the next run delivers them"
                ) from exc
            _write_json(batch.parent / PROCESS_MARKER, report.to_dict())
            log.info("processed %s: %s", batch, json.dumps(report.to_dict(), default=str)[:2000])
    return Path(batch_path).with_name(PROCESSED_FILE)


def alert_topic(topic_path: Path, processed_path: Path, settings: Settings) -> Path:
    """Raise alerts for every processed batch of the topic not alerted yet.

    Returns the alerts file of ``processed_path``'s batch.
    """
    from processors.alerts import raise_alerts

    topic = load_topic(topic_path)
    with topic_lock(settings, topic.name):
        for batch in unalerted_batches(settings, topic.name):
            alerts = raise_alerts(batch.with_name(PROCESSED_FILE), topic, settings=settings)
            _write_json(batch.parent / ALERTS_MARKER, alerts)
            log.info("%s: %d alerts", batch.parent.name, len(alerts))
    return Path(processed_path).with_name(ALERTS_MARKER)


def index_seeds(settings: Settings) -> int:
    """Index the seed documents (idempotent: seeds have stable ids); returns how many."""
    from mediawatch import seeds
    from processors.indexing import IndexingError

    _ensure_elasticsearch(settings)
    try:
        report = seeds.index_seeds(settings)
    except IndexingError as exc:
        raise ElasticsearchUnavailable(f"seeds not indexed: {exc}") from exc
    log.info("seeds: %s", json.dumps(report.to_dict(), default=str))
    return report.indexed


def reprocess_archive(settings: Settings) -> Path:
    """Re-extract archived pages into a new versioned index; the alias moves only on success.

    Returns the path of the rebuild's summary (index, counts, dropped pages),
    written beside its processed records.
    """
    from processors.reprocess import reprocess

    _ensure_elasticsearch(settings)
    summary = reprocess(settings)
    path = Path(summary["records"]) / "reprocess_summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, summary)
    return path


# --- accounting ----------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def batch_account(batch_path: Path) -> dict:
    """What happened to one batch, from the files the stages left beside it."""
    folder = batch_path.parent
    return {
        "batch": str(batch_path),
        "crawl": _read_json(folder / SUMMARY_FILE),
        "process": _read_json(folder / PROCESS_MARKER),
        "alerts": _read_json(folder / ALERTS_MARKER),
    }


def describe_batch(account: dict) -> list[str]:
    """Lines for a person: what the crawl found, what could not be reached, what was indexed."""
    crawl, process, alerts = account["crawl"], account["process"], account["alerts"]
    folder = Path(account["batch"]).parent
    if crawl is None:
        return [f"  crawl {folder.name}: did not finish (its log: {folder / 'crawl.log'})"]
    counts = crawl.get("counts", {})
    lines = [
        f"  topic {crawl.get('topic')}: crawl {crawl.get('run_id')}: {crawl.get('candidates', 0)} candidate URLs, "
        f"{counts.get('fetched', 0)} fetched, {counts.get('skipped_seen', 0)} already seen"
    ]
    for kind in ("failed", "refused"):
        if counts.get(kind):
            reasons = ", ".join(f"{reason} {n}" for reason, n in counts[kind].items())
            lines.append(f"    pages {kind}: {reasons}")
    unreachable = crawl.get("unreachable_sources") or []
    if unreachable:
        lines.append(f"    sources that could not be reached ({len(unreachable)}):")
        lines += [f"      {s['id']}: {s['url']} ({s['reason']})" for s in unreachable]
    if process is None:
        lines.append("    not processed yet: the next run processes and indexes it")
    elif process.get("spooled") is True:
        lines.append(f"    indexing failed, documents spooled for the next run: {process.get('error')}")
    else:
        lines.append(
            f"    processed: {process['extracted']} extracted, {process['not_relevant']} not relevant, "
            f"{process['duplicates']} duplicates, {process['indexed']} indexed, {process['spooled']} spooled"
        )
    if alerts is not None:
        lines.append(f"    alerts raised: {len(alerts)}")
    return lines
