"""The topic spider: requests a topic's sources and the articles they list.

It only discovers and fetches: sources (feeds, sitemaps, search feeds, listing
pages) are requested every run; every URL they list becomes a candidate request
(the seen-URL middleware drops those fetched before); each candidate response or
failure becomes one ``FetchedPage`` record. Policy (addresses, robots.txt,
content types, archive, state) lives in middlewares and pipelines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from twisted.python.failure import Failure

from crawlers.items import FetchedPage, SourceVisit, failure_outcome, page_record
from crawlers.sources import (
    Listing,
    UnknownFormat,
    decode_google_news_link,
    gdelt_url,
    google_news_url,
    looks_like_html,
    parse_listing,
)
from crawlers.state import CrawlState
from crawlers.urls import canonicalize, page_identity, same_site
from mediawatch.topics import Source, Topic, load_topic

CLI_SOURCE_ID = "cli"


class TopicSpider(scrapy.Spider):
    name = "topic"

    def __init__(self, topic_path: str, extra_sources: Sequence[str] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.topic: Topic = load_topic(Path(topic_path))
        self.topic_name = self.topic.name
        self.extra_sources = list(extra_sources)
        self._links = LinkExtractor()

    async def start(self) -> AsyncIterator[Any]:
        state = CrawlState.in_state_dir(Path(self.settings["MEDIAWATCH_STATE_DIR"]))
        run_id = self.settings["MEDIAWATCH_RUN_ID"]
        try:
            # Work a killed run left behind: records it fetched (re-delivered in this
            # run's batch) and URLs it queued but never finished.
            for record in state.undelivered_pages(run_id):
                page = FetchedPage.from_dict(record)
                page.hints = {**page.hints, "recovered_from_run": True}
                yield page
            for pending in state.pending_requests(run_id):
                yield self._candidate(pending["url"], pending["meta"])
        finally:
            state.close()
        for source in self.topic.sources:
            for output in self._source_requests(source):
                yield output
        for url in self.extra_sources:
            yield self._source_request(url, {"id": CLI_SOURCE_ID, "kind": "auto", "max_depth": 1})

    # requests
    def _source_requests(self, source: Source) -> Iterable[scrapy.Request | SourceVisit]:
        described = {"id": source.id, "kind": source.kind, "max_depth": source.max_depth}
        if source.kind in ("google_news", "gdelt"):
            build = google_news_url if source.kind == "google_news" else gdelt_url
            for language in source.languages or self.topic.languages:
                for query in self.topic.search_queries.get(language, ()):
                    request = self._source_request(build(query, language, source.options),
                                                   {**described, "language": language})
                    request.meta["autothrottle_dont_adjust_delay"] = True  # keep the API's DOWNLOAD_SLOTS delay
                    yield request
        elif source.url:
            yield self._source_request(source.url, described)
        else:
            self.logger.error("source %r (%s) has no url; nothing to request", source.id, source.kind)
            yield SourceVisit(source.id, source.kind, "", "failed", "config:no url")

    def _source_request(self, url: str, source: dict[str, Any], path: Sequence[str] = ()) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_source,
            errback=self.source_failed,
            dont_filter=True,
            meta={
                "mw_role": "source",
                "mw_source": source,
                "mw_path": [*path, url],
                "handle_httpstatus_list": [304],
            },
        )

    def _candidate(self, url: str, meta: dict[str, Any]) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_candidate, errback=self.candidate_failed, meta={**meta, "mw_role": "candidate"},
        )

    def _candidate_meta(self, response: Response, url: str, hints: dict[str, Any], hops: int,
                        via: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "mw_source": response.meta["mw_source"],
            "mw_path": [*response.meta["mw_path"], *via, url],
            "mw_hints": hints,
            "mw_hops": hops,
            "mw_topic": self.topic_name,
        }

    # sources
    def parse_source(self, response: Response) -> Iterable[Any]:
        source = response.meta["mw_source"]
        visit = SourceVisit(source["id"], source["kind"], response.url, "listed", status=response.status,
                            fetched_at=response.meta.get("mw_fetched_at"))
        if response.status == 304:
            visit.outcome, visit.reason = "not_modified", "conditional_get"
            yield visit
            return
        if source["kind"] == "auto" and looks_like_html(response.body):
            # A --source URL: what it lists is attributed to what it turned out to be.
            source = response.meta["mw_source"] = {**source, "kind": "page"}
        if source["kind"] == "page":
            visit.listing_kind = "page"
            if not isinstance(response, TextResponse):
                visit.outcome, visit.reason = "failed", "format:not a text page"
                yield visit
                return
            links = list(self._same_site_links(response))
            for link in links:
                yield self._candidate(link, self._candidate_meta(response, link, {}, 1))
            visit.entries = len(links)
        else:
            try:
                listing = parse_listing(response.body, response.url)
            except UnknownFormat as exc:
                visit.outcome, visit.reason = "failed", f"format:{exc}"
                yield visit
                return
            yield from self._listing_requests(response, listing)
            visit.listing_kind = listing.kind
            visit.entries = len(listing.entries) + len(listing.children)
        etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        visit.etag = etag.decode("latin-1") if etag else None
        visit.last_modified = last_modified.decode("latin-1") if last_modified else None
        # Yielded last: the pipeline saves the validators only after every entry is queued.
        yield visit

    def _listing_requests(self, response: Response, listing: Listing) -> Iterable[scrapy.Request]:
        source = response.meta["mw_source"]
        for child in listing.children:
            yield self._source_request(child, source, response.meta["mw_path"])
        if source["kind"] == "auto":
            response.meta["mw_source"] = {**source, "kind": listing.kind}
        for entry in listing.entries:
            publisher_url = decode_google_news_link(entry.url)
            if publisher_url:
                # Google News links are redirects; dedup and fetch the publisher's own URL.
                meta = self._candidate_meta(response, publisher_url, entry.hints, 1, via=[entry.url])
                yield self._candidate(publisher_url, meta)
            else:
                yield self._candidate(entry.url, self._candidate_meta(response, entry.url, entry.hints, 1))

    def source_failed(self, failure: Failure) -> Iterable[SourceVisit]:
        request = failure.request
        source = request.meta["mw_source"]
        outcome, reason = failure_outcome(failure)
        response = getattr(failure.value, "response", None)
        self.logger.warning("source %s (%s) %s: %s", source["id"], request.url, outcome, reason)
        yield SourceVisit(source["id"], source["kind"], request.url, outcome, reason,
                          status=response.status if response is not None else None)

    # candidates
    def parse_candidate(self, response: Response) -> Iterable[Any]:
        declared = None
        encoding = None
        if isinstance(response, TextResponse):
            encoding = response.encoding
            href = response.xpath(
                "//link[contains(concat(' ', translate(normalize-space(@rel), 'CANONICAL', 'canonical'), ' '),"
                " ' canonical ')]/@href"
            ).get()
            if href and href.strip():
                declared = urljoin(response.url, href.strip())
        hints = dict(response.meta.get("mw_hints", {}))
        tracking = self.settings.getlist("MEDIAWATCH_TRACKING_PARAMS")
        canonical = page_identity(declared, response.url, tracking)
        if declared and canonical != canonicalize(declared, tracking):
            hints["declared_canonical"] = declared  # not trusted (see page_identity): kept for the record
        yield page_record(response.request, "fetched", response=response,
                          canonical_url=canonical, encoding=encoding, hints=hints)
        hops = response.meta.get("mw_hops", 1)
        if hops < response.meta["mw_source"].get("max_depth", 1) and isinstance(response, TextResponse):
            for link in self._same_site_links(response):
                yield self._candidate(link, self._candidate_meta(response, link, {}, hops + 1))

    def _same_site_links(self, response: Response) -> Iterable[str]:
        for link in self._links.extract_links(response):
            if same_site(link.url, response.url):
                yield link.url

    def candidate_failed(self, failure: Failure) -> Iterable[FetchedPage]:
        outcome, reason = failure_outcome(failure)
        response = getattr(failure.value, "response", None)
        yield page_record(failure.request, outcome, reason, response=response)
