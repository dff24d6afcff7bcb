"""The Kibana saved objects (kibana/*.ndjson) parse, hang together, and use only
fields that the index templates define, with a type each use can work on.

No Kibana runs here; the checks are those that make an import or a panel fail
(a dangling reference, an unknown field, a terms aggregation on a text field).
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from mediawatch.es import INDEX_KINDS, template_body
from mediawatch.settings import PROJECT_ROOT, load_settings

KIBANA_DIR = PROJECT_ROOT / "kibana"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
AGGREGATABLE = NUMERIC | {"keyword", "boolean", "date", "ip"}
# Which field types each aggregation of the legacy visualisations can run on.
AGG_FIELD_TYPES = {
    "terms": AGGREGATABLE,
    "significant_terms": {"keyword"},
    "cardinality": AGGREGATABLE,
    "date_histogram": {"date"},
    "histogram": NUMERIC,
    "min": NUMERIC | {"date"},
    "max": NUMERIC | {"date"},
    "avg": NUMERIC,
    "sum": NUMERIC,
    "median": NUMERIC,
}
SORTABLE = AGGREGATABLE


def _flatten(properties: dict, prefix: str = "") -> dict[str, str]:
    """Field path -> type, with object sub-properties and multi-fields (title.raw)."""
    fields = {}
    for name, spec in properties.items():
        path = prefix + name
        if "properties" in spec:
            fields.update(_flatten(spec["properties"], path + "."))
            continue
        fields[path] = spec["type"]
        for sub, sub_spec in (spec.get("fields") or {}).items():
            fields[f"{path}.{sub}"] = sub_spec["type"]
    return fields


@pytest.fixture(scope="module")
def template_fields() -> dict[str, dict[str, str]]:
    """Index alias of the default namespace (what the compose deployment uses) -> its fields."""
    default = dataclasses.replace(load_settings(), namespace="")
    return {
        default.index_name(kind): _flatten(template_body(kind)["template"]["mappings"]["properties"])
        for kind in INDEX_KINDS
    }


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    files = sorted(KIBANA_DIR.glob("*.ndjson"))
    assert files, "no saved objects under kibana/"
    parsed = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                pytest.fail(f"{path.name}:{number} is not JSON: {exc}")
            obj["_where"] = f"{path.name}:{number}"
            parsed.append(obj)
    return parsed


@pytest.fixture(scope="module")
def by_key(objects) -> dict[tuple[str, str], dict]:
    keys = {}
    for obj in objects:
        key = (obj["type"], obj["id"])
        assert key not in keys, f"{obj['_where']}: duplicate {key}"
        keys[key] = obj
    return keys


def _of_type(objects, kind):
    return [obj for obj in objects if obj["type"] == kind]


def _data_view_fields(obj: dict, by_key, template_fields) -> dict[str, str]:
    (ref,) = [r for r in obj["references"] if r["name"] == INDEX_REF]
    data_view = by_key[("index-pattern", ref["id"])]
    return template_fields[data_view["attributes"]["title"]]


def _kql_fields(query: str) -> list[str]:
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return re.findall(r"([A-Za-z_][\w.]*)\s*:", unquoted)


def test_every_object_has_the_shape_of_an_export(objects):
    assert len(objects) >= 10
    for obj in objects:
        assert {"type", "id", "attributes", "references"} <= set(obj), obj["_where"]
        assert obj["attributes"].get("title"), f"{obj['_where']} has no title"
        assert obj.get("migrationVersion") or obj.get("typeMigrationVersion"), (
            f"{obj['_where']}: without a migration version Kibana cannot migrate it on import"
        )
        for name in ("visState", "panelsJSON", "optionsJSON", "uiStateJSON"):
            if name in obj["attributes"]:
                json.loads(obj["attributes"][name])
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            json.loads(meta["searchSourceJSON"])


def test_every_reference_resolves(objects, by_key):
    for obj in objects:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['_where']}: duplicate reference names"
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_key, f"{obj['_where']}: dangling reference {ref}"
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            ref_name = json.loads(meta["searchSourceJSON"]).get("indexRefName")
            if ref_name:
                assert ref_name in names, f"{obj['_where']}: indexRefName {ref_name} has no reference"


def test_data_views_point_at_the_aliases_with_a_date_time_field(objects, template_fields):
    views = _of_type(objects, "index-pattern")
    assert {view["attributes"]["title"] for view in views} == set(template_fields)
    for view in views:
        fields = template_fields[view["attributes"]["title"]]
        time_field = view["attributes"]["timeFieldName"]
        assert fields.get(time_field) == "date", f"{view['_where']}: time field {time_field} is not a date"


def test_visualisations_use_existing_fields_of_compatible_types(objects, by_key, template_fields):
    visualisations = _of_type(objects, "visualization")
    assert visualisations
    for vis in visualisations:
        fields = _data_view_fields(vis, by_key, template_fields)
        state = json.loads(vis["attributes"]["visState"])
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            if agg["type"] == "count":
                continue
            assert field, f"{vis['_where']}: {agg['type']} aggregation without a field"
            assert field in fields, f"{vis['_where']}: field {field} is not in the index template"
            assert fields[field] in AGG_FIELD_TYPES[agg["type"]], (
                f"{vis['_where']}: {agg['type']} on {field} ({fields[field]})"
            )
            order_by = agg["params"].get("orderBy")
            if order_by and order_by not in ("_key", "alphabetical"):
                assert order_by in {a["id"] for a in state["aggs"] if a["schema"] == "metric"}, vis["_where"]
        query = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        for field in _kql_fields(query):
            assert field in fields, f"{vis['_where']}: query uses unknown field {field}"


def test_saved_searches_use_existing_fields(objects, by_key, template_fields):
    searches = _of_type(objects, "search")
    assert len(searches) >= 4
    for search in searches:
        fields = _data_view_fields(search, by_key, template_fields)
        for column in search["attributes"]["columns"]:
            assert column in fields, f"{search['_where']}: column {column} is not in the index template"
        for field, direction in search["attributes"]["sort"]:
            assert fields.get(field) in SORTABLE and direction in ("asc", "desc"), f"{search['_where']}: sort {field}"
        query = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        for field in _kql_fields(query):
            assert field in fields, f"{search['_where']}: query uses unknown field {field}"


def test_dashboard_panels_resolve(objects, by_key):
    dashboards = {obj["attributes"]["title"]: obj for obj in _of_type(objects, "dashboard")}
    assert {"Coverage", "Alerts"} <= set(dashboards)
    for dashboard in dashboards.values():
        references = {ref["name"]: ref for ref in dashboard["references"]}
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        assert panels
        indexes = [panel["panelIndex"] for panel in panels]
        assert len(indexes) == len(set(indexes)), dashboard["_where"]
        for panel in panels:
            assert panel["panelRefName"] in references, f"{dashboard['_where']}: panel without reference"
            grid = panel["gridData"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 48, f"{dashboard['_where']}: panel beyond the 48-column grid"


def _panel_aggs(dashboard, by_key):
    """(data view title, [(agg type, field)]) for each visualisation panel of a dashboard."""
    for ref in dashboard["references"]:
        if ref["type"] != "visualization":
            continue
        vis = by_key[("visualization", ref["id"])]
        (index_ref,) = [r for r in vis["references"] if r["name"] == INDEX_REF]
        title = by_key[("index-pattern", index_ref["id"])]["attributes"]["title"]
        aggs = json.loads(vis["attributes"]["visState"])["aggs"]
        yield title, {(agg["type"], agg["params"].get("field")) for agg in aggs}


def test_coverage_dashboard_answers_the_questions_it_is_for(objects, by_key):
    (coverage,) = [obj for obj in _of_type(objects, "dashboard") if obj["attributes"]["title"] == "Coverage"]
    panels = list(_panel_aggs(coverage, by_key))

    def has(title, *uses):
        return any(view == title and set(uses) <= aggs for view, aggs in panels)

    assert has("mediawatch-articles", ("date_histogram", "published_at"), ("terms", "language")), "articles over time by language"
    assert has("mediawatch-articles", ("terms", "outlet")), "top outlets"
    assert has("mediawatch-articles", ("terms", "source_type")), "seed vs crawled"
    assert has("mediawatch-articles", ("terms", "duplicate_group"), ("cardinality", "outlet")), "duplicate groups and their size"
    assert has("mediawatch-alerts", ("date_histogram", "published_at"), ("terms", "claim_label")), "claim spread over time"
    assert has("mediawatch-alerts", ("cardinality", "outlet"), ("min", "alerted_at")), "claim spread: outlets, first seen"


def test_alerts_view_lists_alerts_newest_first(objects, by_key):
    (alerts,) = [obj for obj in _of_type(objects, "dashboard") if obj["attributes"]["title"] == "Alerts"]
    searches = [by_key[("search", ref["id"])] for ref in alerts["references"] if ref["type"] == "search"]
    assert searches, "the Alerts dashboard shows no alert list"
    assert searches[0]["attributes"]["sort"] == [["alerted_at", "desc"]]
