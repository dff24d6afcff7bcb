"""How an Article becomes an Elasticsearch document, and how its id is derived."""

from __future__ import annotations

import hashlib

from mediawatch.records import Article
from mediawatch.textfold import fold

# Fields that never go to the index: the raw page is archived in WARC, not searched.
NOT_INDEXED = ("html",)
# Searchable text fields that get a folded twin (see mediawatch.textfold).
FOLDED = ("title", "text", "description")


def article_id(canonical_url: str) -> str:
    """Stable id from the canonical URL, so reruns update a document instead of duplicating it."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def to_document(article: Article) -> dict:
    doc = article.to_dict()
    for name in NOT_INDEXED:
        doc.pop(name, None)
    doc["id"] = article.id or article_id(article.canonical_url or article.url)
    for name in FOLDED:
        value = doc.get(name)
        doc[f"{name}_folded"] = fold(value) if value else None
    doc["claim_ids"] = sorted({claim["claim_id"] for claim in doc.get("claims") or []})
    return doc
