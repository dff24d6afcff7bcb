"""mediawatch_monitor: crawl, process and index, alert; one task group per topic file.

Thin wiring only: parsing this file lists the topics directory and imports
nothing heavy. The work is in ``mediawatch.tasks``; tasks pass the batch by path
(the XCom is the path string) and read Elasticsearch details from the Airflow
connection ``mediawatch_es`` or the ``MEDIAWATCH_ES_*`` environment.
Schedule: ``MEDIAWATCH_MONITOR_SCHEDULE`` (default hourly).
"""

from __future__ import annotations

from airflow.sdk import TaskGroup, dag, task

from mediawatch.airflow_env import dag_defaults, monitor_schedule, task_group_id, topic_files


@task
def crawl(topic_file: str) -> str:
    from pathlib import Path

    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return str(tasks.crawl_topic(Path(topic_file), task_settings()))


@task
def index(topic_file: str, batch_path: str) -> str:
    from pathlib import Path

    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return str(tasks.index_topic(Path(topic_file), Path(batch_path), task_settings()))


@task
def alert(topic_file: str, processed_path: str) -> str:
    from pathlib import Path

    from mediawatch import tasks
    from mediawatch.airflow_env import task_settings

    return str(tasks.alert_topic(Path(topic_file), Path(processed_path), task_settings()))


@dag(
    dag_id="mediawatch_monitor",
    schedule=monitor_schedule(),
    **dag_defaults(__doc__),
)
def mediawatch_monitor():
    for topic_file in topic_files():
        with TaskGroup(group_id=task_group_id(topic_file)):
            path = str(topic_file)
            alert(path, index(path, crawl(path)))


mediawatch_monitor()
