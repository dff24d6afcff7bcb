"""mediawatch search QUERY: full-text search with filters, highlights and facets."""

from __future__ import annotations

import json
import sys

from mediawatch.search import search
from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    parser.add_argument("query", help='words, "a phrase", -exclude, a | b; * for everything')
    parser.add_argument("--lang", help="language code, e.g. es")
    parser.add_argument("--outlet", help="outlet domain, e.g. elpais.com")
    parser.add_argument("--since", help="published on or after YYYY-MM-DD")
    parser.add_argument("--until", help="published on or before YYYY-MM-DD")
    parser.add_argument("--source-type", choices=["seed", "crawl"])
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="one machine-readable JSON document")


def run(args) -> int:
    result = search(
        args.query, lang=args.lang, outlet=args.outlet, since=args.since, until=args.until,
        source_type=args.source_type, size=args.size, settings=load_settings(),
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    bold = sys.stdout.isatty()
    print(f"{result.total} matching articles")
    for number, hit in enumerate(result.hits, 1):
        date = (hit.get("published_at") or "undated")[:10]
        print(f"\n{number}. {hit.get('title') or '(no title)'}")
        print(f"   {hit.get('outlet_name') or hit.get('outlet')} | {hit.get('language')} | {date} | {hit.get('source_type')} | {hit.get('url')}")
        for fragment in hit["highlights"]:
            print("   … " + (fragment.to_terminal() if bold else fragment.to_terminal("[", "]")) + " …")
    for name, buckets in result.facets.items():
        if buckets:
            print(f"\n{name}: " + ", ".join(f"{b['key']} ({b['count']})" for b in buckets))
    return 0
