"""Outlet: one publisher whatever host served the page (www., m., amp., AMP caches, mirrors)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from processors.extract import extract_article
from processors.outlet import original_host, outlet_of

BENCHMARK = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "extraction-benchmark"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.elcomercio.com/actualidad/politica/embajada-mexico-quito.html",
        "https://elcomercio.com/actualidad/politica/embajada-mexico-quito.html",
        "http://m.elcomercio.com/actualidad/politica/embajada-mexico-quito.html",
        "https://amp.elcomercio.com/actualidad/politica/embajada-mexico-quito.html",
        "https://www.elcomercio.com/amp/actualidad/politica/embajada-mexico-quito.html",
        "https://www-elcomercio-com.cdn.ampproject.org/c/s/www.elcomercio.com/amp/embajada.html",
        "https://www-elcomercio-com.cdn.ampproject.org/v/s/www.elcomercio.com/amp/embajada.html?amp_js_v=0.1",
        "https://www-elcomercio-com.cdn.ampproject.org/i/www.elcomercio.com/img.jpg",
        "https://www.google.com/amp/s/www.elcomercio.com/amp/embajada.html",
        "https://www-elcomercio-com.translate.goog/embajada.html?_x_tr_sl=es&_x_tr_tl=en",
        "https://web.archive.org/web/20240406012345/https://www.elcomercio.com/embajada.html",
        "https://WWW.ElComercio.COM./embajada.html",
    ],
)
def test_variants_of_one_site_are_one_outlet(url):
    assert outlet_of(url) == ("elcomercio.com", None)


def test_multi_label_public_suffixes():
    assert outlet_of("https://www.bbc.co.uk/mundo/articles/x")[0] == "bbc.co.uk"
    assert outlet_of("https://g1.globo.com/mundo/noticia/2024/04/06/x.ghtml")[0] == "globo.com"
    assert outlet_of("https://www.jornada.com.mx/2024/04/07/politica/x")[0] == "jornada.com.mx"


def test_hosted_blogs_are_separate_outlets():
    first, second = outlet_of("https://resumen.blogspot.com/x")[0], outlet_of("https://other.blogspot.com/y")[0]
    assert first == "resumen.blogspot.com" and second == "other.blogspot.com"


def test_amp_cache_label_decoding():
    # '-' separates labels and '--' is a literal hyphen in the cache's host label.
    assert original_host("https://el--universo-com-ec.cdn.ampproject.org/x") == "el-universo.com.ec"
    assert outlet_of("https://el--universo-com-ec.cdn.ampproject.org/x")[0] == "el-universo.com.ec"


def test_site_name_is_the_display_name():
    assert outlet_of("https://www.primicias.ec/noticias/x", "  Primicias\n ") == ("primicias.ec", "Primicias")
    assert outlet_of("https://www.primicias.ec/noticias/x", "") == ("primicias.ec", None)


def test_hosts_without_public_suffix_keep_their_port():
    assert outlet_of("http://127.0.0.1:8123/news/a.html") == ("127.0.0.1:8123", None)
    assert outlet_of("http://127.0.0.1:8124/news/a.html")[0] == "127.0.0.1:8124"
    assert outlet_of("http://localhost/x")[0] == "localhost"


def test_url_without_host_is_an_error():
    with pytest.raises(ValueError, match="no host"):
        outlet_of("file:///tmp/page.html")


def test_outlet_of_a_real_page_comes_from_its_canonical_url():
    page_id = "042bb7b5fedab6eac7db576522b89b93904c237d344bcbe14a6a5ab7f7335856"
    html = gzip.decompress((BENCHMARK / "html" / f"{page_id}.html.gz").read_bytes())
    gold = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))[page_id]
    served_from = gold["url"].replace("https://www.wsj.com/", "https://www-wsj-com.cdn.ampproject.org/c/s/www.wsj.com/amp/")
    article = extract_article(html, served_from)
    assert article.canonical_url == gold["url"]
    assert outlet_of(article.canonical_url, article.outlet_name) == ("wsj.com", "Wall Street Journal")
    assert outlet_of(served_from)[0] == "wsj.com"
