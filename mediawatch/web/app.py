"""The analyst page: search with the facets of ``mediawatch search``, duplicate
groups collapsed, and the alerts list, read from Elasticsearch as the reader user.

Everything an article carries (title, text, outlet name, even its URL) comes from
pages on the open web and is untrusted. Jinja2 autoescapes every value; the only
markup taken from a search result is a highlight, which
``mediawatch.search.Highlight.to_html`` builds as escaped text around ``<em>``.
Links to originals are emitted only for http(s) URLs. The page runs no script at
all, and its Content-Security-Policy forbids any, so a missed escape still could
not execute.
"""

from __future__ import annotations

import calendar
import logging
from datetime import date
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from elasticsearch import ApiError, Elasticsearch, TransportError
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mediawatch import es as es_access
from mediawatch.search import search
from mediawatch.settings import ConfigError, Settings
from processors.alerts import list_alerts

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Query parameters of the page -> keyword arguments of mediawatch.search.search.
FILTERS = {"lang": "lang", "outlet": "outlet", "since": "since", "until": "until", "source_type": "source_type"}
# Facets of mediawatch.search that are also filters: facet name -> query parameter.
FACET_FILTERS = {"language": "lang", "outlet": "outlet", "source_type": "source_type"}
RESULTS_FETCHED = 50  # hits fetched per search, before duplicate groups are collapsed
ALERTS_SHOWN = 50
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def link_target(url: str | None) -> str | None:
    """The URL if a browser may follow it (http or https), else None: seed URNs and
    ``javascript:``/``data:`` URLs from hostile pages are shown as text, not linked."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def collapse_duplicates(hits: list[dict]) -> list[dict]:
    """One entry per duplicate group, at the rank of its best hit.

    The group's original, when it is among the hits, stands for the group; the
    other hits of the group are listed as its copies.
    """
    entries: list[dict] = []
    by_group: dict[str, dict] = {}
    for hit in hits:
        group = hit.get("duplicate_group")
        if not group:
            entries.append({"hit": hit, "copies": []})
            continue
        entry = by_group.get(group)
        if entry is None:
            by_group[group] = entry = {"hit": hit, "copies": []}
            entries.append(entry)
        elif hit.get("is_original") and not entry["hit"].get("is_original"):
            entry["copies"].insert(0, entry["hit"])
            entry["hit"] = hit
        else:
            entry["copies"].append(hit)
    return entries


def group_sizes(es: Elasticsearch, settings: Settings, groups: list[str]) -> dict[str, int]:
    """Articles in each duplicate group across the whole index, not only in this page."""
    if not groups:
        return {}
    response = es.search(
        index=settings.index_name("articles"),
        size=0,
        query={"terms": {"duplicate_group": groups}},
        aggs={"groups": {"terms": {"field": "duplicate_group", "size": len(groups)}}},
    )
    return {bucket["key"]: bucket["doc_count"] for bucket in response["aggregations"]["groups"]["buckets"]}


def month_range(month: str) -> tuple[str, str]:
    """'2024-04' -> ('2024-04-01', '2024-04-30'): the filters of a month facet."""
    year, number = (int(part) for part in month.split("-")[:2])
    last = calendar.monthrange(year, number)[1]
    return date(year, number, 1).isoformat(), date(year, number, last).isoformat()


def _page_url(params: dict[str, str], **changes: str | None) -> str:
    merged = {**params, **changes}
    return "/?" + urlencode({k: v for k, v in merged.items() if v})


def _facet_links(facets: dict[str, list[dict]], params: dict[str, str]) -> dict[str, list[dict]]:
    """Facet buckets with the page URL that filters on each (None: not a filter)."""
    linked = {}
    for name, buckets in facets.items():
        linked[name] = []
        for bucket in buckets:
            key = str(bucket["key"])
            if name in FACET_FILTERS:
                url = _page_url(params, **{FACET_FILTERS[name]: key})
            elif name == "month":
                since, until = month_range(key)
                url = _page_url(params, since=since, until=until)
            else:
                url = None
            linked[name].append({"key": key, "count": bucket["count"], "url": url})
    return linked


def _present(hit: dict) -> dict:
    """A hit as the template shows it: highlights as markup, the title highlighted when it matched."""
    fragments = list(hit["highlights"])
    title_html = None
    for fragment in fragments:
        if hit.get("title") and fragment.text == hit["title"]:
            title_html = Markup(fragment.to_html())
            fragments.remove(fragment)
            break
    return {
        **hit,
        "link": link_target(hit.get("url")),
        "title_html": title_html,
        "snippets": [Markup(fragment.to_html()) for fragment in fragments],
    }


def create_app(settings: Settings, es: Elasticsearch | None = None) -> Starlette:
    """The ASGI application; ``es`` defaults to a reader client for ``settings``."""
    reader = es or es_access.client("reader", settings)
    templates = Jinja2Templates(directory=HERE / "templates")

    def render(request: Request, context: dict, status_code: int = 200):
        return templates.TemplateResponse(
            request, "search.html", context, status_code=status_code, headers=SECURITY_HEADERS
        )

    def search_page(request: Request):
        params = {name: request.query_params.get(name, "").strip() for name in ("q", *FILTERS)}
        context: dict = {"params": params, "result": None, "entries": [], "facets": {}, "alerts": [], "error": None}
        try:
            context["alerts"] = [
                {**alert, "link": link_target(alert.get("article_url"))}
                for alert in list_alerts(settings, reader, include_baseline=True, size=ALERTS_SHOWN)
            ]
            if any(params.values()):
                result = search(
                    params["q"] or "*",
                    **{FILTERS[name]: params[name] or None for name in FILTERS},
                    size=RESULTS_FETCHED,
                    settings=settings,
                    es=reader,
                )
                entries = collapse_duplicates([_present(hit) for hit in result.hits])
                sizes = group_sizes(reader, settings, [e["hit"]["duplicate_group"] for e in entries if e["hit"].get("duplicate_group")])
                for entry in entries:
                    entry["group_size"] = sizes.get(entry["hit"].get("duplicate_group"), 1 + len(entry["copies"]))
                context.update(result=result, entries=entries, facets=_facet_links(result.facets, params))
        except ConfigError as exc:
            context["error"] = str(exc)
            return render(request, context, status_code=400)
        except (ApiError, TransportError) as exc:
            log.error("Elasticsearch error while serving %s: %s", request.url.path, exc)
            context["error"] = f"Elasticsearch at {es_access.es_url(settings)} could not answer: {exc.__class__.__name__}"
            return render(request, context, status_code=503)
        return render(request, context)

    return Starlette(
        routes=[
            Route("/", search_page),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
