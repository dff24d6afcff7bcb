"""Language: langdetect, deterministic, with a fallback on the page's declared language.

langdetect samples n-grams at random; a private factory seeded with 0 makes every call
give the same answer for the same text. Three corrections on top of its raw distribution:
Chinese variants (zh-cn, zh-tw) are one language, ``zh``; Korean or Japanese are only
possible when the text has Hangul or kana (langdetect's Korean and Japanese profiles also
cover Han characters, so it calls some plain Chinese sentences Korean); and between closely
related languages (Spanish, Portuguese, Catalan, Italian...; Russian, Ukrainian, Bulgarian,
Macedonian), whose one-to-three-letter n-grams overlap, whole words may overrule
langdetect's choice (``_resolve_related_languages``). When the text is too short to tell,
or the result is unsure (a mixed-language page), the page's declared language wins.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

SEED = 0
# Below this many word characters a declared language is trusted over detection.
MIN_DETECTION_CHARS = 40
# Below this top probability the text is treated as mixed and a declared language wins.
MIN_CONFIDENCE = 0.80

# Languages that need a script of their own: without it, langdetect's answer is an artefact.
_REQUIRED_SCRIPT: dict[str, re.Pattern[str]] = {
    "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),  # Hangul
    "ja": re.compile(r"[\u3040-\u30ff]"),  # Hiragana and Katakana
}
_WORD_CHAR_RE = re.compile(r"\w")
# Languages less likely than this are left out of the distribution.
_MIN_REPORTED = 0.001

# Groups of closely related languages that character n-grams confuse on short text, within
# which word frequencies decide. Only groups measured on a labelled set (evaluation/langid.py)
# are listed; each member needs a wordfreq word list.
RELATED_LANGUAGES: tuple[frozenset[str], ...] = (
    frozenset({"ca", "es", "fr", "it", "pt", "ro"}),  # Romance
    frozenset({"bg", "mk", "ru", "uk"}),  # Slavic in Cyrillic script
)
# Words overrule langdetect only when they make another member of the group this many times
# likelier (natural log: e**3, about 20 to 1). Set before measuring, not fitted to the corpus.
WORD_EVIDENCE_LOG_ODDS = 3.0
# Probability given to a word missing from a language's list ("small" lists stop near 1e-6):
# a name or a typo then counts the same in every language and decides nothing.
_UNLISTED_WORD_FREQUENCY = 1e-7
# langdetect reads only the first 10,000 characters; the word check reads the same slice.
_MAX_TEXT_CHARS = 10_000


@lru_cache(maxsize=1)
def _factory() -> DetectorFactory:
    """langdetect's profiles, loaded once per process, in a factory of our own (seeded)."""
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(SEED)
    return factory


def language_distribution(text: str) -> dict[str, float]:
    """ISO 639-1 code -> probability (those above 0.1%), best first; empty when the text has
    no usable features."""
    return _resolve_related_languages(text, _langdetect_distribution(text))


def _langdetect_distribution(text: str) -> dict[str, float]:
    """langdetect's distribution, with Chinese variants merged and script-less Korean or
    Japanese dropped."""
    factory = _factory()
    detector = factory.create()
    detector.append(text)
    try:
        detector.get_probabilities()
    except LangDetectException:
        return {}
    merged: dict[str, float] = {}
    for code, probability in zip(factory.get_lang_list(), detector.langprob):
        script = _REQUIRED_SCRIPT.get(code)
        if script is not None and not script.search(text):
            continue
        base = code.split("-")[0]
        merged[base] = merged.get(base, 0.0) + probability
    total = sum(merged.values())
    if not total:
        return {}
    return _ranked({code: probability / total for code, probability in merged.items()})


def _ranked(distribution: dict[str, float]) -> dict[str, float]:
    """Best first, without the languages below ``_MIN_REPORTED``."""
    ranked = sorted(distribution.items(), key=lambda item: item[1], reverse=True)
    return {code: probability for code, probability in ranked if probability >= _MIN_REPORTED}


@lru_cache(maxsize=None)
def _word_frequencies(language: str) -> dict[str, float]:
    # Imported here: wordfreq is slow to import and only language detection needs it.
    from wordfreq import get_frequency_dict

    return get_frequency_dict(language, wordlist="small")


def _word_log_likelihoods(words: list[str], languages: frozenset[str]) -> dict[str, float]:
    """Log-probability of the words under each language's unigram frequencies."""
    scores = {}
    for language in sorted(languages):
        frequencies = _word_frequencies(language)
        scores[language] = sum(math.log(max(frequencies.get(word, 0.0), _UNLISTED_WORD_FREQUENCY))
                               for word in words)
    return scores


def _resolve_related_languages(text: str, distribution: dict[str, float]) -> dict[str, float]:
    """Let words choose between closely related languages.

    langdetect's best language stands unless the text's words are at least
    ``e**WORD_EVIDENCE_LOG_ODDS`` times likelier under another language of its group
    (word frequencies from wordfreq's lists, a uniform prior within the group). When they
    are, the group keeps the probability langdetect gave it, shared among its members in
    proportion to the words' likelihoods: "No, creo que no." is Spanish, not the
    Portuguese that its n-grams suggest.
    """
    if not distribution:
        return distribution
    best = next(iter(distribution))
    group = next((languages for languages in RELATED_LANGUAGES if best in languages), None)
    if group is None:
        return distribution
    from wordfreq import simple_tokenize

    words = [word for word in simple_tokenize(text[:_MAX_TEXT_CHARS]) if word.isalpha()]
    scores = _word_log_likelihoods(words, group)
    favourite = max(scores, key=lambda language: (scores[language], language == best))
    if scores[favourite] - scores[best] < WORD_EVIDENCE_LOG_ODDS:
        return distribution
    group_probability = sum(distribution.get(language, 0.0) for language in group)
    top_score = scores[favourite]
    weights = {language: math.exp(score - top_score) for language, score in scores.items()}
    total_weight = sum(weights.values())
    resolved = {language: probability for language, probability in distribution.items() if language not in group}
    for language, weight in weights.items():
        resolved[language] = group_probability * weight / total_weight
    return _ranked(resolved)


def detect_language(text: str, declared: str | None = None) -> tuple[str | None, float | None]:
    """``(language, probability)`` of ``text``.

    ``declared`` (the page's own ISO 639-1 declaration) is returned, with probability
    ``None``, when the text is too short, has no detectable features, or its best language
    is below ``MIN_CONFIDENCE``. Without a declaration, the best guess is returned anyway
    (``(None, None)`` only for text with no letters).
    """
    if declared and len(_WORD_CHAR_RE.findall(text)) < MIN_DETECTION_CHARS:
        return declared, None
    distribution = language_distribution(text)
    if not distribution:
        return declared, None
    language, probability = next(iter(distribution.items()))
    if declared and probability < MIN_CONFIDENCE:
        return declared, None
    return language, round(probability, 4)
