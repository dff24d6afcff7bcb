"""Accent- and case-folding that keeps every character at its position.

The Elasticsearch test node has no analysis-common module (no ``asciifolding``),
so mediawatch folds text in Python: ``*_folded`` fields are indexed next to the
original ones and queries are folded the same way. Works identically on a full
Elasticsearch. Folding is one character for one character, so an offset in the
folded text is the same offset in the original: highlights found in the folded
field can be mapped back onto the original text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    lowered = ch.lower()
    if len(lowered) != 1:  # e.g. 'İ' lowers to two code points; keep length
        lowered = ch.casefold()[:1] or ch
    decomposed = unicodedata.normalize("NFD", lowered)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Characters whose base is not a single code point (ligatures, 'ß' stays 'ß')
    # are kept as they are so that positions never shift.
    return base if len(base) == 1 else lowered


def fold(text: str) -> str:
    """Lowercase and strip diacritics: 'México' -> 'mexico', 'EMBAJADA' -> 'embajada'."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)
