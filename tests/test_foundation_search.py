"""The storage and search half against the real local node: mappings, seeds, search, facets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mediawatch import es
from mediawatch.records import Article
from mediawatch.search import search
from processors.indexing import index_articles

SPANISH = Article(
    url="https://www.example-diario.ec/politica/asalto-embajada",
    canonical_url="https://www.example-diario.ec/politica/asalto-embajada",
    title="La policía irrumpe en la EMBAJADA de México en Quito",
    text="Fuerzas de seguridad de Ecuador ingresaron en la Embajada de México para detener a Jorge Glas. "
    "El Gobierno de México rompió relaciones diplomáticas con Ecuador.",
    language="es",
    outlet="example-diario.ec",
    published_at="2024-04-06",
    source_type="crawl",
)


@pytest.fixture(scope="module")
def indexed(seeded_settings):
    index_articles([SPANISH], seeded_settings, refresh=True)
    return seeded_settings


def test_templates_and_versioned_aliases_exist(settings):
    admin = es.client("admin", settings)
    for kind in es.INDEX_KINDS:
        alias = settings.index_name(kind)
        assert admin.indices.exists_index_template(name=alias)
        assert list(admin.indices.get_alias(name=alias)) == [es.versioned_index(settings, kind)]
    mapping = admin.indices.get_mapping(index=settings.index_name("articles"))
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties["text_folded"]["type"] == "text"
    assert properties["published_at"]["type"] == "date"
    # Setup is idempotent: a second run changes nothing and raises nothing.
    es.ensure_setup(settings)
    assert list(admin.indices.get_alias(name=settings.index_name("articles"))) == [es.versioned_index(settings, "articles")]


def test_seeds_indexed_once_even_when_rerun(seeded_settings):
    from mediawatch.seeds import index_seeds

    reader = es.client("reader", seeded_settings)
    alias = seeded_settings.index_name("articles")
    first = {h["_id"]: h["_source"] for h in reader.search(index=alias, size=10)["hits"]["hits"]}
    assert len(first) == 2
    assert {doc["source_type"] for doc in first.values()} == {"seed"}
    index_seeds(seeded_settings)
    es.client("admin", seeded_settings).indices.refresh(index=alias)
    second = {h["_id"]: h["_source"] for h in reader.search(index=alias, size=10)["hits"]["hits"]}
    assert second.keys() == first.keys()
    # First-seen time survives the rerun.
    assert {k: v["indexed_at"] for k, v in second.items()} == {k: v["indexed_at"] for k, v in first.items()}


def test_seed_text_is_unchanged(seeded_settings, shared_dir):
    reader = es.client("reader", seeded_settings)
    texts = {h["_source"]["text"] for h in reader.search(index=seeded_settings.index_name("articles"))["hits"]["hits"]}
    for path in sorted((shared_dir / "seeds").glob("*.txt")):
        assert path.read_text(encoding="utf-8").strip() in texts


def test_phrase_search(indexed):
    result = search('"Manta military base"', settings=indexed)
    assert [hit["outlet"] for hit in result.hits] == ["thecanadafiles.com"]
    # The words exist, but not as this phrase.
    assert search('"military Manta base"', settings=indexed).total == 0


@pytest.mark.parametrize("query", ["mexico", "MÉXICO", "embajada", "EMBAJADA", "policia irrumpe"])
def test_accent_and_case_insensitive(indexed, query):
    result = search(query, lang="es", settings=indexed)
    assert [hit["url"] for hit in result.hits] == [SPANISH.url]


def test_accents_in_seed_found_without_them(indexed):
    result = search("maria de los angeles duarte", settings=indexed)
    assert [hit["outlet"] for hit in result.hits] == ["resumen-english.org"]
    html = " ".join(h.to_html() for h in result.hits[0]["highlights"])
    # Highlights show the original, accented text.
    assert "<em>María</em>" in html and "<em>Ángeles</em>" in html


def test_highlights_mark_matches_in_original_text(indexed):
    result = search("embajada", settings=indexed)
    fragments = [h.to_html() for h in result.hits[0]["highlights"]]
    assert any("<em>EMBAJADA</em>" in f for f in fragments)  # the title, as written
    assert any("<em>Embajada</em>" in f for f in fragments)  # the text, as written


def test_facets(indexed):
    result = search("*", settings=indexed)
    assert result.total == 3
    facets = {name: {b["key"]: b["count"] for b in buckets} for name, buckets in result.facets.items()}
    assert facets["outlet"] == {"resumen-english.org": 1, "thecanadafiles.com": 1, "example-diario.ec": 1}
    assert facets["language"] == {"en": 2, "es": 1}
    assert facets["source_type"] == {"seed": 2, "crawl": 1}
    assert facets["month"] == {"2024-04": 1, "2024-05": 1}


def test_filters(indexed):
    assert search("*", source_type="seed", settings=indexed).total == 2
    assert search("*", outlet="www.example-diario.ec", settings=indexed).total == 1
    assert search("*", since="2024-05-01", settings=indexed).total == 1
    assert search("*", until="2024-04-30", settings=indexed).total == 1
    assert search("*", lang="de", settings=indexed).total == 0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mediawatch.cli", *args], capture_output=True, text=True, timeout=120)


def test_search_command_json(indexed):
    done = _cli("search", "embassy", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["total"] == 2
    for hit in document["hits"]:
        assert {"id", "url", "canonical_url", "outlet", "language", "title", "source_type"} <= hit.keys()
    assert set(document["facets"]) >= {"outlet", "language", "month", "source_type"}


@pytest.mark.parametrize("query", ['a AND (b "unclosed', "title:[x TO", "((((", "-", "\\"])
def test_search_command_tolerates_any_input(indexed, query):
    done = _cli("search", query)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "matching articles" in done.stdout


def test_search_command_bad_date_is_a_clear_error(indexed):
    done = _cli("search", "*", "--since", "2024-13-45")
    assert done.returncode == 2
    assert "is not a date" in done.stderr and "Traceback" not in done.stderr
