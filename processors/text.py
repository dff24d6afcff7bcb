"""Text utilities shared by the relevance, deduplication and claim stages.

Everything here works on plain ``str`` and keeps positions: matching runs on
``mediawatch.textfold.fold(text)``, which is one character for one character,
so an offset found in the folded text is the same offset in the original and
a matched passage can be quoted exactly as the page wrote it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mediawatch.textfold import fold

_WORD_RE = re.compile(r"\w+")
T = TypeVar("T")

# --- Broken encodings --------------------------------------------------------

# UTF-8 bytes decoded as cp1252/latin-1 ("MÃ©xico", "donâ€™t"): a lead byte
# 0xC2-0xF4 shown as its cp1252 character, followed by continuation bytes
# 0x80-0xBF shown as theirs (cp1252 maps some of them to typographic signs).
_CP1252_CONTINUATION = "\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_MOJIBAKE_RE = re.compile(f"[\xc2-\xf4][{_CP1252_CONTINUATION}]+")


def _encode_cp1252(text: str) -> bytes:
    # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined; latin-1 covers them.
    return b"".join(ch.encode("cp1252") if ch.encode("cp1252", "ignore") else ch.encode("latin-1") for ch in text)


# Correct text can look like a mojibake run: German "Spaß“" is "ß" + "“", which
# would decode to an N'Ko letter. "Ü", "Ý", "Þ", "ß" + punctuation give Syriac,
# Thaana or N'Ko (U+0700-U+07FF), scripts no real mojibake here comes from.
_IMPLAUSIBLE_REPAIR_RE = re.compile("[\u0700-\u07ff]")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252/latin-1, run by run.

    Only runs that re-encode to valid UTF-8 of a plausible script are replaced,
    so correct text ("São Paulo", "Ã" alone, "Spaß“") is left alone.
    """

    def fix(match: re.Match[str]) -> str:
        run = match.group()
        try:
            repaired = _encode_cp1252(run).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return run
        return run if _IMPLAUSIBLE_REPAIR_RE.search(repaired) else repaired

    return _MOJIBAKE_RE.sub(fix, text) if not text.isascii() else text


# --- Normalisation, words, shingles -----------------------------------------


def normalise(text: str) -> str:
    """The comparable form of a text: encoding repaired, folded, words joined by one space.

    Two copies of an article that differ only in case, accents, punctuation,
    whitespace or a cp1252/UTF-8 mix-up normalise to the same string.
    """
    repaired = unicodedata.normalize("NFC", repair_mojibake(text))
    return " ".join(_WORD_RE.findall(fold(repaired)))


def words(text: str) -> list[str]:
    """The words of ``normalise(text)``."""
    return normalise(text).split()


# Characters dropped from Latin-script words by ``skeleton_words``: vowels, and
# whatever is not ASCII once folded ("ß", "ø", and U+FFFD where a letter was lost).
_SKELETON_DROP_RE = re.compile(r"[aeiou]|[^\x00-\x7f]")
_TOKEN_RE = re.compile(r"[\w\ufffd]+")


def _is_latin(token: str) -> bool:
    return token.isascii() or all(
        not c.isalpha() or c.isascii() or c == "\ufffd" or "LATIN" in unicodedata.name(c, "") for c in token
    )


def skeleton_words(text: str) -> list[str]:
    """Words reduced to what survives a lost encoding: Latin-script words keep their consonants.

    A page served as latin-1 and read as UTF-8 loses every accented letter
    ("México" -> "M\ufffdxico"); without vowels and non-ASCII letters both are
    "mxc". Words in other scripts are kept whole. For comparing texts (shingles),
    not for showing them.
    """
    repaired = unicodedata.normalize("NFC", repair_mojibake(text))
    skeletons = []
    for token in _TOKEN_RE.findall(fold(repaired)):
        skeleton = _SKELETON_DROP_RE.sub("", token) if _is_latin(token) else token
        if skeleton:
            skeletons.append(skeleton)
    return skeletons


def shingles(tokens: list[str], size: int) -> set[str]:
    """Word n-grams of ``size`` words (a text shorter than that is one shingle)."""
    if len(tokens) < size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


# --- Sentences ---------------------------------------------------------------

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets)
# before whitespace, or at a line break.
_BOUNDARY_RE = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)|\n")
# Initialisms and one-letter initials ("U.S.", "EE.UU.", "J.") end in a period
# without ending the sentence: "the U.S. Embassy" is one sentence.
_INITIALISM_RE = re.compile(r"(?:\b[A-ZÀ-Þ]\.)+$|\b\w{1,2}\.\w{1,2}\.$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr sra srta dra st gen col gov sen rep pres lic ing av no nr art abs vs etc jr".split()
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _ends_with_abbreviation(text: str, end: int) -> bool:
    head = text[max(0, end - 12) : end + 1].rstrip("\"'»”’)]")
    if _INITIALISM_RE.search(head):
        return True
    last_word = re.search(r"(\w+)\.$", head)
    return bool(last_word and last_word.group(1).lower() in _ABBREVIATIONS)


def sentence_spans(text: str) -> list[Span]:
    """Sentence spans of ``text`` (stripped of surrounding whitespace, never empty)."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        if match.group() != "\n" and _ends_with_abbreviation(text, match.start()):
            continue
        _append_span(text, start, match.end(), spans)
        start = match.end()
    _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start, end))


# --- Phrase matching ---------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    term: str   # the vocabulary term as written in the topic file
    start: int  # offsets in the searched text
    end: int


def _is_acronym(term: str) -> bool:
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _term_pattern(term: str) -> str:
    """Regex for one term: words separated by any whitespace; a trailing ``*`` is a word prefix."""
    prefix = term.endswith("*")
    body = r"\s+".join(re.escape(part) for part in term.rstrip("*").split())
    return body + (r"\w*" if prefix else "")


class PhraseMatcher:
    """Finds vocabulary terms in text, whole words only.

    Terms are matched on folded text (case and accents ignored: "Mexico"
    finds "MÉXICO"), except acronyms written in capitals ("US", "EUA", "CIA"),
    which are matched case-sensitively so that the English pronoun "us" is not
    the United States. A term ending in ``*`` matches any word starting with it
    ("embass*" finds "embassy" and "embassies").
    """

    def __init__(self, terms: Iterable[str]):
        terms = list(dict.fromkeys(t.strip() for t in terms if t.strip()))
        self._folded_terms = [t for t in terms if not _is_acronym(t)]
        self._acronyms = [t for t in terms if _is_acronym(t)]
        self._folded_re = self._compile([fold(t) for t in self._folded_terms])
        self._acronym_re = self._compile(self._acronyms)
        self._folded_lookup = self._lookup(self._folded_terms, fold)
        self._acronym_lookup = self._lookup(self._acronyms, lambda t: t)

    @staticmethod
    def _compile(terms: list[str]) -> re.Pattern[str] | None:
        if not terms:
            return None
        # Longest first so that "United States" wins over "United".
        alternatives = sorted((_term_pattern(t) for t in terms), key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")

    @staticmethod
    def _lookup(terms: list[str], key) -> list[tuple[re.Pattern[str], str]]:
        return [(re.compile(_term_pattern(key(t)) + r"$"), t) for t in terms]

    @staticmethod
    def _term_of(matched: str, lookup: list[tuple[re.Pattern[str], str]]) -> str:
        for pattern, term in lookup:
            if pattern.match(matched):
                return term
        raise AssertionError(f"matched text {matched!r} belongs to no term")  # the regexes are built from the same terms

    def __bool__(self) -> bool:
        return bool(self._folded_terms or self._acronyms)

    def find(self, text: str, folded: str | None = None) -> list[Hit]:
        """All hits in ``text``, in order of position (pass ``fold(text)`` if already computed)."""
        hits: list[Hit] = []
        if self._folded_re is not None:
            folded = fold(text) if folded is None else folded
            hits += [Hit(self._term_of(m.group(), self._folded_lookup), m.start(), m.end()) for m in self._folded_re.finditer(folded)]
        if self._acronym_re is not None:
            hits += [Hit(self._term_of(m.group(), self._acronym_lookup), m.start(), m.end()) for m in self._acronym_re.finditer(text)]
        return sorted(hits, key=lambda h: (h.start, -h.end))


class MatcherCache(Generic[T]):
    """Matchers compiled from a topic, kept for the next article.

    Topics cannot be dict keys (they hold dicts), so entries are keyed by the
    topic object's id and keep the topic alive, which keeps the id from being
    reused; the oldest entries go when a long-running process reloads topics.
    """

    def __init__(self, build: Callable[..., T], size: int = 32):
        self._build = build
        self._size = size
        self._entries: OrderedDict[tuple, tuple[object, T]] = OrderedDict()

    def get(self, topic: object, *args: Hashable) -> T:
        key = (id(topic), *args)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (topic, self._build(topic, *args))
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry[1]


def word_index(text: str, offset: int) -> int:
    """How many words of ``text`` start before ``offset`` (a distance in words between two hits)."""
    return len(_WORD_RE.findall(text, 0, offset))
