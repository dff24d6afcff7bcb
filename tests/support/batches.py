"""Crawl batches for processing tests, written the way the crawler writes them.

Responses go into WARC files through the crawler's own ``crawlers.archive.WarcArchive``
and each page gets a ``FetchedPage`` line in ``<state>/batches/<topic>/<time>/batch.jsonl``,
so the pipeline reads them exactly as it reads a real crawl. Page bodies are real:
corpus pages from ``../shared/corpora`` and the seed texts; the article pages around
the seed texts are written here, each with its outlet's own navigation and footer.
"""

from __future__ import annotations

import gzip
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from crawlers.archive import WarcArchive
from mediawatch.records import FetchedPage
from mediawatch.settings import PROJECT_ROOT, Settings
from mediawatch.tasks import BATCH_FILE, new_batch_dir

SHARED = PROJECT_ROOT.parent / "shared"
WEB_PAGES = SHARED / "corpora" / "web-pages" / "html"
SEEDS = SHARED / "seeds"
FETCHED_AT = "2024-05-20T10:00:00+00:00"


@dataclass
class Page:
    """One line of a test batch: a response to archive, or a crawl outcome without one."""

    url: str
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    outcome: str = "fetched"
    reason: str = ""
    status: int = 200
    encoding: str | None = None
    archived: bool = True  # False: a fetched line whose WARC pointer is missing
    hints: dict = field(default_factory=dict)


def corpus_pages(count: int, start: int = 0) -> list[Page]:
    """Real pages from the web-pages corpus (none of them about the topic)."""
    files = sorted(WEB_PAGES.glob("*.html.gz"))[start : start + count]
    return [Page(f"https://pages.corpus-sample.org/{f.name.split('.')[0]}.html", gzip.decompress(f.read_bytes())) for f in files]


def seed_text(number: int) -> tuple[str, list[str]]:
    """(title, paragraphs) of seed ``number`` (0 or 1), as published."""
    path = sorted(SEEDS.glob("*.txt"))[number]
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0], lines[1:]


def article_html(
    title: str,
    paragraphs: list[str],
    *,
    site_name: str,
    canonical: str,
    published: str | None,
    lang: str = "en",
    author: str | None = None,
) -> bytes:
    """An outlet's article page: head metadata, navigation, the article, related links, footer."""
    meta = [
        f'<meta property="og:site_name" content="{html.escape(site_name)}">',
        f'<meta property="og:title" content="{html.escape(title)}">',
        f'<link rel="canonical" href="{html.escape(canonical)}">',
    ]
    if published:
        meta.append(f'<meta property="article:published_time" content="{published}">')
    if author:
        meta.append(f'<meta name="author" content="{html.escape(author)}">')
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)} | {html.escape(site_name)}</title>
{chr(10).join(meta)}</head>
<body>
<header><nav><a href="/">{html.escape(site_name)}</a> <a href="/world">World</a> <a href="/politics">Politics</a>
<a href="/opinion">Opinion</a> <a href="/subscribe">Subscribe</a></nav></header>
<main><article>
<h1>{html.escape(title)}</h1>
{body}
</article>
<aside><h2>Most read</h2><ul><li><a href="/a">Markets close higher on Friday</a></li>
<li><a href="/b">Weather: storms expected this weekend</a></li></ul></aside></main>
<footer><p>&copy; 2024 {html.escape(site_name)}. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>"""
    return page.encode("utf-8")


def write_batch(settings: Settings, topic_name: str, pages: list[Page], *, run_id: str | None = None) -> Path:
    """Archive the pages and write their batch file; returns the batch path."""
    batch_dir = new_batch_dir(settings, topic_name)
    archive = WarcArchive(settings.state_dir, run_id or batch_dir.name, max_file_bytes=50 * 1024 * 1024)
    lines = []
    for page in pages:
        record = FetchedPage(
            url=page.url,
            source_id="test",
            source_kind="page",
            outcome=page.outcome,
            reason=page.reason,
            final_url=page.url if page.outcome == "fetched" else None,
            canonical_url=page.url,
            status=page.status if page.outcome == "fetched" else None,
            fetched_at=FETCHED_AT,
            content_type=page.content_type if page.outcome == "fetched" else None,
            encoding=page.encoding,
            topic=topic_name,
            hints=page.hints,
        )
        if page.outcome == "fetched" and page.archived:
            headers = [("Content-Type", page.content_type)]
            record.warc_file, record.warc_offset = archive.write_response(
                page.url, page.status, "OK", headers, page.body or b"", FETCHED_AT
            )
        lines.append(json.dumps(record.to_dict(), ensure_ascii=False))
    archive.close()
    path = batch_dir / BATCH_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
