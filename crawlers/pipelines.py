"""Item pipelines, in order: crawl state, batch file, run summary."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from crawlers.items import FetchedPage, SourceVisit
from crawlers.state import CrawlState, utc_now
from crawlers.urls import canonicalize

logger = logging.getLogger(__name__)

# Outcomes after which a URL is never requested again.
FINAL_REASONS = ("http_4", "content_type:", "too_large", "too_many_redirects")
# Failures worth another try in a later run (the URL stays on the frontier), up to
# MEDIAWATCH_MAX_FAILED_RUNS runs. Robots.txt and refusals are re-evaluated whenever
# a source lists the URL again, since they depend on the site's and our configuration.
TRANSIENT_REASONS = ("http_5", "http_408", "http_429", "timeout", "dns", "connection_refused", "connection_failed",
                     "data_loss")


class CrawlStatePipeline:
    """Records each outcome in the crawl state; a fetched page whose final URL or
    rel=canonical names a page already fetched becomes ``skipped/duplicate_canonical``."""

    def __init__(self, state: CrawlState, run_id: str, tracking_params: tuple[str, ...], max_failed_runs: int):
        self.state = state
        self.run_id = run_id
        self.tracking_params = tracking_params
        self.max_failed_runs = max_failed_runs

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(
            CrawlState.in_state_dir(Path(settings["MEDIAWATCH_STATE_DIR"])),
            settings["MEDIAWATCH_RUN_ID"],
            tuple(settings.getlist("MEDIAWATCH_TRACKING_PARAMS")),
            settings.getint("MEDIAWATCH_MAX_FAILED_RUNS"),
        )

    def open_spider(self, spider=None):
        self.state.start_run(self.run_id)

    def close_spider(self, spider=None):
        self.state.finish_run(self.run_id)
        self.state.close()

    def process_item(self, item, spider=None):
        if isinstance(item, SourceVisit):
            # Saved only now, after the spider queued the listing's entries (the frontier
            # holds them), so a 304 next time cannot hide entries a killed run never fetched.
            if item.outcome == "listed" and (item.etag or item.last_modified):
                self.state.save_validators(item.url, item.etag, item.last_modified)
            return item
        if not isinstance(item, FetchedPage):
            return item
        if item.outcome == "fetched":
            aliases = [canonicalize(u, self.tracking_params) for u in (item.final_url, item.canonical_url) if u]
            # The request URL itself may already be known as another page's alias (a redirect fetched it first).
            other = self.state.seen_page([item.url, *aliases])
            if other is not None and other != item.url:
                item.outcome, item.reason = "skipped", "duplicate_canonical"
                item.hints = {**item.hints, "duplicate_of": other}
                self.state.mark_seen([item.url, *aliases], other)
                self.state.settle(item.url)
            else:
                self.state.record_page(item.url, self.run_id, item.to_dict(), aliases)
        elif item.reason.startswith(TRANSIENT_REASONS):
            failed_runs = self.state.count_failure(item.url)
            item.hints = {**item.hints, "failed_runs": failed_runs}
            if failed_runs >= self.max_failed_runs:
                self.state.settle(item.url)
        elif item.reason.startswith(FINAL_REASONS):
            self.state.mark_seen([item.url], item.url)
            self.state.settle(item.url)
        elif item.reason not in ("seen", "duplicate"):
            self.state.settle(item.url)
        return item


class BatchWriterPipeline:
    """Appends every ``FetchedPage`` to ``<out_dir>/batch.jsonl``, one JSON object a line, flushed."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / "batch.jsonl"
        self._file = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(Path(crawler.settings["MEDIAWATCH_OUT_DIR"]))

    def open_spider(self, spider=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def close_spider(self, spider=None):
        self._file.close()

    def process_item(self, item, spider=None):
        if isinstance(item, FetchedPage):
            self._file.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            self._file.flush()
        return item


class RunSummaryPipeline:
    """Counts outcomes by reason and writes ``<out_dir>/summary.json`` when the run closes."""

    def __init__(self, out_dir: Path, run_id: str, crawler):
        self.path = out_dir / "summary.json"
        self.run_id = run_id
        self.crawler = crawler
        self.started_at = utc_now()
        self.outcomes: dict[str, Counter] = {k: Counter() for k in ("fetched", "skipped", "refused", "failed")}
        self.recovered = 0
        self.sources: list[dict] = []

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(Path(settings["MEDIAWATCH_OUT_DIR"]), settings["MEDIAWATCH_RUN_ID"], crawler)

    def process_item(self, item, spider=None):
        if isinstance(item, SourceVisit):
            self.sources.append({k: v for k, v in vars(item).items() if k not in ("etag", "last_modified")})
        elif isinstance(item, FetchedPage):
            self.outcomes.setdefault(item.outcome, Counter())[item.reason or item.outcome] += 1
            self.recovered += bool(item.hints.get("recovered_from_run"))
        return item

    def close_spider(self, spider=None):
        counts = {
            "fetched": sum(self.outcomes["fetched"].values()),
            "skipped_seen": self.outcomes["skipped"]["seen"],
            **{k: dict(sorted(v.items())) for k, v in self.outcomes.items() if k != "fetched"},
        }
        summary = {
            "run_id": self.run_id,
            "topic": getattr(spider or self.crawler.spider, "topic_name", None),
            "started_at": self.started_at,
            "finished_at": utc_now(),
            "counts": counts,
            "candidates": sum(sum(v.values()) for v in self.outcomes.values()),
            "recovered_from_killed_runs": self.recovered,
            "sources": self.sources,
            "unreachable_sources": [
                {"id": s["source_id"], "url": s["url"], "reason": s["reason"]}
                for s in self.sources if s["outcome"] in ("failed", "refused")
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path)
        logger.info("crawl summary: %s", json.dumps(counts, ensure_ascii=False))
