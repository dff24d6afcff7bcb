"""Crawl state that outlives a run: what was fetched, what is pending, feed validators.

SQLite in WAL mode, one small transaction per change, so that a run killed at
any point leaves a consistent database: every recorded page stays recorded,
and every URL discovered but not yet fetched stays in the frontier for the next
run to pick up. Each Scrapy component opens its own connection to the same file.

Tables:
- ``runs``: one row per run; ``finished_at`` stays NULL when a run was killed.
- ``pages``: the record (``FetchedPage`` as JSON) of every URL fetched, keyed by
  its canonical request URL, with the run that last delivered it in a batch.
- ``seen``: every canonical form under which a fetched page is known (request URL,
  final URL after redirects, the page's own rel=canonical) -> the ``pages`` key.
- ``frontier``: URLs scheduled but without a final outcome yet (the request as
  JSON): pending when a run was killed, or failed transiently (``failed_runs``).
- ``validators``: ETag / Last-Modified per source URL, for conditional GET.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mediawatch.sqlite_state import open_state_db, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, run_id TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (url TEXT PRIMARY KEY, page_url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frontier (
    url TEXT PRIMARY KEY, run_id TEXT NOT NULL, request TEXT NOT NULL, failed_runs INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT);
CREATE INDEX IF NOT EXISTS pages_run ON pages (run_id);
CREATE INDEX IF NOT EXISTS frontier_run ON frontier (run_id);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class CrawlState:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = open_state_db(path, timeout=30, check_same_thread=False)
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> "CrawlState":
        return cls(Path(state_dir) / "crawl" / "state.sqlite3")

    def close(self) -> None:
        self._db.close()

    # runs
    def start_run(self, run_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO runs (run_id, started_at) VALUES (?, ?)", (run_id, utc_now()))

    def finish_run(self, run_id: str) -> None:
        self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (utc_now(), run_id))

    def undelivered_pages(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Records fetched by runs that were killed before finishing, so never reliably delivered."""
        rows = self._db.execute(
            "SELECT record FROM pages WHERE run_id IN"
            " (SELECT run_id FROM runs WHERE finished_at IS NULL AND run_id != ?) ORDER BY rowid",
            (run_id,),
        ).fetchall()
        for (record,) in rows:
            yield json.loads(record)

    def pending_requests(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Frontier entries left by other runs: killed before an outcome, or to retry after a failure."""
        rows = self._db.execute("SELECT request FROM frontier WHERE run_id != ? ORDER BY rowid", (run_id,)).fetchall()
        for (request,) in rows:
            yield json.loads(request)

    # seen URLs and the frontier
    def seen_page(self, urls: Iterable[str]) -> str | None:
        """The ``pages`` key of an already fetched page known under any of ``urls``."""
        urls = list(dict.fromkeys(urls))
        if not urls:
            return None
        row = self._db.execute(
            f"SELECT page_url FROM seen WHERE url IN ({','.join('?' * len(urls))}) LIMIT 1", urls
        ).fetchone()
        return row[0] if row else None

    def frontier_run(self, url: str) -> str | None:
        row = self._db.execute("SELECT run_id FROM frontier WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def enqueue(self, url: str, run_id: str, request: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO frontier (url, run_id, request) VALUES (?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET run_id = excluded.run_id, request = excluded.request",
            (url, run_id, json.dumps(request, ensure_ascii=False)),
        )

    def record_page(self, url: str, run_id: str, record: dict[str, Any], aliases: Iterable[str]) -> None:
        """Store a fetched page under ``url`` and every alias, and take it off the frontier, atomically."""
        with transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO pages (url, run_id, record) VALUES (?, ?, ?)",
                (url, run_id, json.dumps(record, ensure_ascii=False)),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO seen (url, page_url) VALUES (?, ?)",
                [(alias, url) for alias in dict.fromkeys([url, *aliases])],
            )
            self._db.execute("DELETE FROM frontier WHERE url = ?", (url,))

    def mark_seen(self, urls: Iterable[str], page_url: str) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO seen (url, page_url) VALUES (?, ?)", [(u, page_url) for u in dict.fromkeys(urls)]
        )

    def settle(self, url: str) -> None:
        """An outcome other than a fetch was recorded: the URL leaves the frontier (later runs may retry it)."""
        self._db.execute("DELETE FROM frontier WHERE url = ?", (url,))

    def count_failure(self, url: str) -> int:
        """Count one more run in which ``url`` failed (it stays on the frontier); returns the count."""
        self._db.execute("UPDATE frontier SET failed_runs = failed_runs + 1 WHERE url = ?", (url,))
        row = self._db.execute("SELECT failed_runs FROM frontier WHERE url = ?", (url,)).fetchone()
        return row[0] if row else 0

    # conditional GET
    def validators(self, url: str) -> tuple[str | None, str | None]:
        row = self._db.execute("SELECT etag, last_modified FROM validators WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO validators (url, etag, last_modified) VALUES (?, ?, ?)", (url, etag, last_modified)
        )

