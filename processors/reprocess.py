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

Nothing a writer (a monitor run) puts into the live index while the rebuild runs
is lost. The rebuild notes each live shard's sequence-number checkpoint first;
afterwards every document written there since (new, or changed: a recrawl, an
original flag) is copied into the new index as the live index has it, the newest
write. A first copy runs while writers go on; then the live index refuses writes
(an index write block: writers' items fail and go to their spool, which their
next run delivers through the alias), a second copy takes what the first missed,
and the alias moves. Nothing can land in the old index after that second copy.

The index just retired is kept, still refusing writes (to compare, or to switch
back after clearing ``index.blocks.write``); indices retired by earlier rebuilds
are deleted. ``indexed_at`` (first seen) is carried over
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


def _checkpoints(es: Elasticsearch, indices: list[str]) -> dict[str, dict[str, int]]:
    """index -> shard -> local checkpoint of its primary: every write up to it is done.

    Sequence numbers count per shard, so the marks do too (the template has one
    shard; a changed template may have more).
    """
    stats = es.indices.stats(index=",".join(indices), level="shards", metric="docs")["indices"]
    return {
        index: {
            shard: next(copy for copy in copies if copy["routing"]["primary"])["seq_no"]["local_checkpoint"]
            for shard, copies in stats[index]["shards"].items()
        }
        for index in indices
    }


def _copy_writes_since(
    es: Elasticsearch, live: list[str], checkpoints: dict[str, dict[str, int]], new_index: str
) -> tuple[set[str], dict[str, dict[str, int]]]:
    """Copy every document written to the live indices after ``checkpoints`` into ``new_index``.

    The live copy replaces the rebuild's: it is the newest write (a monitor run
    that added or changed the document while the rebuild ran). Returns the ids
    copied and the checkpoints this copy covers, for the next one.
    """
    covered = _checkpoints(es, live)  # before the refresh: everything up to them is searchable after it
    es.indices.refresh(index=",".join(live))
    actions = (
        {"_op_type": "index", "_index": new_index, "_id": hit["_id"], "_source": hit["_source"]}
        for index in live
        for shard, checkpoint in checkpoints[index].items()
        for hit in helpers.scan(
            es, index=index, preference=f"_shards:{shard}", query={"query": {"range": {"_seq_no": {"gt": checkpoint}}}}
        )
    )
    copied = set()
    for ok, item in helpers.streaming_bulk(es, actions, raise_on_error=False):
        result = item["index"]
        if not ok:
            raise ReprocessError(f"could not carry document {result.get('_id')} over to {new_index}: {result.get('error')}")
        copied.add(result["_id"])
    return copied, covered


def _refuse_writes(es: Elasticsearch, indices: list[str]) -> None:
    """Block writes; returns once writes already in flight are done (the block API waits for them)."""
    es.indices.add_block(index=",".join(indices), block="write")


def _accept_writes(es: Elasticsearch, indices: list[str]) -> None:
    es.indices.put_settings(index=",".join(indices), settings={"index.blocks.write": None})


def _carry_live_writes(
    es: Elasticsearch, live: list[str], checkpoints: dict[str, dict[str, int]], new_index: str
) -> set[str]:
    """Copy what writers put into the live indices since ``checkpoints``; they refuse writes after.

    The first copy runs while writers go on, so that the second, with writes
    refused (writers spool them), only takes what arrived during the first.
    On failure the live indices accept writes again.
    """
    carried, checkpoints = _copy_writes_since(es, live, checkpoints, new_index)
    _refuse_writes(es, live)
    try:
        carried |= _copy_writes_since(es, live, checkpoints, new_index)[0]
    except BaseException:
        _accept_writes(es, live)
        raise
    return carried


def reprocess(settings: Settings | None = None, *, es: Elasticsearch | None = None) -> dict:
    """Rebuild the articles index from the archive and the seeds; switch the alias on success."""
    settings = settings or load_settings()
    es = es or es_access.client("writer", settings)
    alias = settings.index_name("articles")
    try:
        previous_indices = sorted(es.indices.get_alias(name=alias))
    except NotFoundError as exc:
        raise ConfigError(f"alias {alias} does not exist: run `mediawatch setup` first") from exc
    checkpoints = _checkpoints(es, previous_indices)  # writes after these are carried over at the end
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
        carried = _carry_live_writes(es, previous_indices, checkpoints, new_index)
    except BaseException:
        es.indices.delete(index=new_index, ignore_unavailable=True)
        raise
    # Outside the guard above: a switch that fails after it was applied must not delete the live index.
    try:
        retired = es_access.switch_alias(es, settings, "articles", new_index)
    except BaseException:
        _accept_writes(es, previous_indices)
        raise
    es.indices.refresh(index=new_index)
    new_ids = _ids(es, new_index)
    dropped = sorted(set(first_seen) - new_ids)
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
        "arrived_during_rebuild": len(carried),
        "dropped": dropped,
        "alerts": alerts,
        "records": str(run_dir),
        "report": report.to_dict(),
    }
    log.info("reprocessed into %s: %d documents (%d before), %d dropped", new_index, len(new_ids), len(first_seen), len(dropped))
    return summary
