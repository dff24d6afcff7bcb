"""A small local web over real HTTP on loopback addresses for crawl tests and benchmarks.

``LocalWeb`` is a threaded ``http.server`` that serves whatever was added to it:
pages, RSS/Atom feeds generated from the entries added to them, sitemaps,
plain responses and dynamic handlers. Feeds and sitemaps answer conditional
GETs (ETag / Last-Modified). Every request is logged so tests can assert what
was fetched and how often.

``build_fixture_site(web)`` fills it with the standard crawl fixture: real pages
from ``../shared/corpora/web-pages/`` plus every awkward case a crawler meets
(robots.txt, redirects and a loop, 404/500, timeouts, a slow drip, an oversized
and a binary response, a legacy-encoding page, tracking-parameter duplicates, a
feed link to a metadata address, Google News / GDELT shaped search answers).

Other tests add their own articles at run time::

    web.add_page("/news/glas.html", html, feed="/feeds/affair.xml", title="Glas")

Tests about outlets serve each outlet from its own site with ``outlet_webs(n)``
(127.0.0.2, 127.0.0.3, ...), so every page is served where its canonical URL says:
a page's identity and outlet come from a canonical only on its own site
(``crawlers.urls.page_identity``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from typing import Any
from xml.sax.saxutils import escape

import yaml

from mediawatch.settings import PROJECT_ROOT

CORPUS_DIR = PROJECT_ROOT.parent / "shared" / "corpora" / "web-pages" / "html"

# Published and modified dates of generated feeds: fixed, so validators are stable.
_LAST_MODIFIED = formatdate(1712448000, usegmt=True)  # 2024-04-07

_CANONICAL_LINK = re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?canonical\b[^>]*>", re.I)


def corpus_pages(limit: int | None = None) -> list[tuple[str, bytes]]:
    """(name, html bytes) of the real pages, sorted by name.

    Their rel=canonical links point at the original sites; they are removed so a
    page served here is its own canonical (tests add canonical links on purpose).
    """
    files = sorted(CORPUS_DIR.glob("*.html.gz"))[:limit]
    return [(f.name.removesuffix(".html.gz"), _CANONICAL_LINK.sub(b"", gzip.decompress(f.read_bytes()))) for f in files]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0            # seconds before answering
    drip: float | None = None     # seconds between single bytes of the body (slow drip)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str                     # path and query as requested
    headers: dict[str, str]
    status: int
    at: float                     # time.monotonic() when it arrived


@dataclass
class FeedEntry:
    url: str
    title: str
    published: str = "Sat, 06 Apr 2024 12:00:00 GMT"


@dataclass
class _Feed:
    kind: str                     # rss | atom
    title: str
    entries: list[FeedEntry] = field(default_factory=list)


def google_news_link(base: str, publisher_url: str) -> str:
    """A Google News article link in the shape whose id carries the publisher URL
    (URL-safe base64 of a protobuf: field 4 = the URL)."""
    raw = publisher_url.encode()
    n, varint = len(raw), bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        varint.append(byte | (0x80 if n else 0))
        if not n:
            break
    data = b"\x08\x13\x22" + bytes(varint) + raw + b"\xd2\x01\x00"
    return f"{base}/rss/articles/{base64.urlsafe_b64encode(data).decode().rstrip('=')}?oc=5"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up mid-response (timeouts, size limits) are expected here.
        pass


class LocalWeb:
    """One site: a server on ``host`` (a loopback address) and a free port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._static: dict[str, Reply] = {}
        self._feeds: dict[str, _Feed] = {}
        self._handlers: list[tuple[str, Callable[[str, dict[str, list[str]]], Reply]]] = []
        self.requests: list[LoggedRequest] = []
        self._stopping = threading.Event()
        self._server = _QuietServer((host, 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="localweb", daemon=True)

    # lifecycle
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> "LocalWeb":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # content
    def add_reply(self, path: str, reply: Reply) -> None:
        with self._lock:
            self._static[path] = reply

    def add_page(self, path: str, html: str | bytes, content_type: str = "text/html; charset=utf-8",
                 feed: str | None = None, title: str | None = None, published: str | None = None,
                 status: int = 200) -> str:
        """Serve ``html`` at ``path``; with ``feed``, also list it in that feed (created as RSS
        if new). Returns the page's absolute URL."""
        body = html.encode("utf-8") if isinstance(html, str) else html
        self.add_reply(path, Reply(status, body, {"Content-Type": content_type}))
        if feed is not None:
            self.add_feed_entry(feed, self.url(path), title=title or path, published=published)
        return self.url(path)

    def add_feed(self, path: str, kind: str = "rss", title: str = "mediawatch test feed") -> None:
        with self._lock:
            self._feeds.setdefault(path, _Feed(kind, title))

    def add_feed_entry(self, feed: str, url: str, title: str | None = None, published: str | None = None) -> None:
        """List ``url`` (absolute, any scheme or host) in the feed at path ``feed``."""
        self.add_feed(feed)
        entry = FeedEntry(url, title or url, **({"published": published} if published else {}))
        with self._lock:
            self._feeds[feed].entries.append(entry)

    def add_handler(self, prefix: str, handler: Callable[[str, dict[str, list[str]]], Reply]) -> None:
        """Answer every path starting with ``prefix`` with ``handler(path, query)``."""
        with self._lock:
            self._handlers.append((prefix, handler))

    def served_body(self, path: str) -> bytes:
        """The body served at ``path`` (a page or plain reply), as sent."""
        with self._lock:
            return self._static[path].body

    def hits(self, path: str) -> int:
        """How many GET requests asked for ``path`` (query string included when given)."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == "GET" and (r.path == path or r.path.split("?")[0] == path))

    # rendering
    def _feed_reply(self, feed: _Feed, request_headers: dict[str, str]) -> Reply:
        body = _render_feed(feed, self.base_url)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": _LAST_MODIFIED,
                   "Content-Type": "application/rss+xml; charset=utf-8" if feed.kind == "rss"
                   else "application/atom+xml; charset=utf-8"}
        if request_headers.get("if-none-match") == etag:
            return Reply(304, b"", headers)
        return Reply(200, body, headers)

    def _resolve(self, raw_path: str, request_headers: dict[str, str]) -> Reply:
        parts = urlsplit(raw_path)
        with self._lock:
            feed = self._feeds.get(parts.path)
            static = self._static.get(raw_path) or self._static.get(parts.path)
            handlers = list(self._handlers)
        if feed is not None:
            return self._feed_reply(feed, request_headers)
        if static is not None:
            etag = static.headers.get("ETag")
            if etag and request_headers.get("if-none-match") == etag:
                return Reply(304, b"", static.headers)
            return static
        for prefix, handler in handlers:
            if parts.path.startswith(prefix):
                return handler(parts.path, parse_qs(parts.query))
        return Reply(404, b"<html><body>not found</body></html>", {"Content-Type": "text/html"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = web._resolve(self.path, headers)
                with web._lock:
                    web.requests.append(LoggedRequest("GET", self.path, headers, reply.status, time.monotonic()))
                if reply.delay and web._stopping.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.drip is None:
                        self.wfile.write(reply.body)
                        return
                    for i in range(len(reply.body)):
                        if web._stopping.wait(reply.drip):
                            return
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up (timeout, size limit): that is what is being tested

            def log_message(self, format: str, *args) -> None:  # quiet: the request log is in web.requests
                pass

        return Handler


@contextmanager
def outlet_webs(count: int) -> Iterator[list[LocalWeb]]:
    """``count`` started local webs on 127.0.0.2, 127.0.0.3, ...: one site and outlet each.

    Linux routes all of 127.0.0.0/8 to loopback. An IP host is a site by its address and an
    outlet by address and port (``127.0.0.2:41234``), so these are told apart from each other
    and from a ``LocalWeb()`` on 127.0.0.1 (where feeds can list them all).
    """
    webs: list[LocalWeb] = []
    try:
        for n in range(2, 2 + count):
            webs.append(LocalWeb(host=f"127.0.0.{n}").start())
        yield webs
    finally:
        for web in webs:
            web.stop()


def _render_feed(feed: _Feed, base_url: str) -> bytes:
    if feed.kind == "atom":
        entries = "".join(
            f"<entry><title>{escape(e.title)}</title><link rel=\"alternate\" href=\"{escape(e.url)}\"/>"
            f"<id>{escape(e.url)}</id><updated>2024-04-06T12:00:00Z</updated></entry>"
            for e in feed.entries
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{escape(feed.title)}</title><id>{base_url}/</id><updated>2024-04-07T00:00:00Z</updated>"
                f"{entries}</feed>").encode()
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(e.url)}</link>"
        f"<guid>{escape(e.url)}</guid><pubDate>{e.published}</pubDate></item>"
        for e in feed.entries
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(feed.title)}</title>'
            f"<link>{base_url}/</link><description>test</description>{items}</channel></rss>").encode()


def sitemap(urls: list[str], news: bool = False, language: str = "es") -> bytes:
    """A sitemap (with Google News tags when ``news``) listing ``urls``."""
    ns_news = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    body = []
    for i, url in enumerate(urls):
        tags = ""
        if news:
            tags = (f"<news:news><news:publication><news:name>Diario Local</news:name>"
                    f"<news:language>{language}</news:language></news:publication>"
                    f"<news:publication_date>2024-04-06T1{i % 10}:00:00Z</news:publication_date>"
                    f"<news:title>Artículo {i}</news:title></news:news>")
        body.append(f"<url><loc>{escape(url)}</loc><lastmod>2024-04-06</lastmod>{tags}</url>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
            f"{ns_news}>{''.join(body)}</urlset>").encode()


def sitemap_index(urls: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{escape(u)}</loc></sitemap>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>').encode()


def xml_reply(body: bytes, content_type: str = "application/xml") -> Reply:
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    return Reply(200, body, {"Content-Type": content_type, "ETag": etag, "Last-Modified": _LAST_MODIFIED})


@dataclass
class FixtureSite:
    """What ``build_fixture_site`` serves, by role, so tests can name the expected outcomes."""

    rss: str
    atom: str
    sitemap_index: str
    section: str
    google_news_base: str
    gdelt_base: str
    rss_articles: list[str]
    atom_articles: list[str]
    sitemap_articles: list[str]
    section_articles: list[str]
    google_articles: list[str]
    gdelt_articles: list[str]
    special: dict[str, str]       # role -> URL as listed in a feed
    legacy_text: str              # a phrase of the legacy-encoding page, as Unicode


LEGACY_PHRASE = "Embajada de México en Quito: irrupción policial, señaló el Ministerio"
RETRY_AFTER_SECONDS = 1
OVERSIZE_BYTES = 3 * 1024 * 1024  # above the tests' DOWNLOAD_MAXSIZE of 1 MiB


def build_fixture_site(web: LocalWeb, pages: int = 16, slow_seconds: float = 4.0) -> FixtureSite:
    """Fill ``web`` with the standard crawl fixture (see the module docstring)."""
    real = corpus_pages(pages)
    paths = [f"/articles/{name}.html" for name, _ in real]
    for path, (_, body) in zip(paths, real):
        web.add_reply(path, Reply(200, body, {"Content-Type": "text/html"}))
    urls = [web.url(p) for p in paths]
    rss_articles, atom_articles, sitemap_articles = urls[0:4], urls[4:6], urls[6:9]
    section_articles, google_articles, gdelt_articles = urls[9:11], urls[11:13], urls[13:16]

    web.add_reply("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}))
    web.add_reply("/private/memo.html", Reply(200, b"<html><body>internal</body></html>", {"Content-Type": "text/html"}))
    web.add_reply("/redirect/article", Reply(301, b"", {"Location": rss_articles[0].replace(web.base_url, "")}))
    web.add_reply("/redirect/fresh", Reply(302, b"", {"Location": "/articles/fresh-after-redirect.html"}))
    web.add_reply("/articles/fresh-after-redirect.html",
                  Reply(200, b"<html><head><title>fresh</title></head><body><p>redirected</p></body></html>",
                        {"Content-Type": "text/html; charset=utf-8"}))
    web.add_reply("/loop/a", Reply(302, b"", {"Location": "/loop/b"}))
    web.add_reply("/loop/b", Reply(302, b"", {"Location": "/loop/a"}))
    web.add_reply("/status/500", Reply(500, b"<html><body>server error</body></html>", {"Content-Type": "text/html"}))
    web.add_reply("/status/503", Reply(503, b"<html><body>busy</body></html>",
                                       {"Content-Type": "text/html", "Retry-After": str(RETRY_AFTER_SECONDS)}))
    web.add_reply("/slow/timeout", Reply(200, b"<html><body>too late</body></html>", {"Content-Type": "text/html"},
                                         delay=slow_seconds))
    web.add_reply("/slow/drip", Reply(200, b"<html><body>" + b"x" * 200 + b"</body></html>",
                                      {"Content-Type": "text/html"}, drip=slow_seconds / 10))
    web.add_reply("/big.html", Reply(200, b"<html><body>" + b"a" * OVERSIZE_BYTES + b"</body></html>",
                                     {"Content-Type": "text/html"}))
    web.add_reply("/files/report.pdf", Reply(200, b"%PDF-1.4\n" + bytes(range(256)) * 8, {"Content-Type": "application/pdf"}))
    legacy = (f"<html><head><meta charset=\"windows-1252\"><title>Quito</title></head>"
              f"<body><p>{LEGACY_PHRASE} \u2013 \u201cgrave\u201d.</p></body></html>").encode("cp1252")
    web.add_reply("/legacy/cp1252.html", Reply(200, legacy, {"Content-Type": "text/html"}))

    def article(title: str, head: str = "") -> Reply:
        return Reply(200, (f"<html><head><title>{title}</title>{head}</head>"
                           f"<body><p>{title}</p></body></html>").encode(), {"Content-Type": "text/html; charset=utf-8"})

    web.add_reply("/articles/original.html", article("original"))
    web.add_reply("/articles/amp-copy.html", article("copy", '<link rel="canonical" href="/articles/original.html">'))
    web.add_reply("/articles/syndicated.html",
                  article("syndicated", '<link rel="Canonical" href="https://www.eluniverso.com/noticias/x.html">'))

    special = {
        "robots": web.url("/private/memo.html"),
        "redirect_to_known": web.url("/redirect/article"),
        "redirect_fresh": web.url("/redirect/fresh"),
        "loop": web.url("/loop/a"),
        "not_found": web.url("/status/404"),
        "server_error": web.url("/status/500"),
        "busy": web.url("/status/503"),
        "timeout": web.url("/slow/timeout"),
        "drip": web.url("/slow/drip"),
        "oversized": web.url("/big.html"),
        "binary": web.url("/files/report.pdf"),
        "legacy": web.url("/legacy/cp1252.html"),
        "canonical_original": web.url("/articles/original.html"),
        "canonical_copy": web.url("/articles/amp-copy.html"),
        "canonical_other_site": web.url("/articles/syndicated.html"),
        "tracking_dup_1": rss_articles[1] + "?utm_source=rss&utm_medium=feed",
        "tracking_dup_2": rss_articles[1] + "?utm_campaign=glas#comments",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "ftp": "ftp://127.0.0.1/pub/file.html",
    }
    web.add_feed("/feeds/news.rss", "rss", "Diario Local")
    for url in rss_articles:
        web.add_feed_entry("/feeds/news.rss", url, title=f"Article {url.rsplit('/', 1)[1]}")
    for role, url in special.items():
        web.add_feed_entry("/feeds/news.rss", url, title=role)
    web.add_feed("/feeds/news.atom", "atom", "Semanario Local")
    for url in atom_articles:
        web.add_feed_entry("/feeds/news.atom", url)

    web.add_reply("/sitemaps/news.xml", xml_reply(sitemap(sitemap_articles[:2], news=True)))
    web.add_reply("/sitemaps/more.xml.gz", Reply(200, gzip.compress(sitemap(sitemap_articles[2:])),
                                                 {"Content-Type": "application/x-gzip"}))
    web.add_reply("/sitemaps/index.xml", xml_reply(sitemap_index([web.url("/sitemaps/news.xml"),
                                                                  web.url("/sitemaps/more.xml.gz")])))
    links = "".join(f'<li><a href="{u.replace(web.base_url, "")}">story</a></li>' for u in section_articles)
    web.add_reply("/sections/politica.html", Reply(200, (
        f"<html><head><title>Política</title></head><body><ul>{links}"
        f'<li><a href="http://localhost:{web.base_url.rsplit(":", 1)[1]}/elsewhere.html">other site</a></li>'
        f'<li><a href="mailto:desk@example.org">write to us</a></li></ul></body></html>').encode(),
        {"Content-Type": "text/html; charset=utf-8"}))

    google_base = web.url("/gnews")

    def google_news(path: str, query: dict[str, list[str]]) -> Reply:
        if path != "/gnews/rss/search":
            # Article links whose id holds no URL redirect to the publisher, as Google's do.
            return Reply(302, b"", {"Location": google_articles[1]})
        lang = query.get("hl", ["en"])[0]
        items = "".join(
            f"<item><title>{escape(query.get('q', [''])[0])} - Diario</title>"
            f"<link>{escape(google_news_link(google_base, url))}</link>"
            f"<guid isPermaLink=\"false\">CBMi{i}</guid><pubDate>Sat, 06 Apr 2024 2{i}:00:00 GMT</pubDate>"
            f"<source url=\"{web.base_url}\">Diario Local</source></item>"
            for i, url in enumerate(google_articles[:1])
        ) + (f"<item><title>Opaque link</title><link>{google_base}/rss/articles/AU_yqLOpaqueReference?oc=5</link>"
             f"<source url=\"{web.base_url}\">Diario Local</source></item>")
        body = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0" '
                f'xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator>'
                f"<title>Google News</title><language>{lang}</language>{items}</channel></rss>").encode()
        return Reply(200, body, {"Content-Type": "application/xml; charset=utf-8"})

    web.add_handler("/gnews/", google_news)

    def gdelt(path: str, query: dict[str, list[str]]) -> Reply:
        articles = [{"url": u, "url_mobile": "", "title": f"Glas {i}", "seendate": "20240406T120000Z",
                     "socialimage": "", "domain": "127.0.0.1", "language": "Spanish", "sourcecountry": "Ecuador"}
                    for i, u in enumerate(gdelt_articles)]
        return Reply(200, json.dumps({"articles": articles}).encode(), {"Content-Type": "application/json; charset=utf-8"})

    web.add_handler("/gdelt/", gdelt)

    return FixtureSite(
        rss=web.url("/feeds/news.rss"), atom=web.url("/feeds/news.atom"), sitemap_index=web.url("/sitemaps/index.xml"),
        section=web.url("/sections/politica.html"), google_news_base=web.url("/gnews/rss/search"),
        gdelt_base=web.url("/gdelt/api/v2/doc/doc"), rss_articles=rss_articles, atom_articles=atom_articles,
        sitemap_articles=sitemap_articles, section_articles=section_articles, google_articles=google_articles,
        gdelt_articles=gdelt_articles, special=special, legacy_text=LEGACY_PHRASE,
    )


# Production settings with throttling off and small limits, so the awkward cases
# (timeouts, retries, size limit) resolve in seconds; everything else stays on.
FAST_CRAWL = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "DOWNLOAD_TIMEOUT": 2,
    "RETRY_TIMES": 1,
    "MEDIAWATCH_RETRY_BACKOFF_BASE": 0.2,
    "DOWNLOAD_MAXSIZE": 1024 * 1024,
}


def write_topic(path: Path, sources: list[dict[str, Any]], base: Path = PROJECT_ROOT / "topics" / "glas_embassy.yaml") -> Path:
    """A copy of the project's topic (vocabulary, queries, claims) with ``sources`` replaced."""
    topic = yaml.safe_load(base.read_text(encoding="utf-8"))
    topic["sources"] = sources
    path.write_text(yaml.safe_dump(topic, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def fixture_sources(site: FixtureSite, languages: tuple[str, ...] = ("es",)) -> list[dict[str, Any]]:
    """One source of every kind, all on the fixture site."""
    return [
        {"id": "local_rss", "kind": "rss", "url": site.rss},
        {"id": "local_atom", "kind": "atom", "url": site.atom},
        {"id": "local_sitemap", "kind": "sitemap", "url": site.sitemap_index},
        {"id": "local_section", "kind": "page", "url": site.section, "max_depth": 1},
        {"id": "local_google_news", "kind": "google_news", "languages": list(languages), "base_url": site.google_news_base},
        {"id": "local_gdelt", "kind": "gdelt", "languages": list(languages), "base_url": site.gdelt_base},
    ]
