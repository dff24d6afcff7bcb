"""Extraction stage on real pages from the shared corpora, and on the inputs a crawler meets
(wrong or missing charsets, BOMs, broken markup, empty pages, binary junk)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from evaluation.extraction import shingle_precision_recall
from processors.extract import ExtractionError, decode_html, extract_article

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
BENCHMARK = CORPORA / "extraction-benchmark"
WEB_PAGES = CORPORA / "web-pages"

WSJ_ID = "042bb7b5fedab6eac7db576522b89b93904c237d344bcbe14a6a5ab7f7335856"
# Real pages with awkward encodings: Latin-1 without any declaration, and UTF-8 declared
# pages carrying a few stray Latin-1 / truncated bytes.
LATIN1_UNDECLARED = "https://shop.nmb-media.de/eBay-Template-Datenschutz-Google-Fonts-Fontawesome"
UTF8_WITH_STRAY_BYTES = "https://www.radiomaryja.pl/informacje/sprzeciw-wobec-atakow-na-fundacje-lux-veritatis/"


def _benchmark_page(page_id: str) -> tuple[bytes, dict]:
    gold = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))[page_id]
    return gzip.decompress((BENCHMARK / "html" / f"{page_id}.html.gz").read_bytes()), gold


def _web_page(url: str) -> tuple[bytes, dict]:
    entry = json.loads((WEB_PAGES / "segments.json").read_text(encoding="utf-8"))[url]
    return gzip.decompress((WEB_PAGES / "html" / entry["file"]).read_bytes()), entry


def _article_html(body: str, head: str = "", html_attrs: str = "") -> str:
    paragraphs = "".join(f"<p>{body} Sentence number {i} adds more words to this paragraph.</p>" for i in range(8))
    return (f"<!DOCTYPE html><html {html_attrs}><head><title>Test page</title>{head}</head>"
            f"<body><nav><a href='/'>Home</a></nav><article><h1>Test page</h1>{paragraphs}</article></body></html>")


def test_real_article_text_and_metadata():
    html, gold = _benchmark_page(WSJ_ID)
    article = extract_article(html, gold["url"])
    precision, recall = shingle_precision_recall(article.text, gold["articleBody"])
    assert recall > 0.9 and precision > 0.6
    assert article.title.startswith("Google Stadia, Microsoft xCloud, Apple Arcade")
    assert article.authors == ["Sarah E Needleman"]
    assert article.published_at == "2019-11-19"
    assert article.outlet_name == "Wall Street Journal"
    assert article.description and article.description.startswith("There are more devices")
    assert article.canonical_url == gold["url"]
    assert article.declared_language == "en"
    assert article.word_count > 50
    assert article.html is None


def test_string_input_gives_the_same_record_as_bytes():
    html, gold = _benchmark_page(WSJ_ID)
    assert extract_article(html.decode("utf-8"), gold["url"]) == extract_article(html, gold["url"])


def test_undeclared_latin1_page_is_decoded():
    html, _ = _web_page(LATIN1_UNDECLARED)
    article = extract_article(html, LATIN1_UNDECLARED)
    assert "Aus datenschutzrechtlichen Gründen wird" in article.text
    assert "\ufffd" not in article.text
    assert article.declared_language == "de"


def test_utf8_page_with_stray_bytes_stays_utf8():
    html, _ = _web_page(UTF8_WITH_STRAY_BYTES)
    with pytest.raises(UnicodeDecodeError):
        html.decode("utf-8")
    article = extract_article(html, UTF8_WITH_STRAY_BYTES)
    assert article.title == "Sprzeciw wobec ataków na Fundację Lux Veritatis"
    assert "sprzeciwiają się" in article.text


@pytest.mark.parametrize("codec", ["cp1252", "iso-8859-15"])
def test_legacy_charset_declared_in_meta(codec):
    text = "La embajada de México en Quito fue asaltada; el exvicepresidente Jorge Glas, detenido."
    page = _article_html(text, head=f'<meta charset="{codec}">', html_attrs='lang="es"')
    article = extract_article(page.encode(codec), "https://example.org/a")
    assert "La embajada de México en Quito fue asaltada" in article.text


def test_charset_from_transport_header_wins_over_guessing():
    text = "Москва заявила о нарушении Венской конвенции после штурма посольства Мексики в Кито."
    page = _article_html(text)
    article = extract_article(page.encode("koi8_r"), "https://example.org/ru", encoding="koi8-r")
    assert "штурма посольства Мексики" in article.text


def test_utf8_mislabelled_as_latin1():
    text = "Asalto a la embajada: la policía ecuatoriana irrumpió en la sede diplomática mexicana."
    page = _article_html(text, head='<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">')
    article = extract_article(page.encode("utf-8"), "https://example.org/b", encoding="iso-8859-1")
    assert "la policía ecuatoriana irrumpió" in article.text


@pytest.mark.parametrize("bom_codec", ["utf-8-sig", "utf-16"])
def test_byte_order_mark(bom_codec):
    text = "Le Mexique a rompu ses relations diplomatiques avec l'Équateur après l'assaut."
    article = extract_article(_article_html(text).encode(bom_codec), "https://example.org/c")
    assert "Le Mexique a rompu ses relations diplomatiques" in article.text


def test_decode_html_prefers_valid_utf8_and_detects_otherwise():
    assert decode_html("Ñandú".encode("utf-8"), "iso-8859-1") == "Ñandú"
    sample = ("<html><body><p>" + "Überraschung für die Botschaft in Quito. " * 20 + "</p></body></html>")
    assert "Überraschung für die Botschaft" in decode_html(sample.encode("cp1252"))


def test_canonical_and_declared_language_from_markup():
    head = ('<link rel="canonical" href="/noticias/glas-embajada">'
            '<meta property="og:url" content="https://other.example/ignored">')
    article = extract_article(_article_html("Texto del artículo sobre Jorge Glas.", head, 'lang="es-EC"'),
                              "https://amp.example.com/amp/noticias/glas-embajada?utm_source=x")
    assert article.canonical_url == "https://amp.example.com/noticias/glas-embajada"
    assert article.declared_language == "es"


def test_og_url_and_og_locale_when_no_canonical_link_or_lang():
    head = '<meta property="og:url" content="https://www.example.com.br/a"><meta property="og:locale" content="pt_BR">'
    article = extract_article(_article_html("Texto sobre a invasão da embaixada.", head), "https://m.example.com.br/a")
    assert article.canonical_url == "https://www.example.com.br/a"
    assert article.declared_language == "pt"


def test_no_canonical_keeps_the_url():
    article = extract_article(_article_html("Plain text about the embassy raid."), "https://example.net/x")
    assert article.canonical_url == "https://example.net/x"
    assert article.declared_language is None


def test_truncated_real_page_still_extracts():
    html, gold = _benchmark_page(WSJ_ID)
    start = html.find(b"Gaming used to be so simple")
    article = extract_article(html[: start + 3000], gold["url"])
    assert "Gaming used to be so simple" in article.text


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "empty page"),
        (b"   \r\n\t ", "empty page"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary content (pdf)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content (png)"),
        (random.Random(0).randbytes(4096), "binary content"),
        (b"<html><head><title>x</title></head><body></body></html>", "no main text"),
        (b"<html><body><script>var page = {};</script><style>p {}</style></body>", "no main text"),
        (b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00", "no main text"),
        (b'{"id": 1, "items": [1, 2, 3]}', "unparseable HTML"),
        (b"<!-- nothing but a comment -->", "unparseable HTML"),
        (b'<html><frameset><frame src="a.html"></frameset></html>', "no main text"),
    ],
)
def test_pages_without_text_are_refused_with_a_reason(payload, reason):
    with pytest.raises(ExtractionError) as error:
        extract_article(payload, "https://example.org/junk")
    assert reason in error.value.reason


def test_empty_text_input_is_refused():
    with pytest.raises(ExtractionError, match="empty page"):
        extract_article("  ", "https://example.org/empty")
