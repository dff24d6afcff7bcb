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
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as tmp, DuplicateIndex(Path(tmp)) as index:
        # Work as well as time: the machine is shared, SQLite's VM steps are not.
        index._db.set_progress_handler(count_steps, 1000)
        started = time.perf_counter()
        window_wall, window_cpu, window_steps = started, time.process_time(), 0
        for n, article in enumerate(_articles(args.articles, rng), start=1):
            index.assign(article)
            if n % args.window == 0:
                wall, cpu = time.perf_counter(), time.process_time()
                rows.append((n, (wall - window_wall) / args.window * 1000, (cpu - window_cpu) / args.window * 1000,
                             (steps - window_steps) / args.window))
                window_wall, window_cpu, window_steps = wall, cpu, steps
        total = time.perf_counter() - started
        groups = index._db.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.articles} articles in {total:.1f} s, {groups} groups, peak RSS {peak:.0f} MiB")
    print("| articles already indexed | wall ms per assign | CPU ms per assign | SQLite kilo-steps per assign |")
    print("|---:|---:|---:|---:|")
    for n, wall_ms, cpu_ms, ksteps in rows:
        if n in (args.window, args.articles) or n % (args.articles // 8 or 1) == 0:
            print(f"| {n - args.window} | {wall_ms:.2f} | {cpu_ms:.2f} | {ksteps:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
