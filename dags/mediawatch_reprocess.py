"""mediawatch_reprocess: re-extract archived pages into a new versioned index (manual trigger).

Run after an extractor or mapping change. The pages come from the WARC archive,
not the web; the alias moves to the new index only when every page was
reindexed, so searches keep working on the old index until then.
Thin wiring: the work is ``mediawatch.tasks.reprocess_archive``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

from mediawatch.airflow_env import default_task_args


@task
def reprocess() -> str:
    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return str(tasks.reprocess_archive(task_settings()))


@dag(
    dag_id="mediawatch_reprocess",
    schedule=None,
    start_date=datetime(2024, 4, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=default_task_args(),
    tags=["mediawatch"],
    doc_md=__doc__,
)
def mediawatch_reprocess():
    reprocess()


mediawatch_reprocess()
