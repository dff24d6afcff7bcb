"""The typed records that flow between stages.

``FetchedPage`` is one line of a crawl batch (JSON Lines written by the crawler,
read by the processing stage). ``Article`` is the record the processors enrich
stage by stage and the indexer writes to Elasticsearch. Both serialise to plain
JSON-compatible dicts with ``to_dict`` / ``from_dict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a dataclass from a dict, ignoring unknown keys (older/newer batch files)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class FetchedPage:
    """One fetch attempt recorded by the crawler (one line of ``batch.jsonl``).

    Every candidate URL gets a line, including those skipped or refused, so that
    nothing is dropped silently: ``outcome`` says what happened and ``reason`` why.
    """

    url: str                      # URL as discovered (after canonicalisation)
    source_id: str                # id of the configured source (or "cli" for --source)
    source_kind: str              # rss | atom | sitemap | news_sitemap | gdelt | google_news | page
    outcome: str                  # fetched | skipped | refused | failed
    reason: str = ""              # why, for anything other than a plain fetch
    final_url: str | None = None  # after redirects
    canonical_url: str | None = None  # canonicalised, then the page's own rel=canonical
    status: int | None = None     # HTTP status
    fetched_at: str | None = None  # ISO 8601 UTC
    content_type: str | None = None
    encoding: str | None = None   # encoding used to decode the body
    discovery_path: list[str] = field(default_factory=list)  # source URL ... -> this URL
    warc_file: str | None = None  # path of the WARC file (relative to the state dir)
    warc_offset: int | None = None  # byte offset of the response record in that file
    topic: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)  # feed/sitemap metadata (title, date, language)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FetchedPage":
        return _from_dict(cls, data)


@dataclass
class ClaimMatch:
    claim_id: str
    passage: str


@dataclass
class Article:
    """An article (crawled or seed) as it moves through the processors into the index."""

    url: str
    text: str = ""
    html: str | None = None          # raw page, not indexed; dropped after extraction
    id: str | None = None            # derived from canonical_url (see mediawatch.ids)
    canonical_url: str | None = None
    outlet: str | None = None        # registered domain of the canonical URL
    outlet_name: str | None = None   # og:site_name or configured name
    title: str | None = None
    description: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None
    declared_language: str | None = None
    published_at: str | None = None  # ISO 8601
    fetched_at: str | None = None
    indexed_at: str | None = None    # first time mediawatch saw it; kept across reruns
    source_type: str = "crawl"       # seed | crawl
    topic: str | None = None
    relevance_score: float | None = None
    relevance_terms: list[str] = field(default_factory=list)
    claims: list[ClaimMatch] = field(default_factory=list)
    duplicate_group: str | None = None
    is_original: bool | None = None
    content_hash: str | None = None
    word_count: int | None = None
    source_id: str | None = None
    source_kind: str | None = None
    discovery_path: list[str] = field(default_factory=list)
    warc_file: str | None = None
    warc_offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        article = _from_dict(cls, data)
        article.claims = [c if isinstance(c, ClaimMatch) else ClaimMatch(**c) for c in article.claims]
        return article
