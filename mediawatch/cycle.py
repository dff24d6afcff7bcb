"""One monitoring cycle through Airflow, and the account of what it did.

Used by ``mediawatch run`` (and its end-to-end test): call
``airflow_env.prepare`` first, then :func:`run_cycle`. The DAGs run with
``dag.test()``, in this process, against the migrated embedded metadata database;
the account is built from the Airflow runs, the files each stage left beside its
batch (``mediawatch.tasks``) and counts read back from Elasticsearch.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable

from mediawatch import airflow_env, tasks
from mediawatch.settings import Settings

log = logging.getLogger(__name__)


def all_batches(settings: Settings) -> set[Path]:
    return set((settings.state_dir / "batches").glob(f"*/*/{tasks.BATCH_FILE}"))


def run_account(dag_run: Any) -> dict:
    """State of a finished DAG run and of each of its task instances."""
    instances = sorted(dag_run.get_task_instances(), key=lambda ti: ti.task_id)
    return {
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "tasks": {ti.task_id: str(ti.state) for ti in instances},
    }


def index_account(settings: Settings) -> dict:
    """Documents now searchable, read back with the reader role."""
    from elasticsearch import ApiError
    from elasticsearch import ConnectionError as EsConnectionError

    from mediawatch.es import client

    try:
        articles = settings.index_name("articles")
        # Refreshing is the writer's privilege; what analysts can see is the reader's.
        client("writer", settings).indices.refresh(index=articles)
        reader = client("reader", settings)
        return {
            "articles": reader.count(index=articles)["count"],
            "seeds": reader.count(index=articles, query={"term": {"source_type": "seed"}})["count"],
            # Baselines (the first known carrier of a claim) are recorded, not alerts.
            "alerts": reader.count(
                index=settings.index_name("alerts"), query={"bool": {"must_not": [{"term": {"baseline": True}}]}}
            )["count"],
        }
    except (ApiError, EsConnectionError) as exc:
        return {"error": f"{exc.__class__.__name__}: {exc}"}


def run_cycle(settings: Settings, dag_ids: Iterable[str]) -> dict:
    """Start/set up Elasticsearch, run ``dag_ids`` in order; return the account.

    Needs the Airflow environment prepared (``airflow_env.prepare``) before.
    """
    from mediawatch import esnode
    from mediawatch.es import ensure_setup

    if not settings.uses_external_es:
        node = esnode.start(settings)
        log.info("Elasticsearch node at %s (%s)", node.url, "already running" if node.reused else "started")
    ensure_setup(settings)
    # One cycle does not wait out retry delays: what fails is reported now, and the
    # next cycle (or the scheduler) finishes it from the batches and the spool.
    os.environ["MEDIAWATCH_TASK_RETRIES"] = "0"
    dags = airflow_env.load_dags()
    before = all_batches(settings)
    runs = []
    for dag_id in dag_ids:
        log.info("running %s", dag_id)
        runs.append(run_account(dags[dag_id].test()))
    return {
        "ok": all(run["state"] == "success" for run in runs),
        "runs": runs,
        "batches": [tasks.batch_account(batch) for batch in sorted(all_batches(settings) - before)],
        "index": index_account(settings),
    }


def format_account(account: dict, settings: Settings) -> str:
    """The account as text for a person at a terminal."""
    lines = ["", "mediawatch: one monitoring cycle through Airflow", ""]
    for run in account["runs"]:
        lines.append(f"  {run['dag_id']}: {run['state']}")
        for task_id, state in run["tasks"].items():
            if state != "success":
                lines.append(f"    task {task_id}: {state} (its log is above)")
    for batch in account["batches"]:
        lines.extend(tasks.describe_batch(batch))
    index = account["index"]
    lines.append("")
    if "error" in index:
        lines.append(f"  Elasticsearch could not be read: {index['error']}")
    else:
        lines.append(
            f"  searchable now: {index['articles']} articles ({index['seeds']} seeds), {index['alerts']} alerts"
            f" in {settings.index_name('articles')} / {settings.index_name('alerts')}"
        )
    command = _mediawatch_command()
    lines += [
        "",
        f"  search:      {command} search \"Jorge Glas\"",
        "  keep watching (scheduler, DAG processor and UI on http://127.0.0.1:8080):",
        f"               {command} airflow standalone",
        "  (the login is printed by Airflow and kept in "
        f"{os.path.relpath(settings.home / 'airflow' / 'simple_auth_manager_passwords.json.generated')})",
        "",
    ]
    return "\n".join(lines)


def _mediawatch_command() -> str:
    """How the user can call mediawatch from here: the venv's script when it is not on PATH."""
    script = Path(sys.executable).parent / "mediawatch"
    if not script.exists() or shutil.which("mediawatch") == str(script):
        return "mediawatch"
    return os.path.relpath(script)
