"""Reprocessing: rebuild the articles index from the WARC archive and the seeds.

After an extractor, vocabulary or mapping change, every archived page is
re-extracted (nothing is fetched again) and, with the seeds, indexed into a new
concrete index ``<alias>-v<template version>-<UTC time>``. The alias moves to it
in one atomic step only when the rebuild succeeded: until then searches keep
using the old index, and if anything fails the new index is deleted and the
alias is left alone.

A rebuild fails when a page that was indexed before cannot be read back from the
archive or hits an unexpected error: switching would lose it. Pages that the new
extraction or relevance stage legitimately refuses are reported as ``dropped``.

Documents first indexed into the live index while the rebuild ran (a monitor
run) are copied into the new index just before the switch.

The index just retired is kept (to compare, or to switch back); indices retired
by earlier rebuilds are deleted. ``indexed_at`` (first seen) is carried over
from the old index; duplicate groups come from the persistent duplicate index,
so their ids do not change. New (claim, outlet) carriers found by the new
extraction raise alerts once the alias has moved. Rerunning with unchanged
code and data gives the same documents (ids, counts, fields).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from elasticsearch import Elasticsearch, NotFoundError, helpers

from mediawatch.errors import OperationalError
from mediawatch import es as es_access
from mediawatch.seeds import SEED_TOPIC, load_seed_articles
from mediawatch.settings import ConfigError, Settings, load_settings
from mediawatch.topics import load_topic
from processors.alerts import raise_alerts
from processors.dedup import DuplicateIndex
from processors.pipeline import (
    PROCESSED_FILE,
    ChunkIndexer,
    PageResult,
    ProcessReport,
    analyse_batch,
    assess_articles,
    record_run,
)

log = logging.getLogger(__name__)

BATCH_FILE = "batch.jsonl"
# Outcomes that mean the page itself could not be processed, not that it was judged.
LOSS_REASONS = ("archive unreadable", "unexpected error", "worker process died")


class ReprocessError(OperationalError):
    """The rebuild failed; the alias still points at the old index, which is untouched."""


def archived_batches(settings: Settings) -> list[tuple[str, Path]]:
    """(topic name, batch path) of every crawl batch in the state directory, oldest first."""
    batches = settings.state_dir / "batches"
    return [(path.parent.parent.name, path) for path in sorted(batches.glob(f"*/*/{BATCH_FILE}"), key=lambda p: p.parent.name)]


def _previous_outcomes(batch_path: Path) -> dict[int, str]:
    processed = batch_path.with_name(PROCESSED_FILE)
    if not processed.exists():
        return {}
    outcomes = {}
    with processed.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                outcomes[record["line"]] = record["outcome"]
    return outcomes


def _checked(results, previous: dict[int, str], batch_path: Path, losses: list[str]):
    """Pass results through, noting pages indexed before that could not be processed now."""
    for result in results:
        if (
            result.outcome == "skipped"
            and result.reason.startswith(LOSS_REASONS)
            and previous.get(result.line) in ("indexed", "spooled")
        ):
            losses.append(f"{batch_path}:{result.line} {result.url}: {result.reason}")
        yield result


def _first_seen(es: Elasticsearch, alias: str) -> dict[str, str]:
    """id -> indexed_at of every document behind the alias."""
    return {
        hit["_id"]: hit["_source"].get("indexed_at")
        for hit in helpers.scan(es, index=alias, query={"query": {"match_all": {}}}, _source=["indexed_at"])
    }


def _carry_first_seen(results, first_seen: dict[str, str]):
    for result in results:
        if result.article is not None and result.article.id in first_seen:
            result.article.indexed_at = first_seen[result.article.id]
        yield result


def _ids(es: Elasticsearch, index: str) -> set[str]:
    return {hit["_id"] for hit in helpers.scan(es, index=index, query={"query": {"match_all": {}}}, _source=False)}


def _carry_new_arrivals(es: Elasticsearch, live: list[str], new_index: str, since: str) -> int:
    """Copy documents first indexed into the live index while the rebuild ran (a monitor run).

    They come from batches the rebuild may not have read; documents the rebuild
    wrote itself are kept (``create`` does not overwrite them).
    """
    query = {"query": {"range": {"indexed_at": {"gte": since}}}}
    actions = (
        {"_op_type": "create", "_index": new_index, "_id": hit["_id"], "_source": hit["_source"]}
        for hit in helpers.scan(es, index=",".join(live), query=query)
    )
    copied = 0
    for ok, item in helpers.streaming_bulk(es, actions, raise_on_error=False, refresh="wait_for"):
        result = item["create"]
        if ok:
            copied += 1
        elif result.get("status") != 409:
            raise ReprocessError(f"could not carry document {result.get('_id')} over to {new_index}: {result.get('error')}")
    return copied


def reprocess(settings: Settings | None = None, *, es: Elasticsearch | None = None) -> dict:
    """Rebuild the articles index from the archive and the seeds; switch the alias on success."""
    settings = settings or load_settings()
    es = es or es_access.client("writer", settings)
    alias = settings.index_name("articles")
    try:
        previous_indices = sorted(es.indices.get_alias(name=alias))
    except NotFoundError as exc:
        raise ConfigError(f"alias {alias} does not exist: run `mediawatch setup` first") from exc
    started = datetime.now(timezone.utc).replace(microsecond=0)
    first_seen = _first_seen(es, alias)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dt%H%M%S%fz")
    new_index = f"{es_access.versioned_index(settings, 'articles')}-{stamp}"
    run_dir = settings.state_dir / "reprocess" / stamp
    es.indices.create(index=new_index)  # the family's template applies (<alias>-v*)
    report = ProcessReport()
    losses: list[str] = []
    processed_files: list[tuple[str, Path]] = []
    try:
        with DuplicateIndex(settings.state_dir) as dedup:
            indexer = ChunkIndexer(settings, dedup, report, es, rebuild_index=new_index)
            for topic_name, batch_path in archived_batches(settings):
                topic = load_topic(settings.topics_dir / f"{topic_name}.yaml")
                results = _checked(analyse_batch(batch_path, topic, settings), _previous_outcomes(batch_path), batch_path, losses)
                processed = run_dir / topic_name / batch_path.parent.name / PROCESSED_FILE
                record_run(_carry_first_seen(results, first_seen), indexer, processed)
                processed_files.append((topic_name, processed))
            seed_topic = load_topic(settings.topics_dir / f"{SEED_TOPIC}.yaml")
            seeds: list[PageResult] = assess_articles(load_seed_articles(), seed_topic)
            processed = run_dir / "seeds" / PROCESSED_FILE
            record_run(_carry_first_seen(seeds, first_seen), indexer, processed)
            processed_files.append((SEED_TOPIC, processed))
            indexer.finish()
        if losses:
            raise ReprocessError(
                f"{len(losses)} pages indexed before could not be reprocessed, e.g. {losses[:3]}; "
                f"the alias {alias} still points at {previous_indices}"
            )
        # Last, so that the window in which a monitor run could still add a document is short.
        arrived = _carry_new_arrivals(es, previous_indices, new_index, started.isoformat())
        es.indices.refresh(index=new_index)
    except BaseException:
        es.indices.delete(index=new_index, ignore_unavailable=True)
        raise
    new_ids = _ids(es, new_index)
    dropped = sorted(set(first_seen) - new_ids)
    retired = es_access.switch_alias(es, settings, "articles", new_index)
    # Keep the index just retired; delete those retired by earlier rebuilds.
    family = es.indices.get(index=f"{alias}-v*", expand_wildcards="all")
    deleted = sorted(set(family) - {new_index, *retired})
    if deleted:
        es.indices.delete(index=",".join(deleted))
    alerts = 0
    for topic_name, processed in processed_files:
        alerts += len(raise_alerts(processed, load_topic(settings.topics_dir / f"{topic_name}.yaml"), settings=settings, es=es))
    summary = {
        "index": new_index,
        "alias": alias,
        "retired": retired,
        "deleted": deleted,
        "documents": len(new_ids),
        "previous_documents": len(first_seen),
        "arrived_during_rebuild": arrived,
        "dropped": dropped,
        "alerts": alerts,
        "records": str(run_dir),
        "report": report.to_dict(),
    }
    log.info("reprocessed into %s: %d documents (%d before), %d dropped", new_index, len(new_ids), len(first_seen), len(dropped))
    return summary
