"""The prefilter never rejects a page that extraction and relevance would keep (checked
on real pages), lets coverage through in every topic language, and leaves junk to the
extractor; with MEDIAWATCH_PREFILTER=0 every page is extracted."""

from __future__ import annotations

import gzip
import json

import pytest

from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.extract import ExtractionError, extract_article
from processors.pipeline import PROCESSED_FILE, process_batch
from processors.prefilter import cannot_be_relevant
from processors.relevance import assess_relevance
from tests.support.batches import SHARED, article_html, corpus_pages, seed_text, write_batch

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")
BENCHMARK_PAGES = sorted((SHARED / "corpora" / "extraction-benchmark" / "html").glob("*.html.gz"))


def _page(body: str, title: str = "News", head: str = "") -> bytes:
    return f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode("utf-8")


def test_rejected_real_pages_are_never_relevant_after_extraction():
    rejected = kept = 0
    for path in BENCHMARK_PAGES:
        body = gzip.decompress(path.read_bytes())
        if cannot_be_relevant(body, None, TOPIC) is None:
            kept += 1
            continue
        rejected += 1
        try:
            article = extract_article(body, "https://benchmark.example.org/page")
        except ExtractionError:
            continue
        verdict = assess_relevance(article, TOPIC)
        assert not verdict.relevant, (path.name, verdict)
    assert rejected > 80 and kept >= 1  # three benchmark pages name Quito or Jorge Glas


def test_both_seed_pages_pass():
    for number in (0, 1):
        title, paragraphs = seed_text(number)
        body = article_html(title, paragraphs, site_name="Outlet", canonical="https://o.org/a", published=None)
        assert cannot_be_relevant(body, "utf-8", TOPIC) is None
        assert cannot_be_relevant(body.decode("utf-8").encode("cp1252", errors="replace"), "utf-8", TOPIC) is None


LEDES = {
    "es": "La policía ecuatoriana irrumpió en la embajada de M&eacute;xico en Quito para detener a Jorge Glas.",
    "pt": "A polícia do Equador invadiu a embaixada do México em Quito e prendeu o ex-vice-presidente Jorge Glas.",
    "fr": "La police équatorienne a donné l'assaut à l'ambassade du Mexique à Quito.",
    "de": "Ecuadorianische Polizisten haben die mexikanische Botschaft in Quito gestürmt.",
    "it": "La polizia dell'Ecuador ha fatto irruzione nell'ambasciata del Messico a Quito.",
    "en_markup": "Police <b>stormed</b> the Mexican <a href='/e'>embassy</a> to arrest Jorge <i>Glas</i>.",
}


@pytest.mark.parametrize("name", sorted(LEDES))
def test_coverage_passes_in_every_language_and_through_markup_and_entities(name):
    assert cannot_be_relevant(_page(f"<p>{LEDES[name]}</p>"), None, TOPIC) is None


def test_terms_only_in_attributes_still_pass():
    head = '<meta property="og:title" content="Raid on the Mexican embassy in Quito">'
    assert cannot_be_relevant(_page("<div id='app'></div>", title="Live", head=head), None, TOPIC) is None


def test_pages_without_the_terms_are_rejected_with_the_reason():
    glass = _page("<p>Glas ist ein amorpher Werkstoff. Glas aus Mexiko wird in Quito verkauft.</p>")
    assert cannot_be_relevant(glass, None, TOPIC) == "no event term of glas_embassy anywhere in the page (not extracted)"
    no_names = _page("<p>The embassy was raided by the police of another country.</p>")
    assert cannot_be_relevant(no_names, None, TOPIC).startswith("no core or context term")


def test_junk_is_left_to_the_extractor():
    binary = BENCHMARK_PAGES[0].read_bytes()  # gzip bytes
    for body in (b"", b"   \n", binary, b"plain text about nothing", b"%PDF-1.7 ..."):
        assert cannot_be_relevant(body, None, TOPIC) is None


def test_prefilter_can_be_switched_off(settings, monkeypatch):
    pages = corpus_pages(2, start=40)
    for setting, extracted in (("1", False), ("0", True)):
        monkeypatch.setenv("MEDIAWATCH_PREFILTER", setting)
        path = write_batch(settings, TOPIC.name, pages)
        report = process_batch(path, TOPIC, settings=settings)
        records = [json.loads(line) for line in path.with_name(PROCESSED_FILE).read_text().splitlines()]
        assert [r["outcome"] for r in records] == ["not_relevant", "not_relevant"]
        assert report.extracted == (2 if extracted else 0)
        assert all((r["article"] is not None) == extracted for r in records)
        assert all(r["reason"].endswith("(not extracted)") != extracted for r in records)
