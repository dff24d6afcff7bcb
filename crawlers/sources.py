"""Discovery formats: building search-feed URLs and reading feeds, sitemaps and GDELT answers.

Pure functions over bytes and strings, so each format is tested on its own; the
spider decides what to request and these say what a response lists.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from lxml import etree

GOOGLE_NEWS_BASE_URL = "https://news.google.com/rss/search"
GDELT_BASE_URL = "https://api.gdeltproject.org/api/v2/doc/doc"

# GDELT's sourcelang: operator takes language names, not ISO 639-1 codes.
GDELT_LANGUAGES = {
    "en": "english", "es": "spanish", "pt": "portuguese", "fr": "french", "de": "german", "it": "italian",
    "nl": "dutch", "ru": "russian", "zh": "chinese", "ar": "arabic", "tr": "turkish", "ca": "catalan",
}

_XML_PARSER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Entry:
    """A URL a feed, sitemap or search answer lists, with what it says about it."""

    url: str
    hints: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    kind: str                 # rss | atom | sitemap | news_sitemap | sitemap_index | gdelt
    entries: list[Entry]      # article candidates
    children: list[str] = field(default_factory=list)  # further listings (sitemap index -> sitemaps)


class UnknownFormat(ValueError):
    """The body is not a feed, sitemap or GDELT answer."""


def google_news_url(query: str, language: str, options: dict[str, Any]) -> str:
    """A Google News RSS search URL for one query in one language (edition from options)."""
    country = str(options.get("country", "US")).upper()
    params = {"q": query, "hl": language, "gl": country, "ceid": f"{country}:{language}"}
    return f"{options.get('base_url', GOOGLE_NEWS_BASE_URL)}?{urlencode(params)}"


def gdelt_url(query: str, language: str, options: dict[str, Any]) -> str:
    """A GDELT DOC 2.0 API URL: article list, JSON, for one query restricted to one source language."""
    lang = GDELT_LANGUAGES.get(language, language)
    params = {
        "query": f"{query} sourcelang:{lang}",
        "mode": "ArtList",
        "format": "json",
        "maxrecords": str(options.get("max_records", 250)),
        "timespan": str(options.get("timespan", "1w")),
        "sort": "DateDesc",
    }
    return f"{options.get('base_url', GDELT_BASE_URL)}?{urlencode(params)}"


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def decode_google_news_link(url: str) -> str | None:
    """The publisher URL inside a Google News article link, when the link carries it.

    Links look like ``https://news.google.com/rss/articles/<id>?oc=5``; ``<id>`` is
    URL-safe base64 of a small protobuf whose field 4 is the publisher URL. Newer
    ids (``AU_yqL...``) only hold a reference; those return None and are resolved
    by following the link's redirect.
    """
    path = urlsplit(url).path
    if "/articles/" not in path:
        return None
    article_id = path.rsplit("/articles/", 1)[1].split("/")[0]
    try:
        data = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (binascii.Error, ValueError):
        return None
    if not data.startswith(b"\x08\x13\x22"):
        return None
    try:
        length, start = _read_varint(data, 3)
    except ValueError:
        return None
    candidate = data[start : start + length].decode("utf-8", "replace")
    return candidate if candidate.startswith(("http://", "https://")) else None


def _local(tag: Any) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _child_text(element: Any, *names: str) -> str | None:
    for child in element:
        if _local(child.tag) in names and child.text and child.text.strip():
            return child.text.strip()
    return None


def _descendant(element: Any, name: str) -> Any:
    for child in element.iter():
        if _local(child.tag) == name:
            return child
    return None


def _rss_entries(channel: Any, base_url: str) -> list[Entry]:
    entries = []
    for item in channel:
        if _local(item.tag) != "item":
            continue
        link = _child_text(item, "link") or _child_text(item, "guid")
        if not link:
            continue
        hints = {k: v for k, v in {
            "title": _child_text(item, "title"),
            "published": _child_text(item, "pubdate", "date"),
            "publisher": _child_text(item, "source"),
        }.items() if v}
        source = next((c for c in item if _local(c.tag) == "source" and c.get("url")), None)
        if source is not None:
            hints["publisher_url"] = source.get("url")
        entries.append(Entry(urljoin(base_url, link), hints))
    return entries


def _atom_entries(feed: Any, base_url: str) -> list[Entry]:
    entries = []
    for entry in feed:
        if _local(entry.tag) != "entry":
            continue
        links = [c for c in entry if _local(c.tag) == "link" and c.get("href")]
        preferred = [c for c in links if c.get("rel", "alternate") == "alternate"] or links
        if not preferred:
            continue
        hints = {k: v for k, v in {
            "title": _child_text(entry, "title"),
            "published": _child_text(entry, "published", "updated"),
        }.items() if v}
        entries.append(Entry(urljoin(base_url, preferred[0].get("href")), hints))
    return entries


def _sitemap_listing(root: Any, base_url: str) -> Listing:
    if _local(root.tag) == "sitemapindex":
        children = [loc for s in root if _local(s.tag) == "sitemap" and (loc := _child_text(s, "loc"))]
        return Listing("sitemap_index", [], [urljoin(base_url, c) for c in children])
    entries, news = [], False
    for url in root:
        if _local(url.tag) != "url" or not (loc := _child_text(url, "loc")):
            continue
        hints: dict[str, Any] = {}
        if (lastmod := _child_text(url, "lastmod")):
            hints["lastmod"] = lastmod
        news_el = next((c for c in url if _local(c.tag) == "news"), None)
        if news_el is not None:
            news = True
            publication = _descendant(news_el, "publication")
            hints.update({k: v for k, v in {
                "published": _child_text(news_el, "publication_date"),
                "title": _child_text(news_el, "title"),
                "language": _child_text(publication, "language") if publication is not None else None,
                "publisher": _child_text(publication, "name") if publication is not None else None,
            }.items() if v})
        entries.append(Entry(urljoin(base_url, loc), hints))
    return Listing("news_sitemap" if news else "sitemap", entries)


def _gdelt_listing(body: bytes) -> Listing:
    data = json.loads(body.decode("utf-8-sig") or "{}")
    if not isinstance(data, dict):
        raise UnknownFormat("GDELT answer is not a JSON object")
    entries = []
    for article in data.get("articles") or []:
        if isinstance(article, dict) and article.get("url"):
            hints = {k: article[v] for k, v in
                     (("title", "title"), ("seendate", "seendate"), ("language", "language"), ("domain", "domain"))
                     if article.get(v)}
            entries.append(Entry(article["url"], hints))
    return Listing("gdelt", entries)


def maybe_gunzip(body: bytes) -> bytes:
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


def parse_listing(body: bytes, base_url: str) -> Listing:
    """Read an RSS/Atom feed, a sitemap (news, plain or index; gzipped or not) or a GDELT ArtList JSON."""
    body = maybe_gunzip(body)
    if body.lstrip()[:1] in (b"{", b"["):
        try:
            return _gdelt_listing(body)
        except ValueError as exc:
            raise UnknownFormat(f"invalid JSON: {exc}") from exc
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise UnknownFormat(f"not XML: {exc}") from exc
    if root is None:
        raise UnknownFormat("empty or unparseable XML")
    tag = _local(root.tag)
    if tag == "rss" or tag == "rdf":
        channel = next((c for c in root if _local(c.tag) == "channel"), root)
        # RSS 1.0 (RDF) lists items beside the channel, RSS 2.0 inside it.
        return Listing("rss", _rss_entries(channel if tag == "rss" else root, base_url))
    if tag == "feed":
        return Listing("atom", _atom_entries(root, base_url))
    if tag in ("urlset", "sitemapindex"):
        return _sitemap_listing(root, base_url)
    raise UnknownFormat(f"unknown root element <{tag}>")


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<head" in head
