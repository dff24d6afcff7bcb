"""Search for analysts: full text, filters, highlights and facets, as the reader user.

Queries go through ``simple_query_string``, which accepts any user input (quotes
for phrases, ``-`` to exclude, ``|`` for or) and never fails on a syntax error.
Search is case- and accent-insensitive: the query and the ``*_folded`` fields are
folded the same way (mediawatch.textfold). Highlights are found in the folded
fields and mapped back onto the original text, which folding keeps aligned.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date

from mediawatch.settings import ConfigError, Settings, load_settings
from mediawatch.textfold import fold

# Markers no article text contains (Unicode private use area), stripped from input.
_PRE, _POST = "\ue000", "\ue001"
SEARCH_FIELDS = ["title_folded^3", "description_folded^2", "text_folded"]
HIGHLIGHTED = {"title_folded": "title", "text_folded": "text"}
HIT_FIELDS = [
    "id", "url", "canonical_url", "outlet", "outlet_name", "language", "title", "source_type",
    "published_at", "duplicate_group", "is_original", "claim_ids", "authors", "description",
]
FACETS = {
    "outlet": {"terms": {"field": "outlet", "size": 20}},
    "language": {"terms": {"field": "language", "size": 20}},
    "source_type": {"terms": {"field": "source_type", "size": 5}},
    "claim": {"terms": {"field": "claim_ids", "size": 20}},
    "month": {"date_histogram": {"field": "published_at", "calendar_interval": "month", "format": "yyyy-MM", "min_doc_count": 1}},
}


@dataclass
class Highlight:
    """A fragment of original text; ``spans`` are (start, end) of matched words in it."""

    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)

    def to_html(self) -> str:
        """Escaped text with ``<em>`` around matches: the only markup that survives."""
        out, cursor = [], 0
        for start, end in self.spans:
            out.append(html.escape(self.text[cursor:start]))
            out.append(f"<em>{html.escape(self.text[start:end])}</em>")
            cursor = end
        out.append(html.escape(self.text[cursor:]))
        return "".join(out)

    def to_terminal(self, on: str = "\033[1m", off: str = "\033[0m") -> str:
        out, cursor = [], 0
        for start, end in self.spans:
            out += [self.text[cursor:start], on, self.text[start:end], off]
            cursor = end
        out.append(self.text[cursor:])
        return "".join(out).replace("\n", " ")


@dataclass
class SearchResult:
    total: int
    hits: list[dict]
    facets: dict[str, list[dict]]

    def to_dict(self) -> dict:
        hits = []
        for hit in self.hits:
            hits.append({**{k: v for k, v in hit.items() if k != "highlights"},
                         "highlights": [h.to_html() for h in hit["highlights"]]})
        return {"total": self.total, "hits": hits, "facets": self.facets}


def _parse_day(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise ConfigError(f"--{name} {value!r} is not a date (use YYYY-MM-DD)") from exc


def build_query(query: str, *, lang=None, outlet=None, since=None, until=None, source_type=None) -> dict:
    cleaned = query.replace(_PRE, "").replace(_POST, "").strip()
    if cleaned in ("", "*"):
        must: dict = {"match_all": {}}
    else:
        must = {
            "simple_query_string": {
                "query": fold(cleaned),
                "fields": SEARCH_FIELDS,
                "default_operator": "and",
                "lenient": True,
            }
        }
    filters: list[dict] = []
    for name, value in (("language", lang), ("outlet", outlet), ("source_type", source_type)):
        if value:
            filters.append({"term": {name: value.lower() if name != "outlet" else value.lower().removeprefix("www.")}})
    date_range = {k: v for k, v in (("gte", _parse_day(since, "since")), ("lte", _parse_day(until, "until"))) if v}
    if date_range:
        filters.append({"range": {"published_at": date_range}})
    return {"bool": {"must": [must], "filter": filters}}


def _map_back(fragment: str, original: str) -> Highlight:
    """Turn a marked fragment of a folded field into a Highlight on the original text."""
    plain, spans, cursor, start = [], [], 0, None
    i = 0
    while i < len(fragment):
        ch = fragment[i]
        if ch == _PRE:
            start = cursor
        elif ch == _POST and start is not None:
            spans.append((start, cursor))
            start = None
        else:
            plain.append(ch)
            cursor += 1
        i += 1
    folded_fragment = "".join(plain)
    position = fold(original).find(folded_fragment)
    text = original[position:position + len(folded_fragment)] if position >= 0 else folded_fragment
    return Highlight(text=text, spans=spans)


def search(
    query: str,
    *,
    lang: str | None = None,
    outlet: str | None = None,
    since: str | None = None,
    until: str | None = None,
    source_type: str | None = None,
    size: int = 10,
    settings: Settings | None = None,
    es=None,
) -> SearchResult:
    from mediawatch import es as es_access

    settings = settings or load_settings()
    if not 0 <= size <= 1000:
        raise ConfigError("--size must be between 0 and 1000")
    es = es or es_access.client("reader", settings)
    response = es.search(
        index=settings.index_name("articles"),
        query=build_query(query, lang=lang, outlet=outlet, since=since, until=until, source_type=source_type),
        size=size,
        source_includes=HIT_FIELDS + ["text"],
        highlight={
            "pre_tags": [_PRE],
            "post_tags": [_POST],
            "fields": {
                "title_folded": {"number_of_fragments": 0},
                "text_folded": {"fragment_size": 160, "number_of_fragments": 3},
            },
        },
        aggs=FACETS,
        track_total_hits=True,
    )
    hits = []
    for raw in response["hits"]["hits"]:
        source = raw["_source"]
        highlights = [
            _map_back(fragment, source.get(HIGHLIGHTED[name]) or "")
            for name in ("title_folded", "text_folded")
            for fragment in raw.get("highlight", {}).get(name, [])
        ]
        hit = {name: source.get(name) for name in HIT_FIELDS}
        hit["score"] = raw.get("_score")
        hit["highlights"] = highlights
        hits.append(hit)
    facets = {
        name: [{"key": b.get("key_as_string", b["key"]), "count": b["doc_count"]} for b in agg["buckets"]]
        for name, agg in response["aggregations"].items()
    }
    return SearchResult(total=response["hits"]["total"]["value"], hits=hits, facets=facets)
