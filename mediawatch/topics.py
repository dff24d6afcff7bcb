"""Topic files (``topics/*.yaml``): the data that says which story to follow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mediawatch.settings import ConfigError


@dataclass(frozen=True)
class Vocabulary:
    core: tuple[str, ...] = ()
    context: tuple[str, ...] = ()  # all context terms (the union of the facets)
    event: tuple[str, ...] = ()
    # Context terms grouped by what they name (e.g. "ecuador", "mexico"); written in
    # the topic file as a mapping under `context`. A plain list is one facet, "context".
    context_facets: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    id: str
    label: str
    actors: tuple[str, ...]
    acts: tuple[str, ...]
    objects: tuple[str, ...]
    # Words that turn a sentence into a denial ("denied", "no evidence", "negó").
    negations: tuple[str, ...] = ()
    # Most words allowed between the actor and the act in one sentence.
    max_distance: int = 8


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    url: str | None = None
    languages: tuple[str, ...] = ()
    max_depth: int = 1
    options: dict[str, Any] = field(default_factory=dict)  # any other keys, kind-specific


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    languages: tuple[str, ...]
    vocabulary: dict[str, Vocabulary]
    search_queries: dict[str, tuple[str, ...]]
    claims: tuple[Claim, ...]
    sources: tuple[Source, ...]
    path: Path

    def claim(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(claim_id)


SOURCE_KINDS = {"rss", "atom", "sitemap", "google_news", "gdelt", "page"}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    # De-duplicate while keeping order: lists are written per language and repeat names.
    return tuple(dict.fromkeys(value))


def _facets(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    """`context` is either a list (one facet) or a mapping facet name -> list."""
    if isinstance(value, dict):
        return {str(name): _strings(terms, f"{where}.{name}") for name, terms in value.items()}
    terms = _strings(value, where)
    return {"context": terms} if terms else {}


def load_topic(path: Path) -> Topic:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read topic file {path}: {exc}") from exc
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ConfigError(f"{path}: a topic file is a mapping with at least 'name'")
    name = str(raw["name"])
    vocabulary = {}
    for lang, v in (raw.get("vocabulary") or {}).items():
        facets = _facets(v.get("context"), f"{path}: vocabulary.{lang}.context")
        vocabulary[lang] = Vocabulary(
            core=_strings(v.get("core"), f"{path}: vocabulary.{lang}.core"),
            context=tuple(dict.fromkeys(term for terms in facets.values() for term in terms)),
            event=_strings(v.get("event"), f"{path}: vocabulary.{lang}.event"),
            context_facets=facets,
        )
    claims = tuple(
        Claim(
            id=str(c["id"]),
            label=str(c.get("label", c["id"])),
            actors=_strings(c.get("actors"), f"{path}: claims.{c['id']}.actors"),
            acts=_strings(c.get("acts"), f"{path}: claims.{c['id']}.acts"),
            objects=_strings(c.get("objects"), f"{path}: claims.{c['id']}.objects"),
            negations=_strings(c.get("negations"), f"{path}: claims.{c['id']}.negations"),
            max_distance=int(c.get("max_distance", 8)),
        )
        for c in raw.get("claims") or []
    )
    sources = []
    for s in raw.get("sources") or []:
        kind = s.get("kind")
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{path}: source {s.get('id')!r} has unknown kind {kind!r} (one of {sorted(SOURCE_KINDS)})")
        known = {"id", "kind", "url", "languages", "max_depth"}
        sources.append(
            Source(
                id=str(s["id"]),
                kind=kind,
                url=s.get("url"),
                languages=_strings(s.get("languages"), f"{path}: sources.{s['id']}.languages"),
                max_depth=int(s.get("max_depth", 1)),
                options={k: v for k, v in s.items() if k not in known},
            )
        )
    return Topic(
        name=name,
        title=str(raw.get("title", name)),
        languages=_strings(raw.get("languages"), f"{path}: languages"),
        vocabulary=vocabulary,
        search_queries={k: _strings(v, f"{path}: search_queries.{k}") for k, v in (raw.get("search_queries") or {}).items()},
        claims=claims,
        sources=tuple(sources),
        path=Path(path),
    )

