"""Language: langdetect, deterministic, with a fallback on the page's declared language.

langdetect samples n-grams at random; a private factory seeded with 0 makes every call
give the same answer for the same text. Two corrections on top of its raw distribution:
Chinese variants (zh-cn, zh-tw) are one language, ``zh``; and Korean or Japanese are only
possible when the text has Hangul or kana (langdetect's Korean and Japanese profiles also
cover Han characters, so it calls some plain Chinese sentences Korean). When the text is
too short to tell, or langdetect is unsure (a mixed-language page), the page's declared
language wins.
"""

from __future__ import annotations

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
    ranked = sorted(merged.items(), key=lambda item: item[1], reverse=True)
    return {code: probability / total for code, probability in ranked if probability / total >= _MIN_REPORTED}


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
