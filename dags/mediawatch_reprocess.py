"""mediawatch_reprocess: re-extract archived pages into a new versioned index (manual trigger).

Run after an extractor or mapping change. The pages come from the WARC archive,
not the web; the alias moves to the new index only when every page was
reindexed, so searches keep working on the old index until then.
Thin wiring: the work is ``mediawatch.tasks.reprocess_archive``.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from mediawatch.airflow_env import dag_defaults


@task
def reprocess() -> str:
    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return str(tasks.reprocess_archive(task_settings()))


@dag(
    dag_id="mediawatch_reprocess",
    schedule=None,
    **dag_defaults(__doc__),
)
def mediawatch_reprocess():
    reprocess()


mediawatch_reprocess()
