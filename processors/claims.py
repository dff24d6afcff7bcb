"""Claims: which of the topic's claims does an article carry, and where?

A claim is carried by a sentence, not by a page: the actor ("the CIA"), the
act ("planned") and its object ("the raid") must be in one sentence, the actor
and the act close together (``Claim.max_distance`` words) with no clause break
between them, and no denial just before or between them. Naming the United
States is not enough: "The US State Department condemned the raid" has an actor
and an object but no act, and Mexico described as "North American" names no
actor at all. The sentence that matched is returned as the passage, quoted as
the page wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediawatch.records import Article, ClaimMatch
from mediawatch.textfold import fold
from mediawatch.topics import Claim, Topic
from processors.text import Hit, MatcherCache, PhraseMatcher, sentence_spans, word_index

# A comma, semicolon, colon, bracket or dash between actor and act usually starts
# another clause, whose subject may be someone else ("Noboa planned the raid,
# while Washington ...").
_CLAUSE_BREAK_RE = re.compile(r"[,;:()\[\]—–]| - ")
# Words just before the earlier of actor and act that can still negate the pair:
# "there is no evidence that the CIA planned ...".
NEGATION_LOOKBACK_WORDS = 5
# A "sentence" of unpunctuated text can run for pages; the passage shown in an
# alert is then cut to this many characters around the actor and the act.
MAX_PASSAGE_CHARS = 400


@dataclass
class _ClaimMatchers:
    claim: Claim
    actors: PhraseMatcher
    acts: PhraseMatcher
    objects: PhraseMatcher
    negations: PhraseMatcher


def _compile(topic: Topic) -> list[_ClaimMatchers]:
    return [
        _ClaimMatchers(
            claim,
            PhraseMatcher(claim.actors),
            PhraseMatcher(claim.acts),
            PhraseMatcher(claim.objects),
            PhraseMatcher(claim.negations),
        )
        for claim in topic.claims
    ]


_matchers: MatcherCache[list[_ClaimMatchers]] = MatcherCache(_compile)


def _pair_holds(sentence: str, actor: Hit, act: Hit, negations: list[Hit], max_distance: int) -> bool:
    first, second = (actor, act) if actor.start < act.start else (act, actor)
    if first.end > second.start:  # overlapping hits ("US" inside a longer act phrase)
        return False
    between = sentence[first.end : second.start]
    if len(re.findall(r"\w+", between)) > max_distance or _CLAUSE_BREAK_RE.search(between):
        return False
    lookback_start = word_index(sentence, first.start) - NEGATION_LOOKBACK_WORDS
    for negation in negations:
        if negation.start >= second.start:
            continue
        if negation.start >= first.end or word_index(sentence, negation.start) >= lookback_start:
            return False
    return True


def _carrying_pair(sentence: str, matchers: _ClaimMatchers) -> tuple[int, int] | None:
    """Start and end of the first actor/act pair that carries the claim in ``sentence``."""
    folded = fold(sentence)
    if not matchers.objects.find(sentence, folded):
        return None
    actors = matchers.actors.find(sentence, folded)
    acts = matchers.acts.find(sentence, folded) if actors else []
    negations = matchers.negations.find(sentence, folded) if acts and matchers.negations else []
    for actor in actors:
        for act in acts:
            if _pair_holds(sentence, actor, act, negations, matchers.claim.max_distance):
                return min(actor.start, act.start), max(actor.end, act.end)
    return None


def _passage(sentence: str, start: int, end: int) -> str:
    """The sentence, or for an overlong one the words around ``start:end``."""
    if len(sentence) <= MAX_PASSAGE_CHARS:
        return sentence
    margin = max(0, (MAX_PASSAGE_CHARS - (end - start)) // 2)
    left, right = max(0, start - margin), min(len(sentence), end + margin)
    while 0 < left < start and not sentence[left - 1].isspace():  # whole words only
        left += 1
    while end < right < len(sentence) and not sentence[right].isspace():
        right -= 1
    return ("…" if left > 0 else "") + sentence[left:right].strip() + ("…" if right < len(sentence) else "")


def match_claims(article: Article, topic: Topic) -> list[ClaimMatch]:
    """One ``ClaimMatch`` per claim the article carries, with the first sentence that carries it."""
    text = "\n".join(part for part in (article.title, article.text) if part and part.strip())
    sentences = [text[span.start : span.end] for span in sentence_spans(text)]
    matches = []
    for matchers in _matchers.get(topic):
        for sentence in sentences:
            pair = _carrying_pair(sentence, matchers)
            if pair is not None:
                matches.append(ClaimMatch(claim_id=matchers.claim.id, passage=_passage(sentence, *pair)))
                break
    return matches
