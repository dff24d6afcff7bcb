"""Response time of the analyst page (`mediawatch serve`) against the real local node.

Indexes the two seeds and ``--articles`` synthetic articles built from their
paragraphs (spread over outlets, languages, dates and duplicate groups) into a
throw-away namespace, starts `mediawatch serve`, and times full page loads
(search, facets, duplicate-group sizes, alerts, rendering) over HTTP for a few
kinds of search. The namespace is dropped afterwards.

    .venv/bin/python bench/web_page_bench.py [--articles 2000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from urllib.parse import urlencode

QUERIES = {
    "words": {"q": "embassy raid"},
    "phrase + filter": {"q": '"Mexican embassy"', "lang": "en"},
    "accent-insensitive": {"q": "embajada mexico"},
    "everything, one outlet": {"q": "*", "outlet": "outlet7.example"},
}


def _synthetic(count: int, seeds):
    from mediawatch.records import Article

    paragraphs = [p for seed in seeds for p in seed.text.split("\n\n") if len(p) > 80]
    spanish = "La policía de Ecuador irrumpió en la Embajada de México en Quito para detener a Jorge Glas."
    for number in range(count):
        group = f"bench-{number // 4}" if number % 3 == 0 else None  # some articles come in groups of copies
        text = "\n\n".join(paragraphs[(number + k) % len(paragraphs)] for k in range(4))
        yield Article(
            url=f"https://outlet{number % 40}.example/news/{number}",
            canonical_url=f"https://outlet{number % 40}.example/news/{number}",
            title=f"Report {number}: the raid on the Mexican embassy in Quito",
            text=(spanish + "\n\n" + text) if number % 2 else text,
            outlet=f"outlet{number % 40}.example",
            language="es" if number % 2 else "en",
            published_at=f"2024-{4 + number % 6:02d}-{1 + number % 28:02d}",
            source_type="crawl",
            duplicate_group=group,
            is_original=None if group is None else number % 4 == 0,
            word_count=len(text.split()),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    os.environ["MEDIAWATCH_NAMESPACE"] = f"bench_web_{uuid.uuid4().hex[:6]}"
    os.environ.setdefault("MEDIAWATCH_HOME", tempfile.mkdtemp(prefix="mediawatch-bench-"))

    from mediawatch import es, esnode
    from mediawatch.seeds import load_seed_articles
    from mediawatch.settings import PROJECT_ROOT, load_settings
    from processors.indexing import index_articles

    node_settings = load_settings()
    if not node_settings.uses_external_es:
        # The shared project node, whatever MEDIAWATCH_HOME this run uses.
        os.environ.setdefault("MEDIAWATCH_LOCAL_ES_HOME", str(PROJECT_ROOT / "var" / "elasticsearch"))
        node_settings = load_settings()
        esnode.start(node_settings)
    settings = node_settings
    es.ensure_setup(settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = None
    try:
        seeds = load_seed_articles()
        for seed in seeds:
            seed.language = "en"
        began = time.perf_counter()
        index_articles([*seeds, *_synthetic(args.articles, seeds)], settings, refresh=True)
        print(f"indexed {args.articles + len(seeds)} articles in {time.perf_counter() - began:.1f} s")
        server = subprocess.Popen([sys.executable, "-m", "mediawatch.cli", "serve", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        print(f"{'search':<24} {'median ms':>10} {'p95 ms':>8} {'page KiB':>9}")
        for name, params in QUERIES.items():
            url = base + "?" + urlencode(params)
            urllib.request.urlopen(url, timeout=30).read()  # warm-up
            times, size = [], 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                size = len(urllib.request.urlopen(url, timeout=30).read())
                times.append((time.perf_counter() - start) * 1000)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"{name:<24} {statistics.median(times):>10.1f} {p95:>8.1f} {size / 1024:>9.1f}")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=15)
        es.drop_namespace(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
