"""The seed documents: shipped as data in ``data/seeds/`` and indexed as ``source_type: seed``."""

from __future__ import annotations

from pathlib import Path

import yaml

from mediawatch.records import Article
from mediawatch.settings import PROJECT_ROOT, Settings, load_settings

SEEDS_DIR = PROJECT_ROOT / "data" / "seeds"
SEED_TOPIC = "glas_embassy"


def load_seed_articles(seeds_dir: Path = SEEDS_DIR) -> list[Article]:
    entries = yaml.safe_load((seeds_dir / "seeds.yaml").read_text(encoding="utf-8"))
    articles = []
    for entry in entries:
        text = (seeds_dir / entry["file"]).read_text(encoding="utf-8")
        articles.append(
            Article(
                url=entry["urn"],
                canonical_url=entry["urn"],
                text=text.strip(),
                title=entry["title"],
                authors=list(entry.get("authors") or []),
                published_at=entry.get("published_at"),
                outlet=entry["outlet"],
                outlet_name=entry.get("outlet_name"),
                declared_language=entry.get("language"),
                source_type="seed",
                topic=entry.get("topic", SEED_TOPIC),
                word_count=len(text.split()),
            )
        )
    return articles


def index_seeds(settings: Settings | None = None):
    """Run the seeds through the processing stages and index them. Safe to rerun."""
    from mediawatch.topics import load_topic
    from processors.pipeline import process_articles

    settings = settings or load_settings()
    topic = load_topic(settings.topics_dir / f"{SEED_TOPIC}.yaml")
    return process_articles(load_seed_articles(), topic, settings=settings)
