"""Relevance: is this page about the topic's affair?

The decision is made on passages (a few consecutive sentences, the title
being the first), not on the whole page: a page about the affair names its
pieces together, while an unrelated page may scatter them (a Quito travel guide
that lists embassies, a German text about "Glas", glass). A passage decides
when it names

- a ``core`` term (the affair's protagonist) and at least one ``event`` term, or
- every ``context`` facet (e.g. Ecuador's side and Mexico's side) and at least
  ``MIN_EVENT_TERMS`` different ``event`` terms (the embassy and the raid).

The score is the share of these requirements met by the best passage (1.0 is
relevant); the terms are those of the best passage, so the reason for either
verdict can be read off the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from mediawatch.records import Article
from mediawatch.textfold import fold
from mediawatch.topics import Topic, Vocabulary
from processors.text import Hit, MatcherCache, PhraseMatcher, Span, sentence_spans

# Sentences per passage: a lead sentence often names the event and the next one
# the places ("Police stormed the embassy late on Friday. Mexico broke off ...").
PASSAGE_SENTENCES = 3
# Without the protagonist's name, one event word is not enough: "the Mexican
# embassy in Quito" is an address; with "raid" or "asylum" it is the affair.
MIN_EVENT_TERMS = 2


@dataclass
class Relevance:
    relevant: bool
    score: float
    terms: list[str]
    reason: str


@dataclass
class _Matchers:
    core: PhraseMatcher
    facets: dict[str, PhraseMatcher]
    event: PhraseMatcher


def _merged_vocabulary(vocabularies: list[Vocabulary]) -> _Matchers:
    facet_names = list(dict.fromkeys(name for v in vocabularies for name in v.context_facets))
    return _Matchers(
        core=PhraseMatcher(chain.from_iterable(v.core for v in vocabularies)),
        facets={
            name: PhraseMatcher(chain.from_iterable(v.context_facets.get(name, ()) for v in vocabularies))
            for name in facet_names
        },
        event=PhraseMatcher(chain.from_iterable(v.event for v in vocabularies)),
    )


def _compile(topic: Topic, language: str | None) -> _Matchers:
    if language in topic.vocabulary:
        return _merged_vocabulary([topic.vocabulary[language]])
    # Unknown or unexpected language: any of the topic's languages may apply.
    return _merged_vocabulary(list(topic.vocabulary.values()))


_matchers: MatcherCache[_Matchers] = MatcherCache(_compile)


@dataclass
class _Passage:
    core: set[str]
    facets: dict[str, set[str]]
    event: set[str]

    def coverage(self, facet_names: list[str]) -> tuple[float, list[str]]:
        """Share of requirements met and what is missing."""
        if self.core:
            needed_events = 1
            missing = []
        else:
            needed_events = MIN_EVENT_TERMS
            missing = [name for name in facet_names if not self.facets.get(name)]
        met_events = min(len(self.event), needed_events)
        total = (0 if self.core else len(facet_names)) + needed_events
        met = total - len(missing) - (needed_events - met_events)
        if met_events < needed_events:
            missing.append(f"event terms ({met_events} of {needed_events})")
        return met / total, missing

    def terms(self) -> list[str]:
        return sorted(self.core | set().union(*self.facets.values()) | self.event)


def _terms_by_sentence(matcher: PhraseMatcher, text: str, folded: str, spans: list[Span]) -> list[set[str]]:
    found: list[set[str]] = [set() for _ in spans]
    hits: list[Hit] = matcher.find(text, folded) if matcher else []
    index = 0
    for hit in hits:  # both lists are in text order
        while index < len(spans) and spans[index].end <= hit.start:
            index += 1
        if index < len(spans):
            found[index].add(hit.term)
    return found


def assess_relevance(article: Article, topic: Topic) -> Relevance:
    """Decide whether ``article`` (title + text) is about ``topic``'s affair.

    The vocabulary of the article's language decides first; when it does not
    find the affair, all of the topic's vocabularies try, because a short or
    mixed text may carry a wrong language label (a Spanish lede taken for
    Portuguese). The facet rule, not the language, keeps other stories out.
    """
    text = "\n".join(part for part in (article.title, article.text) if part and part.strip())
    if not text.strip():
        return Relevance(False, 0.0, [], "no text to assess")
    folded, spans = fold(text), sentence_spans(text)
    languages = [article.language, None] if article.language in topic.vocabulary else [None]
    results = []
    for language in languages:
        result = _assess(topic, language, text, folded, spans)
        if result.relevant:
            return result
        results.append(result)
    return max(results, key=lambda r: r.score)  # the first (own language) on a tie


def _assess(topic: Topic, language: str | None, text: str, folded: str, spans: list[Span]) -> Relevance:
    matchers = _matchers.get(topic, language)
    core = _terms_by_sentence(matchers.core, text, folded, spans)
    facets = {name: _terms_by_sentence(m, text, folded, spans) for name, m in matchers.facets.items()}
    event = _terms_by_sentence(matchers.event, text, folded, spans)
    facet_names = list(matchers.facets)

    best: tuple[float, list[str], _Passage] | None = None
    for first in range(max(1, len(spans) - PASSAGE_SENTENCES + 1)):
        window = slice(first, first + PASSAGE_SENTENCES)
        passage = _Passage(
            core=set().union(*core[window]),
            facets={name: set().union(*found[window]) for name, found in facets.items()},
            event=set().union(*event[window]),
        )
        score, missing = passage.coverage(facet_names)
        if best is None or score > best[0]:
            best = (score, missing, passage)
            if score >= 1.0:
                break
    assert best is not None  # the loop runs at least once
    score, missing, passage = best
    terms = passage.terms()
    vocabulary = f"vocabulary {language!r}" if language else "all vocabularies"
    if score >= 1.0:
        return Relevance(True, 1.0, terms, f"about {topic.name}: one passage names {', '.join(terms)} ({vocabulary})")
    if not terms:
        return Relevance(False, 0.0, [], f"no term of {topic.name} ({vocabulary})")
    return Relevance(
        False,
        round(score, 3),
        terms,
        f"not about {topic.name}: best passage names {', '.join(terms)} but lacks {', '.join(missing)} ({vocabulary})",
    )
