"""Setup brings the live indices behind the aliases up to their template's mapping, on the
real node: an index built before a field (or sub-field) existed gets it and takes documents
using it; a change Elasticsearch refuses is a clear configuration error, except on an
articles index of an older template version, which `mediawatch reprocess` replaces.

Each test builds the live index it needs itself, the way an older release left it."""

from __future__ import annotations

import copy
import logging

import pytest

from mediawatch import cli
from mediawatch import es as es_access
from mediawatch.records import Article
from mediawatch.settings import ConfigError
from processors.indexing import index_articles


def _template_mappings(kind: str) -> dict:
    return copy.deepcopy(es_access.template_body(kind)["template"]["mappings"])


def _live_index_from(settings, kind: str, index: str, mappings: dict) -> None:
    """Make ``index``, with exactly ``mappings``, the only index behind the family's alias.

    The family's template is deleted first: it would otherwise add its own fields to the
    new index. ``ensure_setup`` puts it back."""
    admin = es_access.client("admin", settings)
    alias = settings.index_name(kind)
    admin.indices.delete_index_template(name=alias)
    admin.indices.delete(index=",".join(admin.indices.get_alias(name=alias)))
    admin.indices.create(index=index, mappings=mappings, aliases={alias: {"is_write_index": True}})


def _live_properties(settings, kind: str) -> dict:
    mapping = es_access.client("admin", settings).indices.get_mapping(index=settings.index_name(kind))
    (live,) = mapping.values()
    return live["mappings"]["properties"]


def test_an_alerts_index_from_before_a_field_gets_it_and_takes_documents_using_it(settings):
    older = _template_mappings("alerts")
    del older["properties"]["webhook_claimed_at"]
    _live_index_from(settings, "alerts", es_access.versioned_index(settings, "alerts"), older)
    writer = es_access.client("writer", settings)
    alias = settings.index_name("alerts")
    document = {"id": "a1", "delivered_to": ["log", "webhook:pending"], "webhook_claimed_at": "2024-04-06T12:00:00.000+00:00"}
    with pytest.raises(Exception, match="strict_dynamic_mapping_exception"):
        writer.index(index=alias, id="a1", document=document)  # what every deployment did before

    es_access.ensure_setup(settings)
    assert _live_properties(settings, "alerts")["webhook_claimed_at"] == {"type": "date"}
    writer.index(index=alias, id="a1", document=document, refresh=True)
    found = writer.search(index=alias, query={"range": {"webhook_claimed_at": {"lte": "2024-04-06T12:00:00Z"}}})
    assert [hit["_id"] for hit in found["hits"]["hits"]] == ["a1"]

    # Idempotent: a second setup changes nothing and raises nothing.
    before = _live_properties(settings, "alerts")
    es_access.ensure_setup(settings)
    assert _live_properties(settings, "alerts") == before == _template_mappings("alerts")["properties"]


def test_an_articles_index_from_before_a_sub_field_gets_it(settings):
    older = _template_mappings("articles")
    del older["properties"]["title"]["fields"]
    _live_index_from(settings, "articles", es_access.versioned_index(settings, "articles"), older)
    es_access.ensure_setup(settings)
    assert "raw" in _live_properties(settings, "articles")["title"]["fields"]

    title = "La policía irrumpe en la embajada de México en Quito"
    index_articles([Article(url="https://diario-sample.ec/asalto", title=title, text="Texto.", outlet="diario-sample.ec")],
                   settings, refresh=True)
    found = es_access.client("reader", settings).search(
        index=settings.index_name("articles"), query={"term": {"title.raw": title}}
    )
    assert [hit["_source"]["outlet"] for hit in found["hits"]["hits"]] == ["diario-sample.ec"]


@pytest.mark.parametrize(
    ("kind", "field", "remedy"),
    [("articles", "outlet", "`mediawatch reprocess` then rebuilds articles"), ("alerts", "delivered_to", "alerts are never rebuilt")],
)
def test_a_changed_field_type_is_a_clear_configuration_error(settings, capsys, kind, field, remedy):
    changed = _template_mappings(kind)
    changed["properties"][field] = {"type": "text"}
    index = es_access.versioned_index(settings, kind)
    _live_index_from(settings, kind, index, changed)
    with pytest.raises(ConfigError) as refused:
        es_access.ensure_setup(settings)
    message = str(refused.value)
    assert f"index {index} " in message and f"[{field}]" in message and remedy in message

    assert cli.main(["setup"]) == 2
    (line,) = capsys.readouterr().err.splitlines()  # one line, no traceback
    assert line.startswith("mediawatch setup: configuration error: index ") and f"[{field}]" in line

    _live_index_from(settings, kind, index, _template_mappings(kind))  # leave a working namespace behind
    es_access.ensure_setup(settings)


def test_an_articles_index_of_an_older_version_waits_for_reprocess_which_replaces_it(settings, caplog, capsys):
    changed = _template_mappings("articles")
    changed["properties"]["outlet"] = {"type": "text"}
    older_version = f"{settings.index_name('articles')}-v0"  # what a version bump leaves behind the alias
    _live_index_from(settings, "articles", older_version, changed)
    with caplog.at_level(logging.WARNING, logger="mediawatch.es"):
        es_access.ensure_setup(settings)  # setup goes on: `mediawatch reprocess` runs it first
    assert any(older_version in r.getMessage() and "reprocess" in r.getMessage() for r in caplog.records)
    assert _live_properties(settings, "articles")["outlet"]["type"] == "text"

    assert cli.main(["reprocess"]) == 0
    capsys.readouterr()
    (rebuilt,) = es_access.client("admin", settings).indices.get_alias(name=settings.index_name("articles"))
    assert rebuilt.startswith(f"{es_access.versioned_index(settings, 'articles')}-")
    assert _live_properties(settings, "articles")["outlet"] == {"type": "keyword"}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mediawatch.es"):
        es_access.ensure_setup(settings)
    assert caplog.records == []
