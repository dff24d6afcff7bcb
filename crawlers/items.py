"""Items the spider yields: ``FetchedPage`` (one per candidate URL, any outcome)
and ``SourceVisit`` (one per feed/sitemap/search/page source request), plus the
functions that build them from a request's metadata and a download failure.

Request metadata used across components (``mw_`` keys, set by the spider):
``mw_role`` ("source" or "candidate"), ``mw_source`` (id, kind, max_depth),
``mw_url`` (the canonical URL the request stands for), ``mw_path`` (discovery
path, source URL first), ``mw_hops`` (links followed from the source's listing),
``mw_hints`` (what the listing said about the URL), ``mw_warc`` (archive
location, set by the archive middleware), ``mw_fetched_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_errors
from twisted.python.failure import Failure

from crawlers.state import utc_now
from mediawatch.records import FetchedPage

__all__ = ["FetchedPage", "SourceVisit", "Refused", "Skipped", "page_record", "failure_outcome"]


@dataclass
class SourceVisit:
    """One request to a discovery source (feed, sitemap, search API, listing page)."""

    source_id: str
    source_kind: str
    url: str
    outcome: str                    # listed | not_modified | failed | refused | skipped
    reason: str = ""
    status: int | None = None
    listing_kind: str | None = None  # what the response turned out to be (rss, atom, news_sitemap...)
    entries: int = 0
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: str | None = None


class Refused(IgnoreRequest):
    """A middleware refused to send a request (address policy); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Skipped(IgnoreRequest):
    """A response was received but is not for the processing stage (e.g. not HTML)."""

    def __init__(self, reason: str, response: Response | None = None):
        super().__init__(reason)
        self.reason = reason
        self.response = response


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def page_record(request: Request, outcome: str, reason: str = "", response: Response | None = None,
                **fields: Any) -> FetchedPage:
    """The batch record for a candidate request, from its metadata and (if any) its response."""
    meta = request.meta
    source = meta.get("mw_source", {})
    record = FetchedPage(
        url=meta.get("mw_url", request.url),
        source_id=source.get("id", "unknown"),
        source_kind=source.get("kind", "unknown"),
        outcome=outcome,
        reason=reason,
        discovery_path=list(meta.get("mw_path", [])),
        hints=dict(meta.get("mw_hints", {})),
        topic=meta.get("mw_topic"),
    )
    if response is not None:
        record.final_url = response.url
        record.status = response.status
        record.content_type = _header(response, "Content-Type")
        record.fetched_at = meta.get("mw_fetched_at") or utc_now()
        if "mw_warc" in meta:
            record.warc_file, record.warc_offset = meta["mw_warc"]
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def failure_outcome(failure: Failure) -> tuple[str, str]:
    """(outcome, reason) for a request that ended in an error instead of a response."""
    exc = failure.value
    if isinstance(exc, Refused):
        return "refused", exc.reason
    if isinstance(exc, Skipped):
        return "skipped", exc.reason
    if isinstance(exc, HttpError):
        return "failed", f"http_{exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        message = str(exc)
        if "robots.txt" in message:
            return "skipped", "robots_txt"
        if "redirect" in message.lower():
            return "failed", "too_many_redirects"
        return "skipped", f"ignored:{message}"
    for types, reason in (
        ((DownloadTimeoutError, twisted_errors.TimeoutError, twisted_errors.TCPTimedOutError), "timeout"),
        ((CannotResolveHostError, twisted_errors.DNSLookupError), "dns"),
        ((DownloadConnectionRefusedError, twisted_errors.ConnectionRefusedError), "connection_refused"),
        ((DownloadCancelledError,), "too_large"),
        ((ResponseDataLossError,), "data_loss"),
        ((DownloadFailedError, twisted_errors.ConnectionLost, twisted_errors.ConnectionDone,
          twisted_errors.ConnectError), "connection_failed"),
    ):
        if isinstance(exc, types):
            return "failed", reason
    return "failed", f"error:{type(exc).__name__}"
