"""``mediawatch crawl``: discover and fetch new coverage of a topic, then print the run summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mediawatch.settings import ConfigError, load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", type=Path, help="topic file (default: the only one in the topics directory)")
    parser.add_argument("--source", action="append", default=[], metavar="URL",
                        help="also crawl this feed, sitemap or page for this run (kind detected); repeatable")
    parser.add_argument("--allow-private-hosts", action="store_true",
                        help="allow loopback and private addresses (local demos and tests); off by default")
    parser.add_argument("--out", type=Path, help="batch directory (default: <state>/batches/<run-id>)")


def _default_topic(settings) -> Path:
    topics = sorted(settings.topics_dir.glob("*.yaml"))
    if len(topics) != 1:
        raise ConfigError(f"{len(topics)} topic files in {settings.topics_dir}: choose one with --topic")
    return topics[0]


def run(args: argparse.Namespace) -> int:
    from crawlers.runner import run_crawl

    settings = load_settings()
    topic = args.topic or _default_topic(settings)
    result = run_crawl(topic, args.out, extra_sources=args.source, allow_private_hosts=args.allow_private_hosts,
                       settings=settings)
    summary = result.summary
    print(json.dumps({"run_id": summary["run_id"], "counts": summary["counts"],
                      "unreachable_sources": summary["unreachable_sources"]}, indent=2, ensure_ascii=False))
    print(f"batch: {result.batch_path}")
    print(f"summary: {result.summary_path}")
    return 0
