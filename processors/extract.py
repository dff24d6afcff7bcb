"""Extraction: raw page (bytes or text) -> ``Article`` with main text and metadata.

Trafilatura does the work; this stage adds what a monitoring pipeline needs around it:
robust decoding (BOM, then the charset the bytes actually satisfy, then detection), a
clear refusal for pages with nothing to extract, the page's canonical URL and declared
language, and a second pass with balanced settings when the precision-oriented first
output is suspiciously short. The configuration was chosen by measurement on the shared
corpora (``evaluation/RESULTS.md``, ``docs/processing-extraction.md``).
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import urljoin, urlsplit

import charset_normalizer
import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from mediawatch.records import Article

# Precision-oriented first pass; when its output is shorter than this (characters, about
# 300 words) and trafilatura's balanced settings find more, the balanced output is kept:
# precision mode sometimes keeps only a lead paragraph or a teaser. Chosen by measurement
# on both corpora (evaluation/RESULTS.md).
SHORT_TEXT_CHARS = 2000
COMMON_OPTIONS: dict[str, bool] = {"include_comments": False, "include_tables": True}
FIRST_PASS_OPTIONS: dict[str, bool] = {"favor_precision": True}
SECOND_PASS_OPTIONS: dict[str, bool] = {"favor_precision": False}

# Leading bytes of formats that are never web pages (a crawler may still be served them).
_BINARY_SIGNATURES: dict[bytes, str] = {
    b"%PDF-": "pdf",
    b"\x89PNG": "png",
    b"GIF8": "gif",
    b"\xff\xd8\xff": "jpeg",
    b"PK\x03\x04": "zip",
    b"\x1f\x8b": "gzip",
    b"RIFF": "riff",
    b"\x00\x00\x00": "binary",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Share of control characters (or undecodable bytes) above which a "page" is binary junk.
_JUNK_RATIO = 0.05
# A page is UTF-8 with stray bytes when its valid non-ASCII UTF-8 characters outnumber the
# undecodable sequences this many times (a Latin-1 page has almost no valid ones).
_VALID_PER_STRAY_SEQUENCE = 10
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")
_WORD_RE = re.compile(r"\w+")
_LANGUAGE_CODE_RE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]+)*$")


class ExtractionError(ValueError):
    """The page has no extractable text; ``reason`` says why (empty, binary, no main text)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _codec_name(label: str | None) -> str | None:
    """Python codec for a charset label; latin-1/ascii labels mean windows-1252 on the web."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def decode_html(data: bytes, encoding: str | None = None) -> str:
    """Decode a page: BOM, then UTF-8 if the bytes are valid UTF-8, then the declared charset
    (``encoding``, e.g. from the HTTP header, then ``<meta charset>``), then UTF-8 with a few
    stray bytes replaced, then detection.

    Valid UTF-8 goes before a declared charset because mislabelled UTF-8 pages are common
    while non-ASCII text in another charset almost never happens to be valid UTF-8.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    if b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    meta = _META_CHARSET_RE.search(data[:4096])
    for label in (encoding, meta.group(1).decode("ascii") if meta else None):
        codec = _codec_name(label)
        if codec:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    # A UTF-8 page with a few stray bytes (a truncated character, a Latin-1 leftover in a
    # template) is still a UTF-8 page: detection would pick an exotic charset for it.
    lenient = data.decode("utf-8", errors="replace")
    stray = lenient.count("\ufffd")
    if sum(ord(ch) > 127 for ch in lenient) - stray >= _VALID_PER_STRAY_SEQUENCE * stray:
        return lenient
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode("utf-8", errors="replace")


def _refuse_junk(data: bytes) -> None:
    if not data.strip():
        raise ExtractionError("empty page")
    for signature, kind in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise ExtractionError(f"binary content ({kind}), not an HTML page")


def _normalise_language(value: str | None) -> str | None:
    """'en-US', 'pt_BR', 'ES' -> ISO 639-1 code; anything else -> None."""
    match = _LANGUAGE_CODE_RE.match((value or "").strip().lower())
    return match.group(1) if match else None


def declared_language(tree: HtmlElement) -> str | None:
    """Language the page declares: ``<html lang>``, og:locale, then Content-Language."""
    candidates = [
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        *tree.xpath("//meta[@property='og:locale']/@content"),
        *tree.xpath(
            "//meta[translate(@http-equiv,'CONTENTLAG','contentlag')='content-language']/@content"
        ),
        *tree.xpath("//meta[@name='language' or @name='Language']/@content"),
    ]
    for candidate in candidates:
        code = _normalise_language(candidate)
        if code:
            return code
    return None


def canonical_url(tree: HtmlElement, url: str) -> str:
    """``rel=canonical`` or ``og:url`` resolved against ``url``; ``url`` itself otherwise."""
    candidates = [
        *tree.xpath("//link[contains(concat(' ', normalize-space(translate(@rel,'CANONIL','canonil')), ' '),"
                    " ' canonical ')]/@href"),
        *tree.xpath("//meta[@property='og:url']/@content"),
    ]
    for candidate in candidates:
        resolved = urljoin(url, candidate.strip())
        if urlsplit(resolved).scheme in ("http", "https") and urlsplit(resolved).netloc:
            return resolved
    return url


def _run_trafilatura(tree: HtmlElement, url: str, options: dict[str, bool], with_metadata: bool):
    return trafilatura.bare_extraction(tree, url=url or None, with_metadata=with_metadata, **COMMON_OPTIONS, **options)


def extract_article(html: str | bytes, url: str, *, encoding: str | None = None) -> Article:
    """Extract the main text and metadata of one page.

    ``encoding`` is the charset declared by the transport (HTTP header), if any. Raises
    ``ExtractionError`` with a reason for pages without extractable text.
    """
    if isinstance(html, bytes):
        _refuse_junk(html)
        text = decode_html(html, encoding)
    else:
        text = html
    if not text.strip():
        raise ExtractionError("empty page")
    if len(_CONTROL_RE.findall(text)) > _JUNK_RATIO * len(text):
        raise ExtractionError("binary content (control characters), not an HTML page")
    tree = load_html(text)
    if tree is None:
        raise ExtractionError("unparseable HTML")

    document = _run_trafilatura(tree, url, FIRST_PASS_OPTIONS, with_metadata=True)
    body = ((document and document.text) or "").strip()
    if len(body) < SHORT_TEXT_CHARS:
        # Metadata does not depend on the text settings: the second pass skips it (a third
        # of the cost of a pass) unless the first pass found nothing at all.
        second = _run_trafilatura(tree, url, SECOND_PASS_OPTIONS, with_metadata=document is None)
        second_body = ((second and second.text) or "").strip()
        if len(second_body) > len(body):
            body = second_body
            document = document or second
    if document is None or not body:
        raise ExtractionError("no main text found")

    return Article(
        url=url,
        text=body,
        title=document.title or None,
        authors=[name.strip() for name in (document.author or "").split(";") if name.strip()],
        published_at=document.date or None,
        outlet_name=document.sitename or None,
        description=document.description or None,
        canonical_url=canonical_url(tree, url),
        declared_language=declared_language(tree),
        word_count=len(_WORD_RE.findall(body)),
    )
