"""Deduplication: which articles are copies of one another, and which copy came first?

Three tests, cheapest first, put a new article into an existing duplicate group:

1. the same canonical URL (the same article fetched from two addresses),
2. the same normalised text (``processors.text.normalise``: case, accents,
   punctuation, whitespace and cp1252/UTF-8 mix-ups do not count),
3. near-duplicate text: MinHash signatures of word shingles, with LSH banding
   to find candidates and an estimated Jaccard similarity (small edits, other
   boilerplate) or containment (a truncated copy, a teaser) to confirm them.

Otherwise the article starts its own group. The group id never changes once
given (it is derived from the first member), so indexed documents stay valid;
the *original* of a group is its earliest published member and can change when
an older copy turns up later: ``changed_originals`` then names the articles
whose ``is_original`` flag flipped, for the indexer to update.

State lives in one SQLite database under ``state_dir / "dedup"``: every
``assign`` is one transaction (a crash leaves the previous state), and every
lookup is an indexed one (canonical URL, text hash, LSH bucket), so the cost of
a new article does not grow with the number already indexed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from mediawatch.records import Article
from mediawatch.settings import ConfigError
from mediawatch.sqlite_state import open_state_db, transaction
from processors.text import shingles, skeleton_words, words

SHINGLE_WORDS = 3
# A copy that contains (almost) all of a shorter text is a truncation or a
# teaser of the same article, whatever its Jaccard similarity...
CONTAINMENT_THRESHOLD = 0.8
# ...provided the shorter text is long enough not to be a stock phrase.
MIN_CONTAINED_SHINGLES = 40
# LSH buckets are read with a limit: a group of a thousand wire copies fills the
# same buckets, and a few members of it are enough to find the group.
CANDIDATES_PER_BUCKET = 8
# Candidates are looked for below the confirmation threshold, so that truncated
# copies (low Jaccard, high containment) reach the containment test.
CANDIDATE_THRESHOLD_RATIO = 0.6
# update_batch builds a shingles x permutations matrix: fed in chunks, a huge
# page costs at most MINHASH_CHUNK x num_perm x 8 bytes (8 MiB) at a time.
MINHASH_CHUNK = 4096
# Sorts after every real date: an undated article is never earlier than a dated one.
UNDATED = "9999-12-31T23:59:59+00:00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    canonical_url TEXT,
    content_hash TEXT,
    group_id TEXT NOT NULL,
    published TEXT NOT NULL,
    shingle_count INTEGER NOT NULL,
    signature BLOB
);
CREATE INDEX IF NOT EXISTS members_canonical_url ON members (canonical_url);
CREATE INDEX IF NOT EXISTS members_content_hash ON members (content_hash);
CREATE INDEX IF NOT EXISTS members_group_order ON members (group_id, published, seq);
CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, original_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bands (band INTEGER NOT NULL, bucket BLOB NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS bands_bucket ON bands (band, bucket);
CREATE INDEX IF NOT EXISTS bands_key ON bands (key);
"""


@dataclass
class _Fingerprint:
    content_hash: str | None
    shingle_count: int
    signature: np.ndarray | None


def _published_key(value: str | None) -> str:
    """``published_at`` as a sortable UTC ISO string (unparseable or missing: ``UNDATED``)."""
    if not value:
        return UNDATED
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return UNDATED
    if parsed.tzinfo is None:  # a date without zone is taken as UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds")


def _article_key(article: Article) -> str:
    """The identity of an article across runs: its id, else its canonical URL, else its URL."""
    return article.id or article.canonical_url or article.url


class DuplicateIndex:
    """Persistent duplicate groups; see the module docstring."""

    def __init__(self, state_dir: Path, *, threshold: float = 0.5, num_perm: int = 256):
        self.threshold = threshold
        self.num_perm = num_perm
        self._bands, self._rows = _band_shape(threshold * CANDIDATE_THRESHOLD_RATIO, num_perm)
        self.changed_originals: list[str] = []  # set by each assign()
        directory = Path(state_dir) / "dedup"
        directory.mkdir(parents=True, exist_ok=True)
        # One assign is one transaction: a crash or an error leaves the previous state.
        self._db = open_state_db(directory / "dedup.sqlite3", timeout=60)
        self._db.executescript(_SCHEMA)
        self._check_parameters()

    def _check_parameters(self) -> None:
        # Signatures and buckets made with other parameters cannot be compared.
        wanted = {
            "num_perm": str(self.num_perm),
            "shingles": f"{SHINGLE_WORDS} skeleton words",
            "bands": f"{self._bands}x{self._rows}",
        }
        with transaction(self._db):
            stored = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
            if not stored:
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
            elif stored != wanted:
                raise ConfigError(
                    f"dedup state was built with {stored}, not {wanted}: use the same parameters or a new state directory"
                )


    # --- fingerprints -------------------------------------------------------

    def _fingerprint(self, text: str) -> _Fingerprint:
        tokens = words(text)
        if not tokens:
            return _Fingerprint(None, 0, None)
        content_hash = hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()
        # Shingles of word skeletons, so that a copy that lost its accents to a wrong
        # encoding still shares them; the hash above keeps the full words.
        grams = shingles(skeleton_words(text), SHINGLE_WORDS)
        if not grams:  # only vowels ("a e o"): nothing to compare but the hash
            return _Fingerprint(content_hash, 0, None)
        minhash = MinHash(num_perm=self.num_perm, seed=1)
        ordered = sorted(grams)
        for start in range(0, len(ordered), MINHASH_CHUNK):
            minhash.update_batch([g.encode("utf-8") for g in ordered[start : start + MINHASH_CHUNK]])
        return _Fingerprint(content_hash, len(grams), minhash.hashvalues.astype(np.uint64))

    def _buckets(self, signature: np.ndarray) -> list[tuple[int, bytes]]:
        return [
            (band, hashlib.blake2b(signature[band * self._rows : (band + 1) * self._rows].tobytes(), digest_size=8).digest())
            for band in range(self._bands)
        ]

    def _near_duplicate_similarity(self, a: _Fingerprint, b_signature: bytes, b_count: int) -> float | None:
        """Estimated Jaccard similarity when the pair counts as duplicate, else None."""
        other = np.frombuffer(b_signature, dtype=np.uint64)
        jaccard = float(np.mean(a.signature == other))
        if jaccard >= self.threshold:
            return jaccard
        smaller = min(a.shingle_count, b_count)
        # |A ∩ B| = J (|A| + |B|) / (1 + J), estimated from the signatures.
        containment = jaccard * (a.shingle_count + b_count) / (1 + jaccard) / smaller
        if smaller >= MIN_CONTAINED_SHINGLES and containment >= CONTAINMENT_THRESHOLD:
            return jaccard
        return None

    # --- group lookup ---------------------------------------------------------

    def _find_group(self, key: str, canonical_url: str | None, fingerprint: _Fingerprint) -> str | None:
        if canonical_url:
            row = self._db.execute(
                "SELECT group_id FROM members WHERE canonical_url = ? AND key != ? LIMIT 1", (canonical_url, key)
            ).fetchone()
            if row:
                return row[0]
        if fingerprint.content_hash is None:
            return None
        row = self._db.execute(
            "SELECT group_id FROM members WHERE content_hash = ? AND key != ? LIMIT 1", (fingerprint.content_hash, key)
        ).fetchone()
        if row:
            return row[0]
        if fingerprint.signature is None:
            return None
        candidates: set[str] = set()
        for band, bucket in self._buckets(fingerprint.signature):
            rows = self._db.execute(
                "SELECT key FROM bands WHERE band = ? AND bucket = ? LIMIT ?", (band, bucket, CANDIDATES_PER_BUCKET)
            )
            candidates.update(k for (k,) in rows if k != key)
        best: tuple[float, str] | None = None
        for candidate in candidates:
            group_id, signature, count = self._db.execute(
                "SELECT group_id, signature, shingle_count FROM members WHERE key = ?", (candidate,)
            ).fetchone()
            similarity = self._near_duplicate_similarity(fingerprint, signature, count)
            if similarity is not None and (best is None or similarity > best[0]):
                best = (similarity, group_id)
        return best[1] if best else None

    # --- public API ---------------------------------------------------------

    def assign(self, article: Article) -> Article:
        """Set ``content_hash``, ``duplicate_group`` and ``is_original`` on ``article`` (and return it).

        Idempotent: assigning an article again (same id / canonical URL) keeps
        its group; new text or a new date updates its fingerprint and order.
        Afterwards ``changed_originals`` lists the other articles whose
        ``is_original`` flag this call flipped.
        """
        key = _article_key(article)
        fingerprint = self._fingerprint(article.text or "")
        published = _published_key(article.published_at)
        signature = fingerprint.signature.tobytes() if fingerprint.signature is not None else None
        with transaction(self._db):
            row = self._db.execute("SELECT group_id, content_hash FROM members WHERE key = ?", (key,)).fetchone()
            if row:
                group_id, old_hash = row
                self._db.execute(
                    "UPDATE members SET canonical_url = ?, content_hash = ?, published = ?, shingle_count = ?, signature = ?"
                    " WHERE key = ?",
                    (article.canonical_url, fingerprint.content_hash, published, fingerprint.shingle_count, signature, key),
                )
                if old_hash != fingerprint.content_hash:
                    self._db.execute("DELETE FROM bands WHERE key = ?", (key,))
                    self._insert_bands(key, fingerprint)
            else:
                group_id = self._find_group(key, article.canonical_url, fingerprint) or _new_group_id(key)
                self._db.execute(
                    "INSERT INTO members (key, canonical_url, content_hash, group_id, published, shingle_count, signature)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, article.canonical_url, fingerprint.content_hash, group_id, published, fingerprint.shingle_count, signature),
                )
                self._insert_bands(key, fingerprint)
            original, changed = self._update_original(group_id)
        self.changed_originals = [k for k in changed if k != key]
        article.content_hash = fingerprint.content_hash
        article.duplicate_group = group_id
        article.is_original = original == key
        return article

    def _insert_bands(self, key: str, fingerprint: _Fingerprint) -> None:
        if fingerprint.signature is not None:
            self._db.executemany(
                "INSERT INTO bands (band, bucket, key) VALUES (?, ?, ?)",
                [(band, bucket, key) for band, bucket in self._buckets(fingerprint.signature)],
            )

    def _update_original(self, group_id: str) -> tuple[str, list[str]]:
        """Record the group's earliest member as its original: (original, keys whose status changed)."""
        (earliest,) = self._db.execute(
            "SELECT key FROM members WHERE group_id = ? ORDER BY published, seq LIMIT 1", (group_id,)
        ).fetchone()
        row = self._db.execute("SELECT original_key FROM groups WHERE group_id = ?", (group_id,)).fetchone()
        if row is None:
            self._db.execute("INSERT INTO groups (group_id, original_key) VALUES (?, ?)", (group_id, earliest))
            return earliest, [earliest]
        if row[0] == earliest:
            return earliest, []
        self._db.execute("UPDATE groups SET original_key = ? WHERE group_id = ?", (earliest, group_id))
        return earliest, [row[0], earliest]

    def group_members(self, group_id: str) -> list[str]:
        """Keys of a group's members, earliest first."""
        return [k for (k,) in self._db.execute("SELECT key FROM members WHERE group_id = ? ORDER BY published, seq", (group_id,))]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "DuplicateIndex":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@lru_cache(maxsize=8)
def _band_shape(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH bands x rows that balance misses and false candidates at ``threshold``.

    datasketch integrates the probability curves to choose them, which takes a
    third of a second: computed once per parameter set.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def _new_group_id(key: str) -> str:
    return "dg-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]

