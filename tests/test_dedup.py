"""Deduplication on real article texts (the extraction benchmark's gold bodies):
exact and near-duplicate groups, the earliest published original, persistence,
idempotent reruns and a crash in the middle of writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from evaluation.dedup import Scores, judge_pair, load_pairs, materialise, pair_texts
from mediawatch.records import Article
from mediawatch.settings import PROJECT_ROOT, ConfigError
from processors.dedup import DuplicateIndex
from processors.text import normalise, repair_mojibake


@pytest.fixture(scope="module")
def gold(shared_dir) -> dict[str, str]:
    """Gold article body by benchmark id, sorted by id."""
    data = json.loads((shared_dir / "corpora/extraction-benchmark/ground-truth.json").read_text(encoding="utf-8"))
    return {k: data[k]["articleBody"] for k in sorted(data)}


@pytest.fixture(scope="module")
def gold_texts(gold) -> list[str]:
    return list(gold.values())


@pytest.fixture
def index(tmp_path):
    with DuplicateIndex(tmp_path) as duplicate_index:
        yield duplicate_index


def _article(key: str, text: str, published_at: str | None = None, canonical_url: str | None = None) -> Article:
    return Article(url=f"https://{key}.example/a", id=key, text=text, published_at=published_at, canonical_url=canonical_url)


def test_same_canonical_url_is_the_same_group(index, gold_texts):
    first = index.assign(_article("amp", gold_texts[0], canonical_url="https://outlet.example/story"))
    second = index.assign(_article("www", gold_texts[1][:300], canonical_url="https://outlet.example/story"))
    assert first.duplicate_group == second.duplicate_group


def test_same_text_normalised_is_the_same_hash_and_group(index, gold):
    doc_id, text = next((k, t) for k, t in gold.items() if "é" in t)
    variants = [
        text,
        "  " + text.upper().replace(" ", "\n "),
        materialise({"doc": f"gold:{doc_id}", "ops": [{"op": "mojibake"}]}),  # UTF-8 read as windows-1252
    ]
    assert "Ã©" in variants[2]
    assigned = [index.assign(_article(f"v{n}", v)) for n, v in enumerate(variants)]
    assert len({a.content_hash for a in assigned}) == 1
    assert len({a.duplicate_group for a in assigned}) == 1


def test_mojibake_is_repaired_and_correct_text_left_alone():
    assert repair_mojibake("MÃ©xico rompiÃ³ relaciones â€“ donâ€™t") == "México rompió relaciones – don’t"
    assert repair_mojibake("25Â°C") == "25°C"
    assert repair_mojibake("Ð¿Ñ€Ð¸Ð²ÐµÑ‚ Ø§Ù„Ø¹Ø±Ø¨ÙŠØ©") == "привет العربية"
    for correct in ("São Paulo", "ÃS", "Ã alone", "Ünïcödé", "Ärger über Öl", "„Spaß“ und Straße… groß»"):
        assert repair_mojibake(correct) == correct
    assert normalise("¡MÉXICO,  rompió!") == normalise("mexico rompio") == "mexico rompio"


def test_mojibake_repair_leaves_real_text_alone(shared_dir, gold_texts):
    # 2834 real texts in many languages and scripts, all correctly decoded.
    segments = json.loads((shared_dir / "corpora/web-pages/segments.json").read_text(encoding="utf-8"))
    texts = [t for page in segments.values() for t in page.get("with", []) + page.get("without", [])] + gold_texts
    assert len(texts) == 2834
    assert [t for t in texts if repair_mojibake(t) != t] == []


def test_every_real_article_is_its_own_group(index, gold_texts):
    # 93 different real articles (some from the same site): no false merges.
    groups = {index.assign(_article(f"g{n}", text)).duplicate_group for n, text in enumerate(gold_texts)}
    assert len(groups) == len(gold_texts) == 93


def test_near_copies_of_a_real_article_join_its_group(index, gold):
    base = {"doc": "gold:" + next(k for k, t in gold.items() if len(t.split()) >= 400 and not t.isascii())}
    original = index.assign(_article("wire", materialise(base)))
    copies = {
        "boilerplate": [{"op": "boilerplate", "segments": ["4d36cebfbc0486a5.html.gz#0", "4d36cebfbc0486a5.html.gz#1"], "header": 1}],
        "truncation": [{"op": "truncate", "keep": 0.6}],
        "small_edits": [{"op": "edit", "seed": 7, "rate": 0.03}],
        "mojibake": [{"op": "mojibake"}],
        "wire": [{"op": "wire", "dateline": "QUITO (Reuters)", "credit": "(Reporting by Reuters)"}],
    }
    for name, ops in copies.items():
        copy = index.assign(_article(name, materialise({**base, "ops": ops})))
        assert copy.duplicate_group == original.duplicate_group, name
        # Repaired mojibake is the same text; the others are near, not exact, copies.
        assert (copy.content_hash == original.content_hash) == (name == "mojibake"), name


def test_labelled_pairs_from_gold_documents(tmp_path):
    # The labelled set restricted to gold documents (no extraction needed), every second pair.
    pairs = [p for p in load_pairs() if p["a"]["doc"].startswith("gold:") and p["b"]["doc"].startswith("gold:")][::2]
    assert len(pairs) > 100 and {p["label"] for p in pairs} == {0, 1}
    scores = Scores()
    for n, pair in enumerate(pairs):
        scores.add(pair["label"], judge_pair(*pair_texts(pair), tmp_path / str(n)))
    assert scores.precision >= 0.98, scores
    assert scores.recall >= 0.93, scores


def test_earliest_published_member_is_the_original(index, gold_texts):
    text = gold_texts[5]
    late = index.assign(_article("late", text, "2024-04-07T10:00:00+02:00"))
    assert late.is_original and index.changed_originals == []
    undated = index.assign(_article("undated", text + " Updated.", None))
    assert not undated.is_original and index.changed_originals == []  # undated is never earlier
    early = index.assign(_article("early", text + " Correction.", "2024-04-06T22:00:00-05:00"))
    assert early.is_original
    assert index.changed_originals == ["late"]  # the indexer must flip it
    assert index.group_members(early.duplicate_group) == ["early", "late", "undated"]


def test_reassigning_is_idempotent_and_survives_a_restart(tmp_path, gold_texts):
    articles = [_article(f"a{n}", gold_texts[n % 3] + " " * n, f"2024-04-0{n + 1}") for n in range(6)]
    with DuplicateIndex(tmp_path) as index:
        first = [(a.duplicate_group, a.is_original, a.content_hash) for a in map(index.assign, articles)]
    with DuplicateIndex(tmp_path) as index:  # a rerun, in a new process state
        again = []
        for article in articles:
            index.assign(article)
            assert index.changed_originals == []
            again.append((article.duplicate_group, article.is_original, article.content_hash))
        assert again == first
        assert sum(len(index.group_members(g)) for g in {g for g, _, _ in first}) == 6


def test_new_text_for_a_known_article_keeps_its_group(index, gold_texts):
    article = index.assign(_article("a", gold_texts[0]))
    group = article.duplicate_group
    article.text = gold_texts[0] + "\nA correction was appended."
    assert index.assign(article).duplicate_group == group
    assert index.group_members(group) == ["a"]


def test_empty_text_is_its_own_group(index):
    first, second = index.assign(_article("e1", "")), index.assign(_article("e2", " \n "))
    assert first.content_hash is None and first.is_original and second.is_original
    assert first.duplicate_group != second.duplicate_group


def test_other_parameters_cannot_reuse_the_state(tmp_path):
    DuplicateIndex(tmp_path).close()
    with pytest.raises(ConfigError, match="dedup state was built with"):
        DuplicateIndex(tmp_path, num_perm=64)


_WRITER = """
import json, sys
from pathlib import Path
from mediawatch.records import Article
from processors.dedup import DuplicateIndex
texts = json.loads(Path(sys.argv[2]).read_text())
index = DuplicateIndex(Path(sys.argv[1]))
n = 0
while True:
    index.assign(Article(url=f"https://x/{n}", id=f"k{n}", text=texts[n % len(texts)] + f" {n}"))
    n += 1
    if n == 5:
        print("writing", flush=True)
"""


def test_a_crash_while_writing_leaves_a_consistent_state(tmp_path, gold_texts):
    (tmp_path / "texts.json").write_text(json.dumps(gold_texts[:20]), encoding="utf-8")
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "state"), str(tmp_path / "texts.json")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.5)
    os.kill(writer.pid, signal.SIGKILL)  # no chance to close or commit
    writer.wait()
    with DuplicateIndex(tmp_path / "state") as index:
        db = index._db
        members = db.execute("SELECT COUNT(*) FROM members").fetchone()[0]
        assert members >= 5
        # Every member belongs to a recorded group and has all its LSH buckets: no half-written article.
        assert db.execute("SELECT COUNT(*) FROM members WHERE group_id NOT IN (SELECT group_id FROM groups)").fetchone()[0] == 0
        bands = db.execute("SELECT COUNT(DISTINCT band) FROM bands").fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM bands").fetchone()[0] == bands * members
        # The state is usable: the interrupted article can be assigned and the first ones are known.
        assert index.assign(Article(url="https://x/0", id="k0", text=gold_texts[0] + " 0")).is_original
        assert index.changed_originals == []


def _sqlite_steps(index: DuplicateIndex, article: Article) -> int:
    """SQLite virtual-machine steps (in thousands) spent by one assign: work, not time."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # 0: carry on

    index._db.set_progress_handler(count, 1000)
    index.assign(article)
    index._db.set_progress_handler(None, 0)
    return steps


def test_work_per_new_article_does_not_grow_with_the_index(tmp_path, gold_texts):
    import random

    rng = random.Random(3)
    vocabulary = " ".join(gold_texts).split()

    def article(n: int) -> Article:
        return _article(f"n{n}", " ".join(rng.choice(vocabulary) for _ in range(80)), f"2024-04-{1 + n % 28:02d}")

    with DuplicateIndex(tmp_path) as index:
        for n in range(50):
            index.assign(article(n))
        small = sum(_sqlite_steps(index, article(1000 + n)) for n in range(20))
        for n in range(50, 750):
            index.assign(article(n))
        large = sum(_sqlite_steps(index, article(2000 + n)) for n in range(20))
    # 15 times more articles; a scan of members or buckets would cost about 15 times more.
    assert large < 1.5 * small, (small, large)
