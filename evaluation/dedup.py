"""Precision and recall of duplicate pairs, on a labelled set derived from real pages.

The labelled set (``evaluation/data/dedup_pairs.jsonl``) holds no text: each
pair names two documents of the shared corpora and the edits applied to each,
so it is rebuilt from ``../shared/corpora`` on every run and the corpora stay
outside the repository. Documents are the 93 gold article texts of the
extraction benchmark (``gold:<id>``) and the text trafilatura (pinned version,
default settings) extracts from the web-pages corpus (``page:<file>``, pages
of at least ``MIN_WORDS`` words).

Duplicates (label 1), one or two per document, of these kinds:
  boilerplate   the same text with other real boilerplate around it (the
                "without" segments of the web-pages corpus, i.e. real menus,
                teasers and footers)
  truncation    a copy cut after 45-85 % of its paragraphs, other boilerplate
  small_edits   ~3 % of words deleted, replaced or repeated, one sentence dropped
  mojibake      the UTF-8 text decoded as cp1252 ("MÃ©xico")
  broken_encoding  accented letters lost (served as latin-1, read as UTF-8)
  wire_copy     the same body under two outlets' datelines, credits and boilerplate

Non-duplicates (label 0):
  different      two random documents
  same_site      two different articles of the same site (real pairs in the corpora)
  same_boilerplate  two different documents wrapped in the same boilerplate
  nearest        each document with its most similar other document (exact
                 Jaccard of word 3-shingles): the hardest real negatives
  quotation      a document that quotes one paragraph of another
  reused_background  a new article whose last part (about 40 %) is the background
                 section of an older one, as follow-up stories are written

Usage:
  python -m evaluation.dedup build   # rewrite the labelled set (deterministic)
  python -m evaluation.dedup score   # P/R of processors.dedup.DuplicateIndex; writes RESULTS.md
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from evaluation.corpora import CORPORA_DIR
from evaluation.results import write_section
from mediawatch.records import Article
from mediawatch.textfold import fold
from processors.dedup import SHINGLE_WORDS, DuplicateIndex
from processors.text import shingles, words

PAIRS_FILE = Path(__file__).resolve().parent / "data" / "dedup_pairs.jsonl"
MIN_WORDS = 150
SEED = 20240405  # the night of the raid
QUOTE_WORDS = 60  # a long quotation, not a copy
# Two corpus documents this similar are the same text (the corpora hold a few).
CORPUS_COPY_JACCARD = 0.9


# --- the documents -----------------------------------------------------------


@cache
def _gold() -> dict[str, dict]:
    return json.loads((CORPORA_DIR / "extraction-benchmark" / "ground-truth.json").read_text(encoding="utf-8"))


@cache
def _segments() -> dict[str, dict]:
    return json.loads((CORPORA_DIR / "web-pages" / "segments.json").read_text(encoding="utf-8"))


@cache
def _boilerplate_pool() -> list[str]:
    """Every real boilerplate segment of the web-pages corpus, as ``<file>#<n>`` references."""
    return [f"{page['file']}#{n}" for page in _segments().values() for n in range(len(page.get("without", [])))]


@cache
def _boilerplate(ref: str) -> str:
    file, n = ref.split("#")
    by_file = {page["file"]: page for page in _segments().values()}
    return by_file[file]["without"][int(n)]


@cache
def _page_text(file: str) -> str:
    import trafilatura

    html = gzip.decompress((CORPORA_DIR / "web-pages" / "html" / file).read_bytes())
    return trafilatura.extract(html) or ""


def document(ref: str) -> str:
    kind, name = ref.split(":", 1)
    if kind == "gold":
        return _gold()[name]["articleBody"]
    return _page_text(name)


def _site(ref: str) -> str:
    kind, name = ref.split(":", 1)
    if kind == "gold":
        return urlparse(_gold()[name]["url"]).netloc
    urls = [u for u, page in _segments().items() if page["file"] == name]
    return urlparse(urls[0]).netloc if urls else ""


# --- edits (each a JSON-able op applied to a text) ---------------------------


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def _op_boilerplate(text: str, op: dict) -> str:
    segments = [_boilerplate(ref) for ref in op["segments"]]
    head, tail = segments[: op["header"]], segments[op["header"] :]
    return "\n".join([*head, text, *tail])


def _op_truncate(text: str, op: dict) -> str:
    paragraphs = _paragraphs(text)
    total = sum(len(p) for p in paragraphs)
    kept, length = [], 0
    for paragraph in paragraphs:
        if kept and length >= op["keep"] * total:
            break
        kept.append(paragraph)
        length += len(paragraph)
    if len(kept) == len(paragraphs):  # one long paragraph: cut its words instead
        tokens = text.split()
        return " ".join(tokens[: max(1, int(len(tokens) * op["keep"]))])
    return "\n".join(kept)


def _op_edit(text: str, op: dict) -> str:
    rng = random.Random(op["seed"])
    paragraphs = _paragraphs(text)
    sentences = [s for p in paragraphs for s in p.split(". ")]
    if len(sentences) > 3:
        sentences.pop(rng.randrange(len(sentences)))
    tokens = ". ".join(sentences).split(" ")
    edited = []
    for token in tokens:
        roll = rng.random()
        if roll < op["rate"] / 3:
            continue  # deleted
        if roll < 2 * op["rate"] / 3:
            edited.append(token[::-1])  # replaced by another "word"
        elif roll < op["rate"]:
            edited += [token, token]  # repeated
        else:
            edited.append(token)
    return " ".join(edited)


# How browsers decode windows-1252 (WHATWG): the five bytes cp1252 leaves undefined
# become the C1 control characters of the same number.
_WINDOWS_1252 = "".join(bytes([n]).decode("cp1252", errors="ignore") or chr(n) for n in range(256))


def _op_mojibake(text: str, op: dict) -> str:
    return "".join(_WINDOWS_1252[byte] for byte in text.encode("utf-8"))


def _op_broken_encoding(text: str, op: dict) -> str:
    return text.encode("latin-1", errors="replace").decode("utf-8", errors="replace")


def _op_wire(text: str, op: dict) -> str:
    return f"{op['dateline']} - {text}\n{op['credit']}"


def _op_reuse(text: str, op: dict) -> str:
    """A follow-up: new text, then the last ``share`` of another document's words reused."""
    share, new, older = op["share"], text.split(), document(op["from"]).split()
    # The reused part is ``share`` of the follow-up, and at most ``share`` of the older text.
    reused_count = min(int(len(older) * share), int(len(new) * share / (1 - share)))
    new = new[: int(reused_count * (1 - share) / share)]
    return " ".join(new) + "\n" + " ".join(older[len(older) - reused_count :])


def _op_quote(text: str, op: dict) -> str:
    """Insert the longest paragraph of another document, in quotes, in the middle."""
    quoted = " ".join(max(_paragraphs(document(op["from"])), key=len).split()[:QUOTE_WORDS])
    paragraphs = _paragraphs(text)
    middle = len(paragraphs) // 2
    return "\n".join([*paragraphs[:middle], f"“{quoted}”", *paragraphs[middle:]])


OPS: dict[str, Callable[[str, dict], str]] = {
    "boilerplate": _op_boilerplate,
    "truncate": _op_truncate,
    "edit": _op_edit,
    "mojibake": _op_mojibake,
    "broken_encoding": _op_broken_encoding,
    "wire": _op_wire,
    "quote": _op_quote,
    "reuse": _op_reuse,
}


def materialise(side: dict) -> str:
    text = document(side["doc"])
    for op in side.get("ops", []):
        text = OPS[op["op"]](text, op)
    return text


# --- building the labelled set -----------------------------------------------


class _Builder:
    def __init__(self, docs: list[str]):
        self.docs = docs
        self.rng = random.Random(SEED)
        self.pool = _boilerplate_pool()
        self.pairs: list[dict] = []

    def boilerplate(self, count: int = 5) -> dict:
        return {"op": "boilerplate", "segments": self.rng.sample(self.pool, count), "header": 2}

    def add(self, kind: str, label: int, a: dict, b: dict) -> None:
        self.pairs.append({"id": f"{kind}-{len(self.pairs):04d}", "kind": kind, "label": label, "a": a, "b": b})

    def duplicates(self, doc: str, kinds: Iterable[str]) -> None:
        for kind in kinds:
            a = {"doc": doc, "ops": [self.boilerplate()]}
            if kind == "boilerplate":
                b = {"doc": doc, "ops": [self.boilerplate()]}
            elif kind == "truncation":
                b = {"doc": doc, "ops": [{"op": "truncate", "keep": round(self.rng.uniform(0.45, 0.85), 2)}, self.boilerplate()]}
            elif kind == "small_edits":
                b = {"doc": doc, "ops": [{"op": "edit", "seed": self.rng.randrange(10**6), "rate": 0.03}, self.boilerplate()]}
            elif kind == "broken_encoding" and not _is_latin_script(document(doc)):
                # Served as latin-1, a non-Latin script is lost entirely: no copy left to find.
                b = {"doc": doc, "ops": [self.boilerplate(), {"op": "mojibake"}]}
                kind = "mojibake"
            elif kind in ("mojibake", "broken_encoding"):
                b = {"doc": doc, "ops": [self.boilerplate(), {"op": kind}]}
            else:  # wire_copy
                agency = self.rng.choice(["Reuters", "AP", "AFP", "EFE", "dpa", "ANSA"])
                a = {"doc": doc, "ops": [{"op": "wire", "dateline": f"QUITO ({agency})", "credit": f"({agency})"}, self.boilerplate()]}
                b = {"doc": doc, "ops": [{"op": "wire", "dateline": f"Quito, {agency}.", "credit": f"Source: {agency}"}, self.boilerplate()]}
            self.add(kind, 1, a, b)

    def build(self, nearest: dict[str, tuple[str, float]], same_site: list[tuple[str, str]]) -> list[dict]:
        kinds = ["boilerplate", "truncation", "small_edits", "mojibake", "broken_encoding", "wire_copy"]
        for n, doc in enumerate(self.docs):
            self.duplicates(doc, [kinds[n % len(kinds)], kinds[(n + 3) % len(kinds)]])
        for doc in self.docs:
            other = self.rng.choice([d for d in self.docs if d != doc])
            self.add("different", 0, {"doc": doc, "ops": [self.boilerplate()]}, {"doc": other, "ops": [self.boilerplate()]})
        for doc in self.docs[::2]:
            other = self.rng.choice([d for d in self.docs if d != doc])
            shared = self.boilerplate(8)
            self.add("same_boilerplate", 0, {"doc": doc, "ops": [shared]}, {"doc": other, "ops": [shared]})
        for a, b in same_site:
            self.add("same_site", 0, {"doc": a}, {"doc": b})
        for doc, (other, jaccard) in nearest.items():
            if jaccard >= CORPUS_COPY_JACCARD:
                self.add("corpus_copy", 1, {"doc": doc}, {"doc": other})
            else:
                self.add("nearest", 0, {"doc": doc}, {"doc": other})
        for doc in self.docs[1::3]:
            quoted = self.rng.choice([d for d in self.docs if d != doc])
            self.add("quotation", 0, {"doc": quoted}, {"doc": doc, "ops": [{"op": "quote", "from": quoted}]})
        for doc in self.docs[2::3]:
            older = self.rng.choice([d for d in self.docs if d != doc])
            self.add("reused_background", 0, {"doc": older}, {"doc": doc, "ops": [{"op": "reuse", "from": older, "share": 0.4}]})
        return self.pairs


def _usable_documents() -> list[str]:
    gold = [f"gold:{k}" for k in sorted(_gold())]
    pages = [f"page:{p['file']}" for p in sorted(_segments().values(), key=lambda p: p["file"])]
    return [ref for ref in gold + pages if len(document(ref).split()) >= MIN_WORDS]


def _is_latin_script(text: str) -> bool:
    letters = [c for c in fold(text) if c.isalpha()]
    return sum(c.isascii() for c in letters) >= 0.9 * len(letters)


def _nearest_neighbours(docs: list[str]) -> dict[str, tuple[str, float]]:
    """Each document's most similar other document and their exact Jaccard similarity."""
    sets = {d: shingles(words(document(d)), SHINGLE_WORDS) for d in docs}
    index: dict[str, list[str]] = defaultdict(list)
    for d, grams in sets.items():
        for g in grams:
            index[g].append(d)
    nearest = {}
    for d, grams in sets.items():
        overlap: dict[str, int] = defaultdict(int)
        for g in grams:
            for other in index[g]:
                if other != d:
                    overlap[other] += 1
        if overlap:
            best = max(sorted(overlap), key=lambda o: overlap[o] / len(sets[d] | sets[o]))
            nearest[d] = (best, overlap[best] / len(sets[d] | sets[best]))
    return nearest


def _same_site_pairs(docs: list[str]) -> list[tuple[str, str]]:
    by_site: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        site = _site(d)
        if site and site != "web.archive.org":
            by_site[site].append(d)
    return [(group[i], group[j]) for group in by_site.values() for i in range(len(group)) for j in range(i + 1, len(group))]


def build_pairs() -> list[dict]:
    docs = _usable_documents()
    return _Builder(docs).build(_nearest_neighbours(docs), _same_site_pairs(docs))


def write_pairs(pairs: list[dict], path: Path = PAIRS_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, sort_keys=True) + "\n" for p in pairs), encoding="utf-8")


def load_pairs(path: Path = PAIRS_FILE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pair_texts(pair: dict) -> tuple[str, str]:
    return materialise(pair["a"]), materialise(pair["b"])


# --- scoring -------------------------------------------------------------------


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, label: int, predicted: bool) -> None:
        if label and predicted:
            self.tp += 1
        elif label:
            self.fn += 1
        elif predicted:
            self.fp += 1
        else:
            self.tn += 1


def judge_pair(a: str, b: str, state_dir: Path, **index_options) -> bool:
    """Does a fresh DuplicateIndex put the two texts into one group?"""
    with DuplicateIndex(state_dir, **index_options) as index:
        first = index.assign(Article(url="https://a.example/1", id="a", text=a))
        second = index.assign(Article(url="https://b.example/1", id="b", text=b))
    return first.duplicate_group == second.duplicate_group


def _overlap(a: str, b: str) -> tuple[float, float]:
    """Exact Jaccard similarity and containment (of the smaller) of the pair's word shingles."""
    sa, sb = shingles(words(a), SHINGLE_WORDS), shingles(words(b), SHINGLE_WORDS)
    if not sa or not sb:
        return 0.0, 0.0
    common = len(sa & sb)
    return common / len(sa | sb), common / min(len(sa), len(sb))


@dataclass
class Results:
    overall: Scores
    by_kind: dict[str, Scores]
    overlap_by_kind: dict[str, list[tuple[float, float]]]  # exact (Jaccard, containment) per pair
    wrong: list[str]  # ids of misjudged pairs
    seconds_per_assign: float


def score(pairs: list[dict], **index_options) -> Results:
    overall, by_kind, overlaps, wrong = Scores(), defaultdict(Scores), defaultdict(list), []
    elapsed = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for n, pair in enumerate(pairs):
            a, b = pair_texts(pair)
            overlaps[pair["kind"]].append(_overlap(a, b))
            start = time.perf_counter()
            predicted = judge_pair(a, b, Path(tmp) / str(n), **index_options)
            elapsed += time.perf_counter() - start
            overall.add(pair["label"], predicted)
            by_kind[pair["kind"]].add(pair["label"], predicted)
            if predicted != bool(pair["label"]):
                wrong.append(pair["id"])
    return Results(overall, dict(by_kind), dict(overlaps), wrong, elapsed / max(1, 2 * len(pairs)))


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def _report(pairs: list[dict], results: Results) -> str:
    overall, wrong, per_assign = results.overall, results.wrong, results.seconds_per_assign
    rows = "\n".join(
        f"| {kind} | {'duplicate' if s.tp + s.fn else 'not duplicate'} | {s.tp + s.fn + s.fp + s.tn} | "
        f"{(s.tp / (s.tp + s.fn)) if s.tp + s.fn else (s.tn / (s.tn + s.fp)):.3f} | "
        f"{_range([j for j, _ in results.overlap_by_kind[kind]])} | {_range([c for _, c in results.overlap_by_kind[kind]])} |"
        for kind, s in sorted(results.by_kind.items())
    )
    docs = {p[side]["doc"] for p in pairs for side in ("a", "b")}
    return f"""## Deduplication (duplicate pairs)

`python -m evaluation.dedup score` on `evaluation/data/dedup_pairs.jsonl`: {len(pairs)} labelled pairs
({sum(p['label'] for p in pairs)} duplicate, {sum(1 - p['label'] for p in pairs)} not) built by
`python -m evaluation.dedup build` from {len(docs)} real documents (extraction-benchmark gold texts and
trafilatura text of web-pages with at least {MIN_WORDS} words). Each pair is judged by a fresh
`DuplicateIndex` (defaults: MinHash 256 permutations, word {SHINGLE_WORDS}-shingles, Jaccard >= 0.5 or
containment >= 0.8).

**Precision {overall.precision:.3f}, recall {overall.recall:.3f}** (TP {overall.tp}, FN {overall.fn}, FP {overall.fp}, TN {overall.tn});
{per_assign * 1000:.1f} ms per assign (fresh index, includes SQLite commits).

| kind | label | pairs | judged correctly | exact Jaccard | exact containment |
|---|---|---|---|---|---|
{rows}

Misjudged pairs: {', '.join(wrong) or 'none'}.

The Jaccard and containment columns (exact, word 3-shingles, min-max per kind) say how hard each
kind is: the non-duplicates reach at most the values shown, the duplicates go down to them.
The positives are real texts under simulated republishing (the corpora hold only {results.by_kind.get('corpus_copy', Scores()).tp + results.by_kind.get('corpus_copy', Scores()).fn} real copies),
so these figures measure robustness to those edits, not the mix of a real crawl.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.dedup", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "score"])
    args = parser.parse_args(argv)
    if args.action == "build":
        pairs = build_pairs()
        write_pairs(pairs)
        print(f"wrote {len(pairs)} pairs to {PAIRS_FILE}")
        return 0
    pairs = load_pairs()
    report = _report(pairs, score(pairs))
    write_section("dedup", report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
