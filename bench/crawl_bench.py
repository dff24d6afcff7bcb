"""Crawl throughput and memory: mediawatch's crawl vs ``scrapy bench`` on the same machine, same run.

The local web (tests/support/localweb.py) runs in its own process and serves
N pages (default 10,000): the real pages of ../shared/corpora/web-pages/, each
served under many URLs, listed by a sitemap index of 1,000-URL sitemaps. The
crawl runs with its production settings and components (robots.txt,
canonicalisation, address checks, seen-URL state, WARC writing, batch,
summary) with throttling off: no AutoThrottle, no download delay, and the
per-domain concurrency raised to Scrapy's CONCURRENT_REQUESTS (16) since every
page is on one host. Memory is the crawl process's peak RSS (sampled) and its
ru_maxrss.

    .venv/bin/python bench/crawl_bench.py [--pages 10000] [--scrapy-bench-seconds 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support is not an installed package

from crawlers.runner import start_crawl  # noqa: E402
from mediawatch.settings import load_settings  # noqa: E402
from tests.support.localweb import LocalWeb, Reply, corpus_pages, sitemap, sitemap_index, write_topic  # noqa: E402

SITEMAP_SIZE = 1000
THROTTLING_OFF = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                  "CONCURRENT_REQUESTS": 16, "LOG_LEVEL": "INFO"}


def serve(pages: int, port_queue) -> None:
    """The benchmark web, in its own process so that serving does not share the crawler's CPU time."""
    bodies = [body for _, body in corpus_pages()]
    web = LocalWeb()
    base = web.base_url
    web.add_reply("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}))
    shards = range((pages + SITEMAP_SIZE - 1) // SITEMAP_SIZE)
    web.add_reply("/bench/index.xml", Reply(200, sitemap_index([f"{base}/bench/sitemap-{k}.xml" for k in shards]),
                                            {"Content-Type": "application/xml"}))

    def handler(path: str, query) -> Reply:
        name = path.rsplit("/", 1)[1]
        if name.startswith("sitemap-"):
            k = int(name[len("sitemap-"):-len(".xml")])
            urls = [f"{base}/bench/p/{i}.html" for i in range(k * SITEMAP_SIZE, min(pages, (k + 1) * SITEMAP_SIZE))]
            return Reply(200, sitemap(urls), {"Content-Type": "application/xml"})
        i = int(name.removesuffix(".html"))
        return Reply(200, bodies[i % len(bodies)], {"Content-Type": "text/html"})

    web.add_handler("/bench/", handler)
    web.start()
    port_queue.put(web.base_url)
    while True:
        time.sleep(3600)


def crawl_log_stats(log_text: str) -> dict[str, float]:
    """response_received_count and elapsed_time_seconds from Scrapy's final stats dump."""
    stats = {}
    for key in ("response_received_count", "elapsed_time_seconds", "item_scraped_count"):
        match = re.findall(rf"'{key}': ([0-9.]+)", log_text)
        if match:
            stats[key] = float(match[-1])
    return stats


def bench_mediawatch(pages: int) -> dict:
    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(pages, queue), daemon=True)
    server.start()
    base_url = queue.get(timeout=120)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = dataclasses.replace(load_settings(), home=Path(tmp) / "var", namespace="bench")
            topic = write_topic(Path(tmp) / "topic.yaml",
                                [{"id": "bench", "kind": "sitemap", "url": f"{base_url}/bench/index.xml"}])
            began = time.perf_counter()
            job = start_crawl(topic, settings=settings, allow_private_hosts=True, overrides=THROTTLING_OFF)
            child = psutil.Process(job.process.pid)
            peak = 0
            while job.process.poll() is None:
                try:
                    peak = max(peak, child.memory_info().rss)
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.2)
            result = job.wait()
            wall = time.perf_counter() - began
            stats = crawl_log_stats(job.log_path.read_text(encoding="utf-8", errors="replace"))
            warc_bytes = sum(p.stat().st_size for p in (settings.state_dir / "warc").glob("*.warc.gz"))
            fetched = result.summary["counts"]["fetched"]
    finally:
        server.terminate()
        server.join()
    return {
        "pages_listed": pages,
        "fetched": fetched,
        "responses": stats.get("response_received_count"),
        "crawl_seconds": stats.get("elapsed_time_seconds"),
        "wall_seconds_with_process_start": round(wall, 2),
        "pages_per_second": round(fetched / stats["elapsed_time_seconds"], 1),
        "pages_per_second_wall": round(fetched / wall, 1),
        "peak_rss_mb_sampled": round(peak / 2**20, 1),
        "max_rss_mb_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "warc_mb": round(warc_bytes / 2**20, 1),
    }


def bench_scrapy(seconds: int) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}", "-s", "LOG_LEVEL=INFO"],
        capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=seconds + 120,
    )
    stats = crawl_log_stats(completed.stderr + completed.stdout)
    if "response_received_count" not in stats:
        raise RuntimeError(f"scrapy bench printed no stats:\n{completed.stderr[-3000:]}")
    return {
        "responses": stats["response_received_count"],
        "crawl_seconds": stats["elapsed_time_seconds"],
        "pages_per_second": round(stats["response_received_count"] / stats["elapsed_time_seconds"], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--scrapy-bench-seconds", type=int, default=30)
    args = parser.parse_args()
    scrapy_result = bench_scrapy(args.scrapy_bench_seconds)
    ours = bench_mediawatch(args.pages)
    report = {
        "machine": {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        "scrapy_bench": scrapy_result,
        "mediawatch_crawl": ours,
        "ratio_to_scrapy_bench": round(ours["pages_per_second"] / scrapy_result["pages_per_second"], 2),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
