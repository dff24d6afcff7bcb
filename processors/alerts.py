"""Alerts: tell analysts when an outlet carries a claim for the first time.

One alert document per (topic, claim, outlet), in the alerts index, with an id
derived from that triple and written with ``create``: Elasticsearch refuses a
second document with the same id, so a pair never alerts twice, whatever the
number of reruns or reprocessings, and of two runs racing for the same pair
exactly one writes it; the other gets a conflict and sends nothing.

The first known carrier of a claim is its *baseline*: it is recorded (``baseline:
true``) but not sent, because there is nothing to compare it with yet. The
baseline document's id is derived from (topic, claim) alone and written with
``create`` too, so of runs racing to carry a new claim first exactly one becomes
the baseline and the others alert. For the seeds, the first seed's outlet is the
baseline and the second seed's outlet raises the one alert. Within one processed
file, carriers are taken in order of publication (undated last), then of
position in the file.

Channels: a log line always; a webhook (``MEDIAWATCH_ALERT_WEBHOOK_URL``, JSON
POST) when configured. Delivery state lives in the alert document itself
(``delivered_to``: ``log``, ``webhook`` or ``webhook:pending``), so an alert
whose webhook POST failed, or whose run crashed before posting, is found and
sent again by the next run: never lost, and never dropped from the index. A run
claims a pending delivery before posting it, with a compare-and-set update that
sets ``webhook_claimed_at`` (a date, cleared again when the run records the
outcome): of two runs finding the same pending alert, only one posts it. A claim
older than the sending lease (its run died mid-delivery) no longer holds the
alert back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from elasticsearch import ConflictError, Elasticsearch

from mediawatch import es as es_access
from mediawatch.settings import ConfigError, Settings, load_settings
from mediawatch.topics import Topic

log = logging.getLogger(__name__)

WEBHOOK_URL_ENV = "MEDIAWATCH_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_ENV = "MEDIAWATCH_ALERT_WEBHOOK_TIMEOUT"
WEBHOOK_PENDING = "webhook:pending"
# When a run claimed the pending delivery (null when none holds it); the alert stays pending until the POST succeeds.
WEBHOOK_CLAIMED_AT = "webhook_claimed_at"
# Delivery bookkeeping in the alert document, left out of what the webhook receives.
BOOKKEEPING_FIELDS = ("delivered_to", WEBHOOK_CLAIMED_AT)
# A claimed delivery is left to its run for this many webhook timeouts: connecting, sending the
# body and reading the answer may each take up to the timeout. After that, its run is presumed dead.
SENDING_LEASE_TIMEOUTS = 3
# Processed-record outcomes whose article is (or will be, from the spool) in the index.
CARRYING_OUTCOMES = ("indexed", "spooled")
UNDATED = "9999-12-31"


@dataclass(frozen=True)
class Channels:
    """Where alerts go, from the environment."""

    webhook_url: str | None = None
    webhook_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> "Channels":
        timeout = os.environ.get(WEBHOOK_TIMEOUT_ENV) or "10"
        try:
            seconds = float(timeout)
        except ValueError as exc:
            raise ConfigError(f"{WEBHOOK_TIMEOUT_ENV}={timeout!r} is not a number of seconds") from exc
        return cls(webhook_url=os.environ.get(WEBHOOK_URL_ENV) or None, webhook_timeout_s=seconds)


def _now() -> str:
    # Milliseconds: alerts raised in one run still list in the order they were raised.
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _document_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def alert_id(topic: str, claim_id: str, outlet: str) -> str:
    return _document_id(topic, claim_id, outlet)


def baseline_id(topic: str, claim_id: str) -> str:
    """One per claim, whichever outlet carried it first."""
    return _document_id(topic, claim_id)


def read_processed(processed_path: Path) -> Iterable[dict]:
    with Path(processed_path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def carriers(records: Iterable[dict], topic: Topic) -> list[dict]:
    """One alert candidate per (claim, outlet): its earliest carrying article in ``records``."""
    labels = {claim.id: claim.label for claim in topic.claims}
    found: list[tuple[str, int, dict]] = []
    for position, record in enumerate(records):
        article = record.get("article") or {}
        if record.get("outcome") not in CARRYING_OUTCOMES or not article.get("outlet"):
            continue
        for match in article.get("claims") or []:
            if match["claim_id"] not in labels:
                continue  # a claim since removed from the topic file
            found.append(
                (
                    article.get("published_at") or UNDATED,
                    position,
                    {
                        "id": alert_id(topic.name, match["claim_id"], article["outlet"]),
                        "topic": topic.name,
                        "claim_id": match["claim_id"],
                        "claim_label": labels[match["claim_id"]],
                        "outlet": article["outlet"],
                        "outlet_name": article.get("outlet_name"),
                        "article_id": article.get("id"),
                        "article_url": article.get("url"),
                        "article_title": article.get("title"),
                        "passage": match.get("passage"),
                        "published_at": article.get("published_at"),
                    },
                )
            )
    first: dict[str, dict] = {}
    for _, _, candidate in sorted(found, key=lambda item: (item[0], item[1])):
        first.setdefault(candidate["id"], candidate)
    return list(first.values())


def _baseline_outlet(es: Elasticsearch, index: str, candidate: dict) -> tuple[str, bool]:
    """The outlet that is the baseline of the candidate's claim, and whether this call recorded it."""
    baseline = {
        **candidate,
        "id": baseline_id(candidate["topic"], candidate["claim_id"]),
        "alerted_at": _now(),
        "baseline": True,
        "delivered_to": [],
    }
    try:
        es.create(index=index, id=baseline["id"], document=baseline, refresh=True)
    except ConflictError:  # recorded earlier, or by a run racing this one: a get is real-time
        return es.get(index=index, id=baseline["id"])["_source"]["outlet"], False
    return candidate["outlet"], True


def _post_webhook(channels: Channels, alert: dict) -> str | None:
    """POST the alert as JSON; None on a 2xx answer, else the reason it failed."""
    payload = {key: value for key, value in alert.items() if key not in BOOKKEEPING_FIELDS}
    request = urllib.request.Request(
        channels.webhook_url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=channels.webhook_timeout_s) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"


def _log_alert(alert: dict) -> None:
    log.warning(
        "ALERT claim=%s outlet=%s article=%s published=%s passage=%r",
        alert["claim_id"], alert["outlet"], alert["article_url"], alert.get("published_at"), (alert.get("passage") or "")[:300],
    )


def _being_sent(alert: dict, lease_s: float) -> bool:
    """Whether a run claimed this delivery less than ``lease_s`` ago (it may be posting right now)."""
    claimed_at = alert.get(WEBHOOK_CLAIMED_AT)
    return bool(claimed_at) and (datetime.now(timezone.utc) - datetime.fromisoformat(claimed_at)).total_seconds() < lease_s


def deliver_pending_webhooks(settings: Settings, es: Elasticsearch, channels: Channels) -> int:
    """Send alerts whose webhook delivery is pending (failed or interrupted); returns how many went out."""
    if not channels.webhook_url:
        return 0
    index = settings.index_name("alerts")
    es.indices.refresh(index=index)
    result = es.search(
        index=index,
        query={"term": {"delivered_to": WEBHOOK_PENDING}},
        sort=[{"alerted_at": "asc"}, {"id": "asc"}],
        size=500,
        seq_no_primary_term=True,
    )
    sent = 0
    for hit in result["hits"]["hits"]:
        alert = hit["_source"]
        if _being_sent(alert, SENDING_LEASE_TIMEOUTS * channels.webhook_timeout_s):
            continue
        try:  # compare-and-set: fails if any run changed the alert since this search
            claim = es.update(
                index=index, id=hit["_id"], doc={WEBHOOK_CLAIMED_AT: _now()},
                if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"],
            )
        except ConflictError:
            continue  # another run claimed or delivered it since
        failure = _post_webhook(channels, alert)
        if failure:
            log.warning("webhook delivery of alert %s failed (%s); it stays pending for the next run", alert["id"], failure)
            delivered_to = alert["delivered_to"]
        else:
            delivered_to = [channel for channel in alert["delivered_to"] if channel != WEBHOOK_PENDING] + ["webhook"]
            sent += 1
        try:  # records the outcome and releases the claim, unless the alert changed since the claim
            es.update(
                index=index, id=hit["_id"], doc={"delivered_to": delivered_to, WEBHOOK_CLAIMED_AT: None}, refresh=True,
                if_seq_no=claim["_seq_no"], if_primary_term=claim["_primary_term"],
            )
        except ConflictError:
            log.warning("alert %s changed while this run was sending it (the send outlived its lease)", alert["id"])
    return sent


def raise_alerts(
    processed_path: Path, topic: Topic, *, settings: Settings | None = None, es: Elasticsearch | None = None
) -> list[dict]:
    """Record and send an alert for each (claim, outlet) first seen in ``processed_path``.

    Returns the alerts raised by this call (baselines are recorded, not returned).
    """
    settings = settings or load_settings()
    es = es or es_access.client("writer", settings)
    channels = Channels.from_env()
    index = settings.index_name("alerts")
    raised: list[dict] = []
    baseline_outlets: dict[str, str] = {}
    for candidate in carriers(read_processed(processed_path), topic):
        claim_id = candidate["claim_id"]
        if claim_id not in baseline_outlets:
            baseline_outlets[claim_id], recorded = _baseline_outlet(es, index, candidate)
            if recorded:
                log.info("baseline: %s is the first known carrier of claim %s (%s)", candidate["outlet"], claim_id, candidate["article_url"])
                continue
        if candidate["outlet"] == baseline_outlets[claim_id]:
            continue  # the claim's first known carrier: recorded, never sent
        delivered_to = ["log"] + ([WEBHOOK_PENDING] if channels.webhook_url else [])
        alert = {**candidate, "alerted_at": _now(), "baseline": False, "delivered_to": delivered_to}
        try:
            es.create(index=index, id=alert["id"], document=alert, refresh=True)
        except ConflictError:
            continue  # this outlet already carried this claim: alerted before, or by a run racing this one
        _log_alert(alert)
        raised.append(alert)
    deliver_pending_webhooks(settings, es, channels)
    return raised


def list_alerts(
    settings: Settings | None = None, es: Elasticsearch | None = None, *, include_baseline: bool = False, size: int = 1000
) -> list[dict]:
    """Alerts, newest first (the reader role suffices)."""
    settings = settings or load_settings()
    es = es or es_access.client("reader", settings)
    query = {"match_all": {}} if include_baseline else {"bool": {"must_not": [{"term": {"baseline": True}}]}}
    result = es.search(
        index=settings.index_name("alerts"), query=query, sort=[{"alerted_at": "desc"}, {"id": "asc"}], size=size
    )
    return [hit["_source"] for hit in result["hits"]["hits"]]
