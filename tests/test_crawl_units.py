"""Crawl building blocks on their own: URLs, address policy, discovery formats, state, WARC archive."""

from __future__ import annotations

import gzip

import pytest

from crawlers.addresses import PRIVATE_HOST_CLASSES, address_class, refusal_reason
from crawlers.archive import WarcArchive, read_response
from crawlers.sources import (
    UnknownFormat,
    decode_google_news_link,
    gdelt_url,
    google_news_url,
    parse_listing,
)
from crawlers.state import CrawlState
from crawlers.urls import canonicalize, page_identity, same_site
from tests.support.localweb import google_news_link, sitemap, sitemap_index


@pytest.mark.parametrize(
    "variant",
    [
        "HTTPS://WWW.Primicias.EC/noticias/glas?b=2&a=1",
        "https://www.primicias.ec:443/noticias/glas?a=1&b=2#comentarios",
        "https://www.primicias.ec/noticias/glas?utm_source=twitter&a=1&utm_medium=social&b=2&fbclid=XYZ",
        "https://user:secret@www.primicias.ec/noticias/glas?a=1&gclid=1&b=2",
    ],
)
def test_tracking_case_port_fragment_variants_share_one_canonical_url(variant):
    assert canonicalize(variant) == "https://www.primicias.ec/noticias/glas?a=1&b=2"


def test_canonicalisation_keeps_what_identifies_the_page():
    assert canonicalize("http://127.0.0.1:8080/a?id=7") == "http://127.0.0.1:8080/a?id=7"
    assert canonicalize("https://example.com") == "https://example.com/"
    assert canonicalize("https://example.com/a?utm_x=1", tracking_params=()) == "https://example.com/a?utm_x=1"


def test_page_identity_trusts_only_a_canonical_on_the_pages_own_site():
    amp = "https://amp.outlet-sample.com/story/amp?utm_source=x#top"
    # An AMP or www variant on the same site is the canonical, without tracking parameters.
    assert page_identity("https://www.outlet-sample.com/story?utm_medium=y&id=7", amp) == "https://www.outlet-sample.com/story?id=7"
    assert page_identity("/story", amp) == "https://amp.outlet-sample.com/story/amp"  # resolving is the caller's job
    # Another site's URL would give the page that site's id and outlet: the page keeps its own.
    assert page_identity("https://other-sample.org/story", amp) == "https://amp.outlet-sample.com/story/amp"
    assert page_identity("javascript:alert(1)", amp) == "https://amp.outlet-sample.com/story/amp"
    assert page_identity(None, amp) == "https://amp.outlet-sample.com/story/amp"
    # Local test sites: each loopback address is a site; ports do not make another one.
    assert page_identity("http://127.0.0.2:8001/a", "http://127.0.0.3:8001/b") == "http://127.0.0.3:8001/b"
    assert page_identity("http://127.0.0.2:8001/a", "http://127.0.0.2:8002/b") == "http://127.0.0.2:8001/a"
    assert page_identity("https://o.org/a?utm_x=1", "https://o.org/b", tracking_params=()) == "https://o.org/a?utm_x=1"


def test_same_site_uses_registered_domains_offline():
    assert same_site("https://www.bbc.co.uk/news/x", "https://bbc.co.uk/mundo")
    assert not same_site("https://www.bbc.co.uk/", "https://www.cnn.com/")
    assert not same_site("http://127.0.0.1:8000/a", "http://localhost:8000/a")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/file", "scheme:ftp"),
        ("file:///etc/passwd", "scheme:file"),
        ("javascript:alert(1)", "scheme:javascript"),
        ("http://127.0.0.1:9200/", "address:loopback:127.0.0.1"),
        ("http://2130706433/", "address:loopback:127.0.0.1"),     # decimal form of 127.0.0.1
        ("http://[::1]/", "address:loopback:::1"),
        ("http://10.1.2.3/", "address:private:10.1.2.3"),
        ("http://192.168.0.10/admin", "address:private:192.168.0.10"),
        ("http://169.254.169.254/latest/meta-data/", "address:metadata:169.254.169.254"),
        ("http://169.254.10.1/", "address:link_local:169.254.10.1"),
        ("http://[::ffff:10.0.0.1]/", "address:private:::ffff:10.0.0.1"),
    ],
)
def test_untrusted_urls_are_refused_with_a_reason(url, reason):
    assert refusal_reason(url) == reason


def test_host_names_are_judged_by_every_address_they_resolve_to():
    def resolver(addresses):
        return lambda host: addresses

    assert refusal_reason("http://news.example/", resolve=resolver(["93.184.215.14"])) is None
    assert refusal_reason("http://rebind.example/", resolve=resolver(["93.184.215.14", "127.0.0.1"])) == \
        "address:loopback:127.0.0.1"

    def unresolvable(host):
        raise OSError("Name or service not known")

    # Not refused: the download fails with a DNS error, recorded as an unreachable host.
    assert refusal_reason("http://offline.example/", resolve=unresolvable) is None


def test_allow_private_hosts_opens_loopback_and_private_only():
    assert refusal_reason("http://127.0.0.1:8000/", PRIVATE_HOST_CLASSES) is None
    assert refusal_reason("http://10.0.0.5/", PRIVATE_HOST_CLASSES) is None
    assert refusal_reason("http://169.254.169.254/", PRIVATE_HOST_CLASSES) == "address:metadata:169.254.169.254"
    assert address_class("8.8.8.8") is None
    assert address_class("100.64.0.1") == "non_public"


def test_google_news_links_resolve_to_the_publisher_url():
    publisher = "https://www.eluniverso.com/noticias/politica/jorge-glas-embajada-mexico-nota/"
    assert decode_google_news_link(google_news_link("https://news.google.com", publisher)) == publisher
    # Newer opaque ids carry no URL: left to the redirect.
    assert decode_google_news_link("https://news.google.com/rss/articles/CBMiWkFVX3lxTE1zYXhZ?oc=5") is None
    assert decode_google_news_link("https://news.google.com/rss/articles/%%%?oc=5") is None
    assert decode_google_news_link("https://example.com/not/google") is None


def test_search_feed_urls_are_built_from_query_language_and_options():
    url = google_news_url('"Jorge Glas" embajada', "es", {"country": "ec"})
    assert url == ("https://news.google.com/rss/search?q=%22Jorge+Glas%22+embajada&hl=es&gl=EC&ceid=EC%3Aes")
    url = gdelt_url('"Jorge Glas" Botschaft', "de", {"base_url": "http://127.0.0.1:1/gdelt", "timespan": "3d"})
    assert url.startswith("http://127.0.0.1:1/gdelt?query=%22Jorge+Glas%22+Botschaft+sourcelang%3Agerman&mode=ArtList")
    assert "format=json" in url and "timespan=3d" in url


def test_rss_atom_rdf_sitemaps_and_gdelt_are_read():
    rss = parse_listing(b"""<?xml version="1.0"?><rss version="2.0"><channel>
        <item><title>Glas</title><link>/a.html</link><pubDate>Sat, 06 Apr 2024 22:00:00 GMT</pubDate>
        <source url="https://www.primicias.ec">Primicias</source></item>
        <item><title>no link</title></item></channel></rss>""", "https://www.primicias.ec/feed/")
    assert rss.kind == "rss"
    assert [(e.url, e.hints["title"], e.hints["publisher"]) for e in rss.entries] == [
        ("https://www.primicias.ec/a.html", "Glas", "Primicias")]

    atom = parse_listing(b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title>
        <link rel="self" href="https://x.org/self"/><link rel="alternate" href="https://x.org/story"/>
        <published>2024-04-06T12:00:00Z</published></entry></feed>""", "https://x.org/")
    assert (atom.kind, [e.url for e in atom.entries]) == ("atom", ["https://x.org/story"])

    rdf = parse_listing(b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
        <channel><title>c</title></channel><item><title>i</title><link>https://x.org/rdf</link></item></rdf:RDF>""", "https://x.org/")
    assert (rdf.kind, [e.url for e in rdf.entries]) == ("rss", ["https://x.org/rdf"])

    news = parse_listing(sitemap(["https://x.org/n1"], news=True, language="pt"), "https://x.org/sitemap.xml")
    assert news.kind == "news_sitemap"
    assert news.entries[0].hints == {"lastmod": "2024-04-06", "published": "2024-04-06T10:00:00Z",
                                     "title": "Artículo 0", "language": "pt", "publisher": "Diario Local"}
    plain = parse_listing(gzip.compress(sitemap(["https://x.org/p"])), "https://x.org/s.xml.gz")
    assert (plain.kind, [e.url for e in plain.entries]) == ("sitemap", ["https://x.org/p"])
    index = parse_listing(sitemap_index(["https://x.org/a.xml", "https://x.org/b.xml"]), "https://x.org/")
    assert (index.kind, index.children, index.entries) == ("sitemap_index", ["https://x.org/a.xml", "https://x.org/b.xml"], [])

    gdelt = parse_listing(b'{"articles": [{"url": "https://www.jornada.com.mx/x", "title": "Glas", '
                          b'"seendate": "20240406T120000Z", "language": "Spanish"}, {"title": "no url"}]}', "https://api")
    assert (gdelt.kind, [(e.url, e.hints["language"]) for e in gdelt.entries]) == (
        "gdelt", [("https://www.jornada.com.mx/x", "Spanish")])


@pytest.mark.parametrize("body", [b"", b"<html><body>page</body></html>", b"{not json", b"<unknown/>"])
def test_unknown_formats_raise_a_clear_error(body):
    with pytest.raises(UnknownFormat):
        parse_listing(body, "https://x.org/")


def test_xml_entities_are_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
            b"<rss><channel><item><title>&b;&ext;</title><link>https://x.org/a</link></item></channel></rss>")
    listing = parse_listing(bomb, "https://x.org/")
    assert "root:" not in listing.entries[0].hints.get("title", "")
    assert "aaaaaaaaaa" not in listing.entries[0].hints.get("title", "")


def test_state_keeps_pages_frontier_and_validators_across_connections(tmp_path):
    state = CrawlState.in_state_dir(tmp_path)
    state.start_run("r1")
    state.enqueue("https://x.org/a", "r1", {"url": "https://x.org/a", "meta": {}})
    state.enqueue("https://x.org/b", "r1", {"url": "https://x.org/b", "meta": {"mw_hops": 1}})
    state.record_page("https://x.org/a", "r1", {"url": "https://x.org/a"}, ["https://x.org/a-final"])
    state.save_validators("https://x.org/feed", '"e1"', "Sun, 07 Apr 2024 00:00:00 GMT")
    state.close()  # r1 never finishes: as if killed

    state = CrawlState.in_state_dir(tmp_path)
    state.start_run("r2")
    assert state.seen_page(["https://x.org/a-final"]) == "https://x.org/a"
    assert list(state.undelivered_pages("r2")) == [{"url": "https://x.org/a"}]
    assert [p["url"] for p in state.pending_requests("r2")] == ["https://x.org/b"]
    assert state.validators("https://x.org/feed") == ('"e1"', "Sun, 07 Apr 2024 00:00:00 GMT")
    state.enqueue("https://x.org/b", "r2", {"url": "https://x.org/b", "meta": {}})
    assert state.count_failure("https://x.org/b") == 1
    state.enqueue("https://x.org/b", "r3", {"url": "https://x.org/b", "meta": {}})
    assert state.count_failure("https://x.org/b") == 2  # re-queueing keeps the failure count
    state.record_page("https://x.org/a", "r2", {"url": "https://x.org/a"}, [])
    state.finish_run("r2")
    assert list(state.undelivered_pages("r3")) == []  # delivered again by r2, which finished
    state.close()


def test_warc_records_read_back_byte_for_byte_and_rotate(tmp_path):
    archive = WarcArchive(tmp_path, "run", max_file_bytes=200)
    bodies = [b"<html>caf\xe9</html>", bytes(range(256)), b""]
    locations = [
        archive.write_response(f"http://x.org/{i}", 200, "OK",
                               [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], body, "2024-04-06T00:00:00Z")
        for i, body in enumerate(bodies)
    ]
    archive.close()
    assert len({file for file, _ in locations}) == 3  # rotated at the size limit
    for i, ((file, offset), body) in enumerate(zip(locations, bodies)):
        record = read_response(tmp_path, file, offset)
        assert (record.url, record.status, record.body) == (f"http://x.org/{i}", 200, body)
        assert record.headers["Content-Type"] == "text/html"
        assert "Content-Encoding" not in record.headers  # the body is stored decoded
