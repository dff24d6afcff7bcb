"""Downloader and spider middlewares; each does one job.

Downloader order (``settings.DOWNLOADER_MIDDLEWARES``): the address policy runs
first on every request, redirects and robots.txt fetches included; conditional
GET adds validators to source requests; retries back off; on the way back the
content-type filter drops non-HTML candidates before the archive writes what is
left to WARC.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import HtmlResponse, Request, Response
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task, threads

from crawlers.addresses import refusal_reason
from crawlers.archive import WarcArchive
from crawlers.items import Refused, Skipped, page_record
from crawlers.state import CrawlState, utc_now
from crawlers.urls import canonicalize

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _state(crawler) -> CrawlState:
    return CrawlState.in_state_dir(Path(crawler.settings["MEDIAWATCH_STATE_DIR"]))


class AddressPolicyMiddleware:
    """Refuses requests to non-http(s) schemes and to hosts resolving to non-public addresses.

    Resolution runs in a thread (it may block) and is cached per host for the run.
    """

    def __init__(self, allowed_classes: frozenset[str]):
        self.allowed_classes = allowed_classes
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(frozenset(crawler.settings.getlist("MEDIAWATCH_ALLOWED_ADDRESS_CLASSES")))

    async def process_request(self, request: Request, spider=None) -> None:
        parts = urlsplit(request.url)
        key = f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}"
        if key not in self._verdicts:
            self._verdicts[key] = await maybe_deferred_to_future(
                threads.deferToThread(refusal_reason, request.url, self.allowed_classes)
            )
        if (reason := self._verdicts[key]) is not None:
            raise Refused(reason)


class ConditionalGetMiddleware:
    """Adds If-None-Match / If-Modified-Since to source requests from the validators last seen."""

    def __init__(self, state: CrawlState):
        self.state = state

    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls(_state(crawler))
        crawler.signals.connect(middleware.state.close, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request, spider=None) -> None:
        if request.meta.get("mw_role") != "source":
            return None
        etag, last_modified = self.state.validators(request.url)
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        return None


def _retry_after_seconds(value: bytes | None) -> float | None:
    """A Retry-After header in seconds (the delta-seconds form; an HTTP date counts as absent)."""
    try:
        return max(0.0, float(value.decode("latin-1").strip())) if value else None
    except ValueError:
        return None


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (timeouts, connection errors, 5xx, 429) with exponential backoff
    between attempts, waiting at least as long as the server's Retry-After asks."""

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("MEDIAWATCH_RETRY_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("MEDIAWATCH_RETRY_BACKOFF_MAX")

    def process_response(self, request: Request, response: Response, spider=None):
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            request.meta["mw_retry_after"] = retry_after
        return super().process_response(request, response)

    def _retry(self, request, reason):
        retry = super()._retry(request, reason)
        if retry is not None:
            attempt = retry.meta.get("retry_times", 1)
            backoff = max(self.backoff_base * 2 ** (attempt - 1), retry.meta.pop("mw_retry_after", 0))
            retry.meta["mw_retry_delay"] = min(backoff, self.backoff_max)
        return retry

    async def process_request(self, request: Request, spider=None) -> None:
        delay = request.meta.pop("mw_retry_delay", 0)
        if delay > 0:
            from twisted.internet import reactor

            await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))


class ContentTypeFilterMiddleware:
    """Candidate pages must be HTML; anything else is recorded as skipped with its type, not archived."""

    def process_response(self, request: Request, response: Response, spider=None) -> Response:
        if request.meta.get("mw_role") != "candidate" or not 200 <= response.status < 300:
            return response
        header = response.headers.get("Content-Type")
        content_type = header.decode("latin-1").split(";")[0].strip().lower() if header else ""
        if content_type in HTML_TYPES or (not content_type and isinstance(response, HtmlResponse)):
            return response
        raise Skipped(f"content_type:{content_type or 'unknown'}", response)


class WarcArchiveMiddleware:
    """Writes every successful response (sources and pages) to the run's WARC file."""

    def __init__(self, archive: WarcArchive):
        self.archive = archive

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        archive = WarcArchive(
            Path(settings["MEDIAWATCH_STATE_DIR"]), settings["MEDIAWATCH_RUN_ID"],
            settings.getint("MEDIAWATCH_WARC_MAX_BYTES"),
        )
        crawler.signals.connect(archive.close, signal=signals.spider_closed)
        return cls(archive)

    def process_response(self, request: Request, response: Response, spider=None) -> Response:
        fetched_at = utc_now()
        request.meta["mw_fetched_at"] = fetched_at
        if 200 <= response.status < 300:
            try:
                phrase = HTTPStatus(response.status).phrase
            except ValueError:
                phrase = ""
            headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, values in response.headers.items()
                for value in values
            ]
            request.meta["mw_warc"] = self.archive.write_response(
                response.url, response.status, phrase, headers, response.body, fetched_at
            )
        return response


class SeenUrlFilterMiddleware(BaseSpiderMiddleware):
    """Canonicalises candidate URLs and lets through only those never fetched and not yet queued.

    A candidate fetched by an earlier run becomes a ``skipped/seen`` record, one
    already queued in this run a ``skipped/duplicate`` record; the rest go on the
    frontier (so a killed run's pending work survives) and are requested under
    their canonical URL.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        self.state = _state(crawler)
        self.run_id = crawler.settings["MEDIAWATCH_RUN_ID"]
        self.tracking_params = tuple(crawler.settings.getlist("MEDIAWATCH_TRACKING_PARAMS"))
        crawler.signals.connect(self.state.close, signal=signals.spider_closed)

    def get_processed_request(self, request: Request, response: Response | None) -> Any:
        if request.meta.get("mw_role") != "candidate":
            return request
        url = canonicalize(request.url, self.tracking_params)
        request.meta["mw_url"] = url
        if self.state.seen_page([url]):
            return page_record(request, "skipped", "seen")
        if self.state.frontier_run(url) == self.run_id:
            return page_record(request, "skipped", "duplicate")
        self.state.enqueue(url, self.run_id, {
            "url": url, "meta": {k: v for k, v in request.meta.items() if k.startswith("mw_")},
        })
        return request.replace(url=url) if url != request.url else request
