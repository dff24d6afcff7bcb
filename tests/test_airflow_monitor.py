"""The DAGs end to end through ``dag.test()``: real Airflow (SQLite metadata), real crawls
of a local web, the real Elasticsearch node. The feed is served on 127.0.0.1 and each
outlet from its own site on another loopback address (``outlet_webs``), its pages
declaring their canonical URLs on that site, so outlets are told apart by host.

One scenario, in order (each test continues from the state the previous one left):
a first monitoring run indexes and alerts; a second adds and alerts nothing;
a reprocess swaps the alias without losing a document; ``mediawatch run``'s cycle
indexes the seeds and accounts for sources that cannot be reached. In between, the
outage test keeps its own state on a private node that it really stops: the task
that indexes fails clearly, and once the node is started again the next run
delivers every document.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mediawatch import airflow_env, esnode
from mediawatch.documents import article_id
from mediawatch.es import client
from tests.support.batches import article_html, seed_text
from tests.support.localweb import LocalWeb, corpus_pages, outlet_webs, write_topic

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.support.private_node"]

FEED = "/feeds/affair.rss"
CLAIM = "us_planned_raid"
OUTLETS = ("a", "b", "c", "d", "e", "f")  # e and f publish only during the outage test

SPANISH_PARAGRAPHS = [
    "Quito. La irrupción de la policía ecuatoriana en la embajada de México para detener al exvicepresidente "
    "Jorge Glas sigue generando reacciones en toda la región, semanas después del asalto.",
    "Un exdiplomático consultado por este diario afirmó que la CIA planificó el asalto a la embajada y que el "
    "gobierno de Daniel Noboa solo ejecutó una operación preparada de antemano.",
    "México rompió relaciones diplomáticas con Ecuador y acudió a la Corte Internacional de Justicia, alegando "
    "una violación de la Convención de Viena sobre Relaciones Diplomáticas y del derecho de asilo.",
    "El gobierno ecuatoriano sostiene que Glas no podía recibir asilo porque había sido condenado por corrupción, "
    "mientras organismos regionales condenaron la incursión en la sede diplomática.",
    "Analistas advierten que la crisis entre ambos países tardará en resolverse y que el caso Glas se ha "
    "convertido en un símbolo de la tensión política en América Latina.",
]


def _publish(web: LocalWeb, outlet: LocalWeb, slug: str, body: bytes, title: str, published: str) -> str:
    """Serve ``body`` on the outlet's site at its canonical URL and list it in the feed; returns that URL."""
    url = outlet.add_page(f"/{slug}", body)
    web.add_feed_entry(FEED, url, title=title, published=published)
    return url


def _seed_page(web: LocalWeb, outlet: LocalWeb, seed: int, slug: str, published: str, site: str,
               paragraphs_from: int = 0) -> str:
    """An outlet's page with a seed text; returns its canonical URL."""
    title, paragraphs = seed_text(seed)
    canonical = outlet.url(f"/{slug}")
    body = article_html(title, paragraphs[paragraphs_from:], site_name=site, canonical=canonical, published=published)
    return _publish(web, outlet, slug, body, title, published)


def _spanish_page(web: LocalWeb, outlet: LocalWeb, slug: str, published: str, site: str) -> str:
    canonical = outlet.url(f"/{slug}")
    body = article_html("La CIA detrás del asalto a la embajada de México", SPANISH_PARAGRAPHS, site_name=site,
                        canonical=canonical, published=published, lang="es")
    return _publish(web, outlet, slug, body, "Asalto a la embajada", published)


def _outlet(url: str) -> str:
    """The outlet of a page on a local site: its address and port (IP hosts have no registered domain)."""
    return urlsplit(url).netloc


@pytest.fixture(scope="module")
def web():
    web = LocalWeb().start()
    yield web
    web.stop()


@pytest.fixture(scope="module")
def outlets() -> dict[str, LocalWeb]:
    with outlet_webs(len(OUTLETS)) as webs:
        yield dict(zip(OUTLETS, webs, strict=True))


@pytest.fixture(scope="module")
def site(web, outlets) -> dict[str, str]:
    """Canonical URLs of the affair's articles by role, each on its outlet's site, all listed in one feed."""
    pages = {
        "original": _seed_page(web, outlets["a"], 0, "2024/05/07/assault-embassy", "2024-05-07T09:00:00+00:00", "Outlet A"),
        "copy": _seed_page(web, outlets["b"], 0, "world/designed-in-washington", "2024-05-08T12:00:00+00:00", "Outlet B", 1),
        "claim": _seed_page(web, outlets["c"], 1, "us-planned-raid", "2024-09-01T08:00:00+00:00", "Outlet C"),
        "spanish": _spanish_page(web, outlets["d"], "cia-asalto-embajada", "2024-05-10T08:00:00+00:00", "Diario D"),
    }
    name, unrelated = corpus_pages(1)[0]
    web.add_page(f"/misc/{name}.html", unrelated, feed=FEED, title="unrelated")
    web.add_feed_entry(FEED, web.url("/gone/404.html"), title="gone")
    return pages


@pytest.fixture(scope="module")
def monitoring(settings, site, web, tmp_path_factory):
    """The Airflow environment, a topic whose only source is the local feed, no retry waits."""
    topics = tmp_path_factory.mktemp("topics")
    write_topic(topics / "glas_embassy.yaml", [{"id": "local_feed", "kind": "rss", "url": web.url(FEED)}])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDIAWATCH_TOPICS_DIR", str(topics))
        patch.setenv("MEDIAWATCH_CRAWL_ALLOW_PRIVATE_HOSTS", "true")
        patch.setenv("MEDIAWATCH_TASK_RETRIES", "0")
        airflow_env.prepare(home=tmp_path_factory.getbasetemp() / "airflow")
        yield topics


def _run(dag_id: str):
    """One dag.test() run of a DAG parsed from dags/ now; returns the finished DagRun."""
    return airflow_env.load_dags()[dag_id].test()


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _xcoms(dag_run) -> dict[str, object]:
    from sqlalchemy import select

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id))
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def _articles(settings) -> dict[str, dict]:
    es = client("admin", settings)
    alias = settings.index_name("articles")
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _alerts(settings) -> list[dict]:
    es = client("admin", settings)
    index = settings.index_name("alerts")
    es.indices.refresh(index=index)
    return [hit["_source"] for hit in es.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]]


def _batches(settings) -> list[Path]:
    return sorted((settings.state_dir / "batches" / "glas_embassy").glob("*/batch.jsonl"))


def test_first_run_crawls_indexes_and_alerts(settings, site, monitoring):
    dag_run = _run("mediawatch_monitor")
    assert str(dag_run.state) == "success", _states(dag_run)
    assert _states(dag_run) == {f"glas_embassy.{step}": "success" for step in ("crawl", "index", "alert")}

    # Between tasks only paths travel: the batch, its processed records, its alerts.
    xcoms = _xcoms(dag_run)
    [batch] = _batches(settings)
    assert xcoms == {
        "glas_embassy.crawl": str(batch),
        "glas_embassy.index": str(batch.with_name("processed.jsonl")),
        "glas_embassy.alert": str(batch.with_name("alerts.json")),
    }

    articles = _articles(settings)
    ids = {role: article_id(url) for role, url in site.items()}
    assert set(ids.values()) <= set(articles), "every article about the affair is indexed"
    assert all(doc["topic"] == "glas_embassy" and doc["source_type"] == "crawl" for doc in articles.values())
    assert articles[ids["spanish"]]["language"] == "es"
    assert {articles[ids[r]]["language"] for r in ("original", "copy", "claim")} == {"en"}
    assert {role: articles[ids[role]]["outlet"] for role in site} == {role: _outlet(url) for role, url in site.items()}
    assert len({_outlet(url) for url in site.values()}) == len(site), "four outlets, told apart"
    assert articles[ids["copy"]]["duplicate_group"] == articles[ids["original"]]["duplicate_group"]
    assert articles[ids["claim"]]["duplicate_group"] != articles[ids["original"]]["duplicate_group"]
    for role in ("claim", "spanish"):
        assert CLAIM in articles[ids[role]]["claim_ids"], role

    alerts = _alerts(settings)
    sent = [a for a in alerts if not a["baseline"]]
    assert sent, "a second outlet carrying the claim raises an alert"
    assert {a["claim_id"] for a in alerts} == {CLAIM}
    # Per outlet: the first carrier (the original) is the baseline, every other carrier alerts once.
    assert [a["outlet"] for a in alerts if a["baseline"]] == [_outlet(site["original"])]
    sent_outlets = [a["outlet"] for a in sent]
    assert len(sent_outlets) == len(set(sent_outlets)), "one alert per outlet"
    assert {_outlet(site[r]) for r in ("claim", "spanish")} <= set(sent_outlets)
    assert json.loads(batch.with_name("alerts.json").read_text()) != []


def test_second_run_adds_nothing_and_alerts_nothing(settings, monitoring):
    articles, alerts = _articles(settings), _alerts(settings)
    dag_run = _run("mediawatch_monitor")
    assert str(dag_run.state) == "success", _states(dag_run)
    latest = _batches(settings)[-1]
    summary = json.loads(latest.with_name("summary.json").read_text())
    assert summary["counts"]["fetched"] == 0
    assert json.loads(latest.with_name("alerts.json").read_text()) == []
    assert _articles(settings).keys() == articles.keys()
    assert len(_alerts(settings)) == len(alerts)


def test_elasticsearch_stopped_at_index_then_next_run_delivers_everything(private_node, site, web, outlets, monitoring, capfd):
    """A real node stopped between two runs, then restarted. It is a private node with its
    own state directory (the session node serves other modules), so the first run here
    crawls and indexes the whole site again."""
    first = _run("mediawatch_monitor")
    assert str(first.state) == "success", _states(first)
    before = _articles(private_node)
    assert {article_id(url) for url in site.values()} <= set(before)

    assert esnode.stop(private_node), "the private node was running"
    new = {
        "late_claim": _seed_page(web, outlets["e"], 1, "raid-planned", "2024-09-03T08:00:00+00:00", "Outlet E", 1),
        "late_spanish": _spanish_page(web, outlets["f"], "embajada-asalto", "2024-09-04T08:00:00+00:00", "Diario F"),
    }
    capfd.readouterr()
    failed = _run("mediawatch_monitor")
    output = capfd.readouterr()
    # Only the index and alert tasks talk to Elasticsearch: the crawl succeeds.
    states = _states(failed)
    assert str(failed.state) == "failed"
    assert states["glas_embassy.crawl"] == "success"
    assert states["glas_embassy.index"] == "failed"
    assert states["glas_embassy.alert"] == "upstream_failed"
    assert "ElasticsearchUnavailable" in output.out + output.err
    assert f"{esnode.url(private_node)} is unreachable" in output.out + output.err
    pending = _batches(private_node)[-1]
    assert not pending.with_name("process_report.json").exists(), "the crawled batch waits for the next run"

    assert not esnode.start(private_node).reused, "the node was really down"
    assert _articles(private_node).keys() == before.keys(), "the restarted node kept the first run's documents"
    recovered = _run("mediawatch_monitor")
    assert str(recovered.state) == "success", _states(recovered)
    after = _articles(private_node)
    assert set(after) == set(before) | {article_id(url) for url in new.values()}
    assert len(after) == len(before) + 2
    assert pending.with_name("process_report.json").exists() and pending.with_name("alerts.json").exists()
    assert {a["outlet"] for a in _alerts(private_node)} >= {_outlet(url) for url in new.values()}


def test_reprocess_swaps_the_alias_without_losing_a_document(settings, monitoring):
    # A rebuild covers the archive and the seeds: index the seeds first, as `mediawatch run` does.
    assert str(_run("mediawatch_seeds").state) == "success"
    es = client("admin", settings)
    alias = settings.index_name("articles")
    old_indices = set(es.indices.get_alias(name=alias))
    before = _articles(settings)

    dag_run = _run("mediawatch_reprocess")
    assert str(dag_run.state) == "success", _states(dag_run)
    summary_path = Path(_xcoms(dag_run)["reprocess"])
    summary = json.loads(summary_path.read_text())

    new_indices = set(es.indices.get_alias(name=alias))
    assert new_indices == {summary["index"]} and not new_indices & old_indices
    after = _articles(settings)
    assert set(after) == set(before)
    assert summary["documents"] == summary["previous_documents"] == len(before)
    assert summary["dropped"] == []
    for doc_id, doc in before.items():
        assert after[doc_id]["indexed_at"] == doc["indexed_at"]
        assert after[doc_id]["duplicate_group"] == doc["duplicate_group"]


def test_one_cycle_indexes_seeds_and_names_unreachable_sources(settings, web, monitoring):
    """What ``mediawatch run`` does, with a source on a host that cannot resolve (as offline)."""
    from mediawatch import cycle
    from mediawatch.commands.run import CYCLE_DAGS

    write_topic(monitoring / "glas_embassy.yaml", [
        {"id": "local_feed", "kind": "rss", "url": web.url(FEED)},
        {"id": "offline_outlet", "kind": "rss", "url": "http://news.mediawatch-offline.invalid/feed.rss"},
    ])
    account = cycle.run_cycle(settings, CYCLE_DAGS)
    assert account["ok"], account["runs"]
    assert [run["dag_id"] for run in account["runs"]] == list(CYCLE_DAGS)
    [batch] = account["batches"]
    unreachable = batch["crawl"]["unreachable_sources"]
    assert [source["id"] for source in unreachable] == ["offline_outlet"]
    assert account["index"]["seeds"] == 2, account["index"]

    text = cycle.format_account(account, settings)
    assert "offline_outlet: http://news.mediawatch-offline.invalid/feed.rss" in text
    assert "mediawatch airflow standalone" in text
    assert f"({account['index']['seeds']} seeds)" in text

    # The seeds DAG is safe to rerun: same documents, none added.
    seeds_before = account["index"]["seeds"]
    assert str(_run("mediawatch_seeds").state) == "success"
    assert cycle.index_account(settings)["seeds"] == seeds_before


def test_the_run_command_prints_the_account_and_exits_0(settings, monitoring, capsys):
    """``mediawatch run`` itself, after the cycles above: nothing new, the same seeds, the account."""
    from mediawatch import cli

    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out
    assert "mediawatch_seeds: success" in out and "mediawatch_monitor: success" in out
    assert "offline_outlet: http://news.mediawatch-offline.invalid/feed.rss (dns)" in out
    assert "0 fetched" in out
    assert f"in {settings.index_name('articles')} / {settings.index_name('alerts')}" in out
