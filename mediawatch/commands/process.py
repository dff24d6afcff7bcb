"""mediawatch process BATCH: run every processing stage on a crawl batch, index it, raise alerts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mediawatch.commands.setup import ensure_ready
from mediawatch.settings import ConfigError, Settings, load_settings
from mediawatch.topics import Topic, load_topic


def add_arguments(parser) -> None:
    parser.add_argument("batch", type=Path, help="a crawl batch (batch.jsonl); processed.jsonl is written beside it")
    parser.add_argument(
        "--topic",
        help="topic name or topic file (default: the batch's topic directory, <state>/batches/<topic>/<time>/)",
    )
    parser.add_argument("--no-alerts", action="store_true", help="index only; alerts are raised by a later run")


def resolve_topic(batch: Path, topic_arg: str | None, settings: Settings) -> Topic:
    if topic_arg and topic_arg.endswith((".yaml", ".yml")):
        return load_topic(Path(topic_arg))
    name = topic_arg or batch.resolve().parent.parent.name
    path = settings.topics_dir / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"no topic file {path}: name the topic with --topic")
    return load_topic(path)


def run(args) -> int:
    from processors.alerts import raise_alerts
    from processors.pipeline import process_batch

    settings = load_settings()
    if not args.batch.is_file():
        print(f"mediawatch process: {args.batch} is not a file", file=sys.stderr)
        return 2
    topic = resolve_topic(args.batch, args.topic, settings)
    ensure_ready(settings)
    report = process_batch(args.batch, topic, settings=settings)
    if not args.no_alerts:
        report.alerts = len(raise_alerts(Path(report.processed_path), topic, settings=settings))
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0
