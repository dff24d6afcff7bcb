"""Run a crawl from Python (the CLI and Airflow tasks call this).

The crawl runs in its own process (see ``crawlers.process``); this module
prepares the run (id, output directory, settings), starts it, waits, and reads
the summary the run wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from crawlers.addresses import PRIVATE_HOST_CLASSES
from mediawatch.errors import OperationalError
from mediawatch.settings import Settings, load_settings


class CrawlError(OperationalError):
    """The crawl process failed; the message carries the end of its log."""


@dataclass
class CrawlResult:
    batch_path: Path      # JSON Lines of FetchedPage.to_dict(), one line per candidate URL (every outcome)
    summary_path: Path    # JSON: counts fetched / skipped_seen / refused / failed by reason, sources unreachable
    summary: dict


@dataclass
class CrawlJob:
    """A crawl process that was started; ``wait()`` gives its result."""

    run_id: str
    out_dir: Path
    log_path: Path
    process: subprocess.Popen

    @property
    def batch_path(self) -> Path:
        return self.out_dir / "batch.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"

    def wait(self, timeout: float | None = None) -> CrawlResult:
        """Wait for the crawl; if waiting is interrupted (timeout, Ctrl-C, task killed),
        stop the crawl gracefully so it does not outlive its caller."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except BaseException:
            self.process.terminate()
            raise
        if returncode != 0 or not self.summary_path.exists():
            tail = "".join(
                path.read_text(encoding="utf-8", errors="replace")[-3000:]
                for path in (self.log_path, self.out_dir / "crawl.stderr") if path.exists()
            )
            raise CrawlError(f"crawl {self.run_id} exited with status {returncode}; log {self.log_path}:\n{tail}")
        summary = json.loads(self.summary_path.read_text(encoding="utf-8"))
        self.batch_path.touch()  # a run that found no candidates still delivers an (empty) batch
        return CrawlResult(self.batch_path, self.summary_path, summary)


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def start_crawl(topic_path: Path, out_dir: Path | None = None, *, extra_sources: Sequence[str] = (),
                allow_private_hosts: bool = False, settings: Settings | None = None,
                overrides: dict[str, Any] | None = None, run_id: str | None = None) -> CrawlJob:
    settings = settings or load_settings()
    run_id = run_id or new_run_id()
    out_dir = Path(out_dir) if out_dir is not None else settings.state_dir / "batches" / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "crawl.log"
    scrapy_settings: dict[str, Any] = {
        "MEDIAWATCH_STATE_DIR": str(settings.state_dir),
        "MEDIAWATCH_RUN_ID": run_id,
        "MEDIAWATCH_OUT_DIR": str(out_dir),
        "LOG_FILE": str(log_path),
    }
    if allow_private_hosts:
        scrapy_settings["MEDIAWATCH_ALLOWED_ADDRESS_CLASSES"] = sorted(PRIVATE_HOST_CLASSES)
    scrapy_settings.update(overrides or {})
    spec_path = out_dir / "crawl-spec.json"
    spec_path.write_text(json.dumps({
        "topic_path": str(Path(topic_path).resolve()),
        "extra_sources": list(extra_sources),
        "settings": scrapy_settings,
    }, indent=2), encoding="utf-8")
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    with open(out_dir / "crawl.stderr", "wb") as stderr:  # tracebacks from before logging is set up
        process = subprocess.Popen(
            [sys.executable, "-m", "crawlers.process", str(spec_path)], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )
    return CrawlJob(run_id, out_dir, log_path, process)


def run_crawl(topic_path: Path, out_dir: Path | None = None, *, extra_sources: Sequence[str] = (),
              allow_private_hosts: bool = False, settings: Settings | None = None,
              overrides: dict | None = None) -> CrawlResult:
    """Crawl a topic's sources (plus ``extra_sources``) once and return the batch and summary."""
    return start_crawl(topic_path, out_dir, extra_sources=extra_sources, allow_private_hosts=allow_private_hosts,
                       settings=settings, overrides=overrides).wait()
