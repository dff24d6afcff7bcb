"""Relevance on the seeds (about the affair), on the real corpora (not about it) and on
adversarial texts that name Glas (glass), Quito or an embassy in another story."""

from __future__ import annotations

import json

import pytest

from mediawatch.records import Article
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.relevance import assess_relevance
from processors.text import PhraseMatcher, sentence_spans

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")


def _article(text: str, language: str | None, title: str | None = None) -> Article:
    return Article(url="https://example.test/a", text=text, title=title, language=language)


@pytest.mark.parametrize("language", ["en", None])
def test_both_seeds_are_relevant(shared_dir, language):
    for seed in sorted((shared_dir / "seeds").glob("*.txt")):
        result = assess_relevance(_article(seed.read_text(encoding="utf-8"), language), TOPIC)
        assert result.relevant, (seed.name, result)
        assert result.score == 1.0
        assert {"embass*", "Ecuador"} <= set(result.terms), result.terms
        assert result.reason.startswith("about glas_embassy")


# Ledes written for these tests, one per topic language.
COVERAGE = {
    "en": "Ecuadorian police stormed the Mexican embassy in Quito late on Friday to arrest former vice-president Jorge Glas.",
    "es": "La policía ecuatoriana irrumpió en la embajada de México en Quito para detener al exvicepresidente Jorge Glas.",
    "pt": "A polícia do Equador invadiu a embaixada do México em Quito e prendeu o ex-vice-presidente Jorge Glas.",
    "fr": "La police équatorienne a donné l'assaut à l'ambassade du Mexique à Quito pour arrêter l'ancien vice-président.",
    "de": "Ecuadorianische Polizisten haben die mexikanische Botschaft in Quito gestürmt und den Ex-Vizepräsidenten festgenommen.",
    "it": "La polizia dell'Ecuador ha fatto irruzione nell'ambasciata del Messico a Quito per arrestare l'ex vicepresidente.",
}


@pytest.mark.parametrize("language", sorted(COVERAGE))
def test_coverage_in_every_topic_language(language):
    text = COVERAGE[language]
    for declared in (language, None):  # with the detected language, and with all vocabularies
        result = assess_relevance(_article(text, declared), TOPIC)
        assert result.relevant, (declared, result)


def test_a_wrong_language_label_does_not_hide_coverage():
    # Short texts get mislabelled; the Spanish lede has no Portuguese or Italian event word.
    for wrong in ("pt", "it", "de"):
        result = assess_relevance(_article(COVERAGE["es"], wrong), TOPIC)
        assert result.relevant and result.reason.endswith("(all vocabularies)"), (wrong, result)
    assert assess_relevance(_article(COVERAGE["es"], "es"), TOPIC).reason.endswith("(vocabulary 'es')")


ADVERSARIAL = {
    # German "Glas" is glass, "Botschaft" is a message, and the glass may come from Mexico.
    "glass": ("de", "Glas ist ein amorpher Werkstoff. Die Botschaft des Künstlers ist klar: Glas aus Mexiko "
                    "und aus Murano, mundgeblasen. Das Glas wird auch in Quito verkauft."),
    "quito_travel": ("en", "Quito travel guide. The old town of Quito, Ecuador, is a UNESCO site. Embassies in Quito: "
                           "the Mexican embassy is on Avenida 6 de Diciembre and the US embassy on Avigiras. "
                           "Travellers from Mexico need no visa for Ecuador."),
    "quito_travel_es": ("es", "Guía de Quito: el centro histórico es patrimonio de la UNESCO. La embajada de México "
                              "en Quito atiende de lunes a viernes. Los mexicanos no necesitan visa para Ecuador."),
    "assange": ("en", "Julian Assange spent seven years in Ecuador's embassy in London after he was granted asylum. "
                      "British police raided the embassy in 2019 after Ecuador withdrew his asylum."),
    "castillo": ("es", "El expresidente peruano Pedro Castillo intentó pedir asilo en la embajada de México en Lima. "
                       "La policía lo detuvo antes de llegar a la sede diplomática."),
    "football": ("es", "Ecuador y México empataron 0-0 en Arizona. El asalto final de los mexicanos no bastó."),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_pages_are_not_coverage(name):
    language, text = ADVERSARIAL[name]
    for declared in (language, None):
        result = assess_relevance(_article(text, declared), TOPIC)
        assert not result.relevant, (name, declared, result)
        assert result.score < 1.0
        assert result.reason.startswith(("not about glas_embassy", "no term")), result.reason


def test_reason_names_what_is_missing():
    language, text = ADVERSARIAL["assange"]
    result = assess_relevance(_article(text, language), TOPIC)
    assert "lacks mexico" in result.reason
    assert {"Ecuador", "asylum", "embass*"} <= set(result.terms)


def test_title_counts_as_a_passage():
    title = "Mexico breaks off relations after Ecuador raids its embassy"
    body = "Officials said more would follow. The statement gave no further details."
    assert assess_relevance(_article(body, "en", title), TOPIC).relevant
    assert not assess_relevance(_article(body, "en"), TOPIC).relevant


def test_terms_far_apart_do_not_add_up():
    # The same pieces as a relevant lede, but in unrelated paragraphs of a long page.
    filler = " ".join(f"Sentence number {i} is about something else." for i in range(10))
    text = f"Mexico sends a trade delegation. {filler} The embassy reopened. {filler} Quito hosted a raid-free festival."
    result = assess_relevance(_article(text, "en"), TOPIC)
    assert not result.relevant, result


def test_empty_page_has_a_reason():
    result = assess_relevance(_article("  \n ", "en"), TOPIC)
    assert result == type(result)(False, 0.0, [], "no text to assess")


def _corpus_texts(shared_dir):
    segments = json.loads((shared_dir / "corpora/web-pages/segments.json").read_text(encoding="utf-8"))
    gold = json.loads((shared_dir / "corpora/extraction-benchmark/ground-truth.json").read_text(encoding="utf-8"))
    for url, page in segments.items():
        yield url, page.get("title"), "\n".join(page.get("with", []))
    for page in gold.values():
        yield page["url"], None, page["articleBody"]


def test_real_corpus_pages_are_not_about_the_affair(shared_dir):
    # 458 real pages (German and other news) and 93 real articles: none is about the raid.
    # One of them is about Assange and the Ecuadorian embassy in London.
    results = {url: assess_relevance(_article(text, None, title), TOPIC) for url, title, text in _corpus_texts(shared_dir)}
    assert len(results) == 551
    assert [url for url, r in results.items() if r.relevant] == []
    assange = [r for url, r in results.items() if "assange" in url]
    assert assange and all("embass*" in r.terms and "lacks mexico" in r.reason for r in assange)


def test_context_as_a_plain_list_is_one_facet(tmp_path):
    topic_file = tmp_path / "topic.yaml"
    topic_file.write_text(
        "name: t\nlanguages: [en]\nvocabulary:\n  en:\n    core: [Jorge Glas]\n"
        "    context: [Quito, Mexico]\n    event: [embassy, raid]\n",
        encoding="utf-8",
    )
    topic = load_topic(topic_file)
    assert topic.vocabulary["en"].context_facets == {"context": ("Quito", "Mexico")}
    assert assess_relevance(_article("A raid on the embassy in Quito.", "en"), topic).relevant
    assert not assess_relevance(_article("The embassy in Quito.", "en"), topic).relevant


def test_phrase_matcher_whole_words_acronyms_and_prefixes():
    matcher = PhraseMatcher(["US", "United States", "embass*", "Jorge Glas"])
    text = "Let us see: the US, the UNITED STATES and two embassies; JORGE\nGLAS. Glassware, USB."
    assert [(h.term, text[h.start:h.end]) for h in matcher.find(text)] == [
        ("US", "US"),
        ("United States", "UNITED STATES"),
        ("embass*", "embassies"),
        ("Jorge Glas", "JORGE\nGLAS"),
    ]


def test_sentence_spans_keep_initialisms_and_abbreviations():
    text = "The U.S. Embassy said so. Mr. Noboa met EE.UU. officials! Did he? Yes\nNext line"
    assert [text[s.start:s.end] for s in sentence_spans(text)] == [
        "The U.S. Embassy said so.",
        "Mr. Noboa met EE.UU. officials!",
        "Did he?",
        "Yes",
        "Next line",
    ]


def test_an_edited_topic_file_takes_effect_when_reloaded(tmp_path):
    topic_file = tmp_path / "topic.yaml"
    text = "The raid on the embassy in Guayaquil."
    for port, expected in (("Quito", False), ("Guayaquil", True), ("Quito", False)):
        topic_file.write_text(
            f"name: t\nlanguages: [en]\nvocabulary:\n  en:\n    context: [{port}]\n    event: [embassy, raid]\n",
            encoding="utf-8",
        )
        assert assess_relevance(_article(text, "en"), load_topic(topic_file)).relevant is expected
