"""Alerts end to end on the real node: the seed scenario, reruns, the log line, a real
webhook receiver on 127.0.0.1 (failing, then recovering), and the alerts command."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mediawatch import cli
from mediawatch.seeds import index_seeds, load_seed_articles
from mediawatch.settings import PROJECT_ROOT
from mediawatch.topics import load_topic
from processors.alerts import WEBHOOK_PENDING, WEBHOOK_URL_ENV, alert_id, list_alerts
from processors.pipeline import process_articles

TOPIC = load_topic(PROJECT_ROOT / "topics" / "glas_embassy.yaml")
CLAIM = "us_planned_raid"


class Receiver:
    """A webhook endpoint: records each POSTed JSON body, answers with ``status``."""

    def __init__(self):
        self.status = 200
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"status": receiver.status, "json": json.loads(body),
                                          "content_type": self.headers["Content-Type"]})
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


def _republished(seed_number: int, outlet: str, url: str, published_at: str | None):
    """A seed republished by another outlet (the way a claim spreads)."""
    article = load_seed_articles()[seed_number]
    article.url = article.canonical_url = url
    article.outlet, article.outlet_name = outlet, outlet
    article.published_at = published_at
    article.source_type = "crawl"
    return article


def test_seed_scenario_first_seed_is_baseline_second_raises_exactly_one_alert(settings, caplog):
    first, second = load_seed_articles()
    report = process_articles([first], TOPIC, settings=settings)
    assert report.indexed == 1 and report.alerts == 0
    assert list_alerts(settings) == []
    (baseline,) = list_alerts(settings, include_baseline=True)
    assert baseline["baseline"] is True and baseline["outlet"] == "resumen-english.org"
    assert baseline["delivered_to"] == []

    with caplog.at_level(logging.WARNING, logger="processors.alerts"):
        report = process_articles([second], TOPIC, settings=settings)
    assert report.alerts == 1
    (alert,) = list_alerts(settings)
    assert alert["id"] == alert_id(TOPIC.name, CLAIM, "thecanadafiles.com")
    assert (alert["claim_id"], alert["outlet"], alert["baseline"]) == (CLAIM, "thecanadafiles.com", False)
    assert alert["article_url"] == second.url and alert["article_title"] == second.title
    assert "planned" in alert["passage"] and "US" in alert["passage"]
    assert alert["delivered_to"] == ["log"]
    assert any("ALERT claim=us_planned_raid outlet=thecanadafiles.com" in r.getMessage() for r in caplog.records)

    # Reruns (both seeds at once, twice) raise nothing new.
    for _ in range(2):
        assert index_seeds(settings).alerts == 0
    assert sorted(a["id"] for a in list_alerts(settings, include_baseline=True)) == sorted([alert["id"], baseline["id"]])


def test_merely_naming_the_united_states_raises_no_alert(settings):
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


def test_webhook_failure_is_kept_and_delivered_by_the_next_run(settings, receiver, monkeypatch):
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
    assert delivered["json"]["article_url"] == copy.url and "delivered_to" not in delivered["json"]
    (done,) = [a for a in list_alerts(settings) if a["outlet"] == "republisher-sample.org"]
    assert done["delivered_to"] == ["log", "webhook"]

    assert process_articles([copy], TOPIC, settings=settings).alerts == 0
    assert len(receiver.received) == 2  # never sent twice


def test_unreachable_webhook_is_recorded_not_fatal(settings, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(WEBHOOK_URL_ENV, f"http://127.0.0.1:{port}/closed")
    copy = _republished(1, "second-republisher-sample.org", "https://second-republisher-sample.org/x", "2024-06-03")
    assert process_articles([copy], TOPIC, settings=settings).alerts == 1
    (alert,) = [a for a in list_alerts(settings) if a["outlet"] == "second-republisher-sample.org"]
    assert WEBHOOK_PENDING in alert["delivered_to"]


def test_alerts_command_lists_alerts(settings, capsys):
    assert cli.main(["alerts", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {a["outlet"] for a in lines} == {"thecanadafiles.com", "republisher-sample.org", "second-republisher-sample.org"}
    assert cli.main(["alerts", "--baseline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 alerts") and "baseline" in out and "thecanadafiles.com" in out
