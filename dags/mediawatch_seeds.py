"""mediawatch_seeds: index the seed documents once (safe to trigger again).

Thin wiring: the work is ``mediawatch.tasks.index_seeds``; seeds have stable
ids, so a rerun overwrites rather than duplicates.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from mediawatch.airflow_env import dag_defaults


@task
def index_seeds() -> int:
    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return tasks.index_seeds(task_settings())


@dag(
    dag_id="mediawatch_seeds",
    schedule="@once",
    **dag_defaults(__doc__),
)
def mediawatch_seeds():
    index_seeds()


mediawatch_seeds()
