"""Alerts end to end on the real node: the seed scenario, reruns, the log line, a real
webhook receiver on 127.0.0.1 (failing, then recovering), concurrent runs racing for the
same claim, and the alerts command.

Each test starts with an empty alerts index and raises what it needs itself, so any
test runs alone or in any order."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mediawatch import cli
from mediawatch import es as es_access
from mediawatch.seeds import index_seeds, load_seed_articles
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.alerts import (
    SENDING_LEASE_TIMEOUTS,
    WEBHOOK_CLAIMED_AT,
    WEBHOOK_PENDING,
    WEBHOOK_TIMEOUT_ENV,
    WEBHOOK_URL_ENV,
    Channels,
    alert_id,
    baseline_id,
    deliver_pending_webhooks,
    list_alerts,
    raise_alerts,
    read_processed,
)
from processors.pipeline import process_articles

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")
CLAIM = "us_planned_raid"
BASELINE_OUTLET, ALERTING_OUTLET = "resumen-english.org", "thecanadafiles.com"  # the two seeds' outlets


class Receiver:
    """A webhook endpoint: records each POSTed JSON body, answers with ``status`` after ``delay_s``."""

    def __init__(self):
        self.status = 200
        self.delay_s = 0.0
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"status": receiver.status, "json": json.loads(body),
                                          "content_type": self.headers["Content-Type"]})
                time.sleep(receiver.delay_s)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/mediawatch"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def carrying_record(settings) -> dict:
    """The second seed's record as the pipeline wrote it to processed.jsonl: an article carrying CLAIM."""
    report = index_seeds(settings)
    (record,) = [r for r in read_processed(Path(report.processed_path)) if r["article"]["outlet"] == ALERTING_OUTLET]
    return record


@pytest.fixture(autouse=True)
def no_alerts_yet(settings):
    """Every test starts with a new, empty alerts index (the module's namespace is shared).

    The index is replaced rather than emptied: the test node has no delete-by-query."""
    admin = es_access.client("admin", settings)
    admin.indices.delete(index=",".join(admin.indices.get_alias(name=settings.index_name("alerts"))))
    es_access.ensure_alias(admin, settings, "alerts")


@pytest.fixture
def seeds_alerted(settings) -> dict:
    """The seed scenario done: the first seed's outlet is the baseline, the second's alert is returned."""
    assert index_seeds(settings).alerts == 1
    (alert,) = list_alerts(settings)
    return alert


def _republished(seed_number: int, outlet: str, url: str, published_at: str | None):
    """A seed republished by another outlet (the way a claim spreads)."""
    article = load_seed_articles()[seed_number]
    article.url = article.canonical_url = url
    article.outlet, article.outlet_name = outlet, outlet
    article.published_at = published_at
    article.source_type = "crawl"
    return article


def _processed_file(folder: Path, record: dict, outlet: str) -> Path:
    """A processed.jsonl holding ``record`` as carried by ``outlet`` (a run's input to raise_alerts)."""
    article = {**record["article"], "outlet": outlet, "outlet_name": outlet, "url": f"https://{outlet}/story"}
    path = folder / f"{outlet}-{time.monotonic_ns()}" / "processed.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**record, "url": article["url"], "article": article}) + "\n", encoding="utf-8")
    return path


def _race(settings, topic, processed_paths: list[Path]) -> list[dict]:
    """raise_alerts for each file at the same instant, one thread and one client each; the alerts raised."""
    start = threading.Barrier(len(processed_paths))
    raised: list[dict] = []
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        es = es_access.client("writer", settings)
        start.wait()
        try:
            raised.extend(raise_alerts(path, topic, settings=settings, es=es))
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(path,)) for path in processed_paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return raised


def _documents_of(settings, topic_name: str) -> list[dict]:
    return [a for a in list_alerts(settings, include_baseline=True) if a["topic"] == topic_name]


def test_seed_scenario_first_seed_is_baseline_second_raises_exactly_one_alert(settings, caplog):
    first, second = load_seed_articles()
    report = process_articles([first], TOPIC, settings=settings)
    assert report.indexed == 1 and report.alerts == 0
    assert list_alerts(settings) == []
    (baseline,) = list_alerts(settings, include_baseline=True)
    assert baseline["id"] == baseline_id(TOPIC.name, CLAIM)
    assert baseline["baseline"] is True and baseline["outlet"] == BASELINE_OUTLET
    assert baseline["delivered_to"] == []

    with caplog.at_level(logging.WARNING, logger="processors.alerts"):
        report = process_articles([second], TOPIC, settings=settings)
    assert report.alerts == 1
    (alert,) = list_alerts(settings)
    assert alert["id"] == alert_id(TOPIC.name, CLAIM, ALERTING_OUTLET)
    assert (alert["claim_id"], alert["outlet"], alert["baseline"]) == (CLAIM, ALERTING_OUTLET, False)
    assert alert["article_url"] == second.url and alert["article_title"] == second.title
    assert "planned" in alert["passage"] and "US" in alert["passage"]
    assert alert["delivered_to"] == ["log"]
    assert any(f"ALERT claim={CLAIM} outlet={ALERTING_OUTLET}" in r.getMessage() for r in caplog.records)

    # Reruns (both seeds at once, twice) raise nothing new.
    for _ in range(2):
        assert index_seeds(settings).alerts == 0
    assert sorted(a["id"] for a in list_alerts(settings, include_baseline=True)) == sorted([alert["id"], baseline["id"]])


def test_merely_naming_the_united_states_raises_no_alert(settings, seeds_alerted):
    article = _republished(1, "condemnation-sample.org", "https://condemnation-sample.org/us-condemns", "2024-04-07")
    article.title = "United States condemns the raid on the Mexican embassy"
    article.text = (
        "The US State Department condemned the raid on the Mexican embassy in Quito and called on Ecuador and "
        "Mexico to resolve their differences. Washington said the Vienna Convention must be respected. "
        "López Obrador, the North American country's president, broke off diplomatic relations."
    )
    report = process_articles([article], TOPIC, settings=settings)
    assert report.indexed == 1 and report.alerts == 0
    assert "condemnation-sample.org" not in {a["outlet"] for a in list_alerts(settings, include_baseline=True)}


def test_webhook_failure_is_kept_and_delivered_by_the_next_run(settings, seeds_alerted, receiver, monkeypatch):
    monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
    receiver.status = 503  # the receiver is down
    copy = _republished(1, "republisher-sample.org", "https://republisher-sample.org/us-planned-raid", "2024-06-02")
    report = process_articles([copy], TOPIC, settings=settings)
    assert report.alerts == 1
    assert [r["status"] for r in receiver.received] == [503]
    (pending,) = [a for a in list_alerts(settings) if a["outlet"] == "republisher-sample.org"]
    assert pending["delivered_to"] == ["log", WEBHOOK_PENDING]

    receiver.status = 200  # back up: the rerun raises nothing new but delivers what was pending
    assert process_articles([copy], TOPIC, settings=settings).alerts == 0
    assert [r["status"] for r in receiver.received] == [503, 200]
    delivered = receiver.received[-1]
    assert delivered["content_type"] == "application/json"
    assert delivered["json"]["id"] == pending["id"] and delivered["json"]["outlet"] == "republisher-sample.org"
    assert delivered["json"]["claim_id"] == CLAIM and delivered["json"]["passage"]
    assert delivered["json"]["article_url"] == copy.url
    assert "delivered_to" not in delivered["json"] and WEBHOOK_CLAIMED_AT not in delivered["json"]
    (done,) = [a for a in list_alerts(settings) if a["outlet"] == "republisher-sample.org"]
    assert done["delivered_to"] == ["log", "webhook"] and done[WEBHOOK_CLAIMED_AT] is None

    assert process_articles([copy], TOPIC, settings=settings).alerts == 0
    assert len(receiver.received) == 2  # never sent twice


def test_unreachable_webhook_is_recorded_not_fatal(settings, seeds_alerted, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(WEBHOOK_URL_ENV, f"http://127.0.0.1:{port}/closed")
    copy = _republished(1, "second-republisher-sample.org", "https://second-republisher-sample.org/x", "2024-06-03")
    assert process_articles([copy], TOPIC, settings=settings).alerts == 1
    (alert,) = [a for a in list_alerts(settings) if a["outlet"] == "second-republisher-sample.org"]
    assert WEBHOOK_PENDING in alert["delivered_to"]


ROUNDS = 5  # each race is run several times: a lost race must not pass by luck


def test_runs_racing_for_the_same_outlet_alert_and_deliver_once(settings, carrying_record, receiver, monkeypatch, tmp_path):
    monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
    receiver.delay_s = 0.3  # a slow receiver: the other run is looking for pending alerts meanwhile
    assert raise_alerts(_processed_file(tmp_path, carrying_record, "baseline-sample.org"), TOPIC, settings=settings) == []
    for round_number in range(ROUNDS):
        outlet = f"racer-{round_number}.org"
        raised = _race(settings, TOPIC, [_processed_file(tmp_path, carrying_record, outlet) for _ in range(2)])
        assert [a["outlet"] for a in raised] == [outlet]
        (alert,) = [a for a in _documents_of(settings, TOPIC.name) if a["outlet"] == outlet]
        assert alert["baseline"] is False and alert["delivered_to"] == ["log", "webhook"]
        assert alert[WEBHOOK_CLAIMED_AT] is None  # the claim was released
        assert [r["json"]["outlet"] for r in receiver.received].count(outlet) == 1


def test_first_carriers_racing_for_a_new_claim_make_one_baseline_and_one_alert(
    settings, carrying_record, receiver, monkeypatch, tmp_path
):
    monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
    for round_number in range(ROUNDS):
        topic = dataclasses.replace(TOPIC, name=f"race-{round_number}")  # a claim nobody carried yet
        outlets = [f"first-{round_number}.org", f"other-{round_number}.org"]
        raised = _race(settings, topic, [_processed_file(tmp_path, carrying_record, outlet) for outlet in outlets])
        documents = _documents_of(settings, topic.name)
        (baseline,) = [a for a in documents if a["baseline"]]
        (alert,) = [a for a in documents if not a["baseline"]]
        assert {baseline["outlet"], alert["outlet"]} == set(outlets)
        assert [a["id"] for a in raised] == [alert["id"]]
        assert [r["json"]["id"] for r in receiver.received if r["json"]["topic"] == topic.name] == [alert["id"]]


def test_a_delivery_claimed_by_a_run_that_died_is_sent_once_its_lease_is_over(
    settings, seeds_alerted, receiver, monkeypatch
):
    monkeypatch.setenv(WEBHOOK_URL_ENV, receiver.url)
    monkeypatch.setenv(WEBHOOK_TIMEOUT_ENV, "0.5")
    channels = Channels.from_env()
    es = es_access.client("writer", settings)
    # A run claimed the pending delivery, then died before posting it.
    claimed_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    es.update(
        index=settings.index_name("alerts"), id=seeds_alerted["id"], refresh=True,
        doc={"delivered_to": ["log", WEBHOOK_PENDING], WEBHOOK_CLAIMED_AT: claimed_at},
    )
    assert deliver_pending_webhooks(settings, es, channels) == 0  # it may still be posting
    assert receiver.received == []

    time.sleep(SENDING_LEASE_TIMEOUTS * channels.webhook_timeout_s)
    assert deliver_pending_webhooks(settings, es, channels) == 1
    assert [r["json"]["id"] for r in receiver.received] == [seeds_alerted["id"]]
    (alert,) = list_alerts(settings)
    assert alert["delivered_to"] == ["log", "webhook"] and alert[WEBHOOK_CLAIMED_AT] is None


def test_alerts_command_lists_alerts(settings, seeds_alerted, capsys):
    assert cli.main(["alerts", "--json"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == seeds_alerted and listed["outlet"] == ALERTING_OUTLET
    assert cli.main(["alerts", "--baseline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 alerts") and "baseline" in out and BASELINE_OUTLET in out and ALERTING_OUTLET in out
