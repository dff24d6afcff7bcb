"""Claim matching: both seeds carry ``us_planned_raid``; mentions of the United States
that are not the claim (statements, "North American" Mexico, denials, another
actor's plan) do not, in any of the topic's languages; no real corpus page does."""

from __future__ import annotations

import json
import re

import pytest

from mediawatch.records import Article
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.claims import MAX_PASSAGE_CHARS, match_claims

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")
CLAIM = "us_planned_raid"


def _claims(text: str, title: str | None = None) -> list:
    return match_claims(Article(url="https://example.test/a", text=text, title=title), TOPIC)


def _seeds(shared_dir):
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((shared_dir / "seeds").glob("*.txt"))}


def test_both_seeds_carry_the_claim_with_a_passage_from_the_text(shared_dir):
    seeds = _seeds(shared_dir)
    assert len(seeds) == 2
    for name, text in seeds.items():
        matches = _claims(text)
        assert [m.claim_id for m in matches] == [CLAIM], name
        assert matches[0].passage in text


def test_seed_bodies_carry_the_claim_without_their_headlines(shared_dir):
    # The headline states the claim; the body must carry it on its own too.
    for name, text in _seeds(shared_dir).items():
        body = text.strip().split("\n", 1)[1]
        matches = _claims(body)
        assert [m.claim_id for m in matches] == [CLAIM], name
        passage = matches[0].passage
        assert passage in body and len(passage) < 400
        assert re.search(r"\b(U\.S\.|US|CIA)(?!\w)", passage) and re.search(r"planned|directed|prepared in advance|consent", passage), passage


def test_title_is_searched_first():
    matches = _claims("Nothing else here.", title="The CIA planned the raid on the Mexican embassy")
    assert matches[0].passage == "The CIA planned the raid on the Mexican embassy"


POSITIVES = {
    "en": "According to the source, the raid on the embassy was planned by the CIA.",
    "es": "Según la fuente, la CIA planeó el asalto a la embajada de México en Quito.",
    "pt": "Segundo a fonte, a CIA planejou a invasão da embaixada mexicana.",
    "fr": "Selon la source, la CIA a planifié l'assaut contre l'ambassade du Mexique.",
    "de": "Laut der Quelle hat die CIA die Erstürmung der mexikanischen Botschaft geplant.",
    "it": "Secondo la fonte, la CIA ha pianificato l'irruzione nell'ambasciata messicana.",
}


BEHIND = {
    "en": "Washington was behind the raid on the Mexican embassy, the source said.",
    "es": "Según Correa, Estados Unidos estuvo detrás del asalto a la embajada.",
    "pt": "Para o ex-presidente, os EUA estiveram por trás da invasão.",
    "fr": "Selon lui, Washington était derrière l'assaut contre l'ambassade.",
    "de": "Die USA steckten hinter der Erstürmung der Botschaft, sagte Correa.",
    "it": "Secondo Correa, Washington era dietro l'irruzione nell'ambasciata.",
}


@pytest.mark.parametrize("language", sorted(BEHIND))
def test_being_behind_the_raid_is_the_claim(language):
    assert [m.claim_id for m in _claims(BEHIND[language])] == [CLAIM]


@pytest.mark.parametrize("language", sorted(POSITIVES))
def test_claim_in_every_topic_language(language):
    text = POSITIVES[language]
    assert [(m.claim_id, m.passage) for m in _claims(text)] == [(CLAIM, text)]


NEGATIVES = [
    # A US statement about the raid: actor and object, no act.
    ("en", "The US State Department condemned the raid on the Mexican embassy in Quito."),
    ("es", "El Departamento de Estado de EE.UU. condenó el asalto a la embajada de México."),
    ("pt", "O Departamento de Estado dos EUA condenou a invasão da embaixada do México."),
    ("fr", "Le Département d'État des États-Unis a condamné l'assaut contre l'ambassade."),
    ("de", "Das US-Außenministerium verurteilte die Erstürmung der mexikanischen Botschaft."),
    ("it", "Il Dipartimento di Stato degli Stati Uniti ha condannato l'irruzione nell'ambasciata."),
    # Mexico called North American, next to a plan that is someone else's.
    ("en", "Mexico, a North American country, broke off relations after the raid planned by Noboa."),
    ("es", "México, país norteamericano, rompió relaciones tras el asalto planeado por Noboa."),
    ("pt", "O México, país norte-americano, rompeu relações após a invasão planejada por Noboa."),
    ("fr", "Le Mexique, pays nord-américain, a rompu ses relations après l'assaut planifié par Noboa."),
    ("de", "Das nordamerikanische Mexiko brach die Beziehungen nach der von Noboa geplanten Erstürmung ab."),
    ("it", "Il Messico, paese nordamericano, ha rotto le relazioni dopo l'irruzione pianificata da Noboa."),
    # Denials of the claim.
    ("en", "There is no evidence that the CIA planned the raid."),
    ("es", "Estados Unidos negó haber planeado el asalto a la embajada."),
    ("pt", "Os EUA não aprovaram a invasão da embaixada."),
    ("fr", "Les États-Unis n'ont pas planifié l'assaut contre l'ambassade."),
    ("de", "Die USA haben die Erstürmung der Botschaft nicht geplant."),
    ("it", "Gli Stati Uniti non hanno approvato l'irruzione nell'ambasciata."),
    # The plan belongs to another clause's subject.
    ("en", "Noboa's government planned the raid for weeks, while the United States stayed silent."),
    ("es", "El gobierno de Noboa planeó el asalto; Washington guardó silencio."),
    # Standing behind a building is not being behind the raid.
    ("es", "Los manifestantes se reunieron detrás de la embajada de Estados Unidos tras el asalto."),
    ("en", "Protesters gathered behind the US embassy after the raid."),
    # The pronoun "us" is not the United States.
    ("en", "Let us be clear: Noboa's ministers planned the raid."),
]


@pytest.mark.parametrize("language,text", NEGATIVES)
def test_mentions_of_the_united_states_are_not_the_claim(language, text):
    assert _claims(text) == [], (language, text)


def test_no_real_corpus_page_carries_the_claim(shared_dir):
    segments = json.loads((shared_dir / "corpora/web-pages/segments.json").read_text(encoding="utf-8"))
    gold = json.loads((shared_dir / "corpora/extraction-benchmark/ground-truth.json").read_text(encoding="utf-8"))
    texts = ["\n".join(page.get("with", [])) for page in segments.values()] + [p["articleBody"] for p in gold.values()]
    assert len(texts) == 551
    assert [t[:80] for t in texts if _claims(t)] == []


def test_an_overlong_sentence_is_cut_around_the_claim():
    # Unpunctuated text (a transcript, a broken extraction) is one long "sentence".
    text = "word " * 300 + "sources say the CIA planned the raid on the embassy " + "more " * 300
    [match] = _claims(text)
    assert "the CIA planned the raid" in match.passage
    assert len(match.passage) <= MAX_PASSAGE_CHARS + 2 and match.passage.startswith("…") and match.passage.endswith("…")
