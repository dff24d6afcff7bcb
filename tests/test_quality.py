"""Quality of extraction and language identification, computed over the whole shared corpora
with the corpus authors' metrics (evaluation/), against the published figures."""

from __future__ import annotations

import pytest

from evaluation.extraction import MEDIAWATCH, score_extraction_benchmark, score_web_pages, score_web_pages_metadata
from evaluation.langid import PUBLISHED_LANGDETECT, score_langid

# Published F1 of trafilatura on each corpus (../shared/corpora/README.md).
BENCHMARK_F1_FLOOR = 0.958
WEB_PAGES_F1_FLOOR = 0.924
# Languages where the pipeline's accuracy is below langdetect's published figure: the gap is
# documented in evaluation/RESULTS.md; the floors guard against regressions meanwhile.
BELOW_PUBLISHED_FLOORS = {"es": 97.7, "pt": 98.0, "it": 99.3}
# Share of annotated web pages whose metadata the pipeline gets exactly right (no published
# reference figure: regression floors just under the measured 57.6 %, 85.0 %, 51.6 %).
METADATA_FLOORS = {"title": 0.55, "date": 0.83, "author": 0.50}


@pytest.fixture(scope="module")
def langid_accuracy():
    return score_langid()


def test_extraction_benchmark_f1():
    score = score_extraction_benchmark(MEDIAWATCH)
    assert score.pages == 93
    assert score.f1 >= BENCHMARK_F1_FLOOR, score


def test_web_pages_segments_f1():
    score, totals = score_web_pages(MEDIAWATCH)
    assert score.pages == 458 and sum(totals.values()) > 2500
    assert score.f1 >= WEB_PAGES_F1_FLOOR, (score, totals)


def test_web_pages_metadata():
    scores = score_web_pages_metadata()
    assert {name: total for name, (_, total) in scores.items()} == {"title": 394, "date": 340, "author": 256}
    for name, (correct, total) in scores.items():
        assert correct / total >= METADATA_FLOORS[name], (name, correct, total)


@pytest.mark.parametrize("language", sorted(set(PUBLISHED_LANGDETECT) - set(BELOW_PUBLISHED_FLOORS)))
def test_langid_accuracy_at_least_published(langid_accuracy, language):
    assert langid_accuracy[language].percent >= PUBLISHED_LANGDETECT[language], langid_accuracy[language]


@pytest.mark.parametrize("language", sorted(BELOW_PUBLISHED_FLOORS))
def test_langid_accuracy_regression_floor(langid_accuracy, language):
    assert langid_accuracy[language].percent >= BELOW_PUBLISHED_FLOORS[language], langid_accuracy[language]


@pytest.mark.xfail(strict=True, reason="known gap: es/pt/it below langdetect's published figures (evaluation/RESULTS.md)")
@pytest.mark.parametrize("language", sorted(BELOW_PUBLISHED_FLOORS))
def test_langid_accuracy_published_figure_not_yet_reached(langid_accuracy, language):
    assert langid_accuracy[language].percent >= PUBLISHED_LANGDETECT[language]


def test_langid_covers_every_sentence(langid_accuracy):
    assert {code: acc.total for code, acc in langid_accuracy.items()} == {
        "ar": 1000, "ca": 1000, "de": 1000, "en": 1000, "es": 1000, "fr": 1000,
        "it": 1000, "nl": 1000, "pt": 1000, "ru": 1000, "tr": 1000, "zh": 729,
    }
