"""Prefilter: skip extraction for pages that cannot be about the topic.

Relevance (``processors.relevance``) needs, in one passage of the title and text,
an ``event`` term together with a ``core`` term or the ``context`` terms. So a
page whose markup contains no event term, or no core/context term, anywhere, in
any of the topic's languages, cannot be relevant whatever the extractor keeps
of it; and extraction is by far the most expensive stage. General news feeds
and sitemaps bring mostly such pages.

The check runs on the page as the extractor would decode it
(``processors.extract.decode_html``): its text with the tags replaced by spaces
(a phrase split by inline markup, "Jorge <b>Glas</b>", still matches; scripts
are kept, style sheets dropped) plus every ``content`` attribute (``og:title``,
``description``: the extractor may take the title from there), entities
unescaped, folded like the relevance stage folds. It is a necessary condition
only: a page that passes still goes through extraction and the real relevance
verdict.

Only what is clearly an HTML document is prefiltered: empty bodies, binary data
and other junk go to the extractor, whose refusal says what was wrong.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import chain

from mediawatch.textfold import fold
from mediawatch.topics import Topic
from processors.extract import decode_html
from processors.text import MatcherCache, PhraseMatcher

_HTML_DOCUMENT_RE = re.compile(rb"<\s*(?:html|head|body|title|p|div|article)\b", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_STYLE_RE = re.compile(r"<style\b.*?</style\s*>", re.IGNORECASE | re.DOTALL)
# Metadata the extractor may take a title or description from (og:title, description).
_CONTENT_RE = re.compile(r"""\bcontent\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class _GateMatchers:
    names: PhraseMatcher   # core and context terms of every language
    events: PhraseMatcher  # event terms of every language


def _compile(topic: Topic) -> _GateMatchers:
    vocabularies = topic.vocabulary.values()
    return _GateMatchers(
        names=PhraseMatcher(chain.from_iterable(chain(v.core, v.context) for v in vocabularies)),
        events=PhraseMatcher(chain.from_iterable(v.event for v in vocabularies)),
    )


_matchers: MatcherCache[_GateMatchers] = MatcherCache(_compile)


def _is_html_document(body: bytes) -> bool:
    """Markup from the first byte (after a UTF-8 BOM), no NUL, and an HTML element early on."""
    head = body[:1024].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<") and b"\x00" not in head and bool(_HTML_DOCUMENT_RE.search(body[:65536]))


def cannot_be_relevant(body: bytes, encoding: str | None, topic: Topic) -> str | None:
    """The reason ``body`` cannot be about ``topic`` (skip extraction), or None (extract it)."""
    if not _is_html_document(body):
        return None  # the extractor diagnoses it
    matchers = _matchers.get(topic)
    markup = decode_html(body, encoding)
    attributes = " ".join(double or single for double, single in _CONTENT_RE.findall(markup))
    text = html.unescape(_TAG_RE.sub(" ", _STYLE_RE.sub(" ", markup)) + "\n" + attributes)
    folded = fold(text)
    if not matchers.events.find(text, folded):
        return f"no event term of {topic.name} anywhere in the page (not extracted)"
    if not matchers.names.find(text, folded):
        return f"no core or context term of {topic.name} anywhere in the page (not extracted)"
    return None
