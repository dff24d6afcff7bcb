"""Deduplication cost per new article as the index grows (it must stay flat).

Fills one ``DuplicateIndex`` (on disk, as in production) with articles and
times ``assign`` in windows at increasing index sizes. Articles are made from
the real words of the extraction benchmark's 93 gold texts: each new article
is 300 words drawn at random from one gold text (different articles on the
same subjects, sharing vocabulary), and every tenth is a near copy of an
earlier one (a sentence dropped, boilerplate added), so candidate lookups and
group joins happen at every size.

    .venv/bin/python bench/dedup_scaling.py [--articles 20000] [--window 500]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.corpora import CORPORA_DIR  # noqa: E402
from mediawatch.records import Article  # noqa: E402
from processors.dedup import DuplicateIndex  # noqa: E402


def _articles(count: int, rng: random.Random):
    gold = json.loads((CORPORA_DIR / "extraction-benchmark" / "ground-truth.json").read_text(encoding="utf-8"))
    vocabularies = [body["articleBody"].split() for _, body in sorted(gold.items())]
    made: list[str] = []
    for n in range(count):
        if n % 10 == 9:
            source = rng.choice(made).split(" ")
            cut = rng.randrange(len(source) - 20)
            text = "Read more: related stories. " + " ".join(source[:cut] + source[cut + 15 :])
        else:
            words = rng.choice(vocabularies)
            text = " ".join(rng.choice(words) for _ in range(300))
        made.append(text)
        yield Article(url=f"https://outlet{n % 50}.example/{n}", id=f"a{n}", text=text, published_at=f"2024-04-{1 + n % 28:02d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, DuplicateIndex(Path(tmp)) as index:
        started = time.perf_counter()
        window_start = started
        for n, article in enumerate(_articles(args.articles, rng), start=1):
            index.assign(article)
            if n % args.window == 0:
                now = time.perf_counter()
                rows.append((n, (now - window_start) / args.window * 1000))
                window_start = now
        total = time.perf_counter() - started
        groups = index._db.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
    print(f"{args.articles} articles in {total:.1f} s, {groups} groups, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("| articles already indexed | ms per assign (window of %d) |" % args.window)
    print("|---:|---:|")
    for n, ms in rows:
        if n in (args.window, args.articles) or n % (args.articles // 8 or 1) == 0:
            print(f"| {n - args.window} | {ms:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
