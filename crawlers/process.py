"""Entry point of the crawl process: ``python -m crawlers.process <spec.json>``.

A Twisted reactor cannot be restarted within one process, so each crawl runs
in a fresh interpreter; ``runner.run_crawl`` writes the spec and starts this.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawlers.spiders.topic import TopicSpider


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m crawlers.process SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    settings.update(spec["settings"], priority="cmdline")
    lock_path = Path(settings["MEDIAWATCH_STATE_DIR"]) / "crawl" / "crawl.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        # Two crawls over one state would fetch the same URLs and interleave their runs.
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            print(f"another crawl is running on {lock_path.parent} (pid {lock.read().strip() or '?'})", file=sys.stderr)
            return 3
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        process = CrawlerProcess(settings)
        process.crawl(TopicSpider, topic_path=spec["topic_path"], extra_sources=spec["extra_sources"])
        process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
