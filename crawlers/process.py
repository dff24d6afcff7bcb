"""Entry point of the crawl process: ``python -m crawlers.process <spec.json>``.

A Twisted reactor cannot be restarted within one process, so each crawl runs
in a fresh interpreter; ``runner.run_crawl`` writes the spec and starts this.
"""

from __future__ import annotations

import json
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
    process = CrawlerProcess(settings)
    process.crawl(TopicSpider, topic_path=spec["topic_path"], extra_sources=spec["extra_sources"])
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
