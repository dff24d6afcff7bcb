"""The DAG files: import cleanly, stay thin, and are wired as documented."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mediawatch import airflow_env
from mediawatch.settings import PROJECT_ROOT, ConfigError

DAG_IDS = {"mediawatch_monitor", "mediawatch_seeds", "mediawatch_reprocess"}
HEAVY_MODULES = ("scrapy", "twisted", "trafilatura", "elasticsearch", "langdetect", "datasketch", "warcio",
                 "crawlers", "processors", "mediawatch.tasks", "mediawatch.topics")


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    return airflow_env.prepare(home=tmp_path_factory.getbasetemp() / "airflow")


def test_every_dag_file_imports_without_errors_or_warnings(environment):
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(airflow_env.DAGS_FOLDER))
    assert bag.import_errors == {}
    assert bag.captured_warnings == {}
    assert [str(w.message) for w in caught] == []
    assert set(bag.dag_ids) == DAG_IDS
    assert {Path(dag.fileloc).name for dag in bag.dags.values()} == {f"{dag_id}.py" for dag_id in DAG_IDS}


def test_parsing_imports_nothing_heavy(environment):
    """In a fresh interpreter with Airflow loaded (as in the DAG processor), parse every file."""
    probe = (
        "import json, sys\n"
        "import airflow.sdk\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "heavy = json.loads(sys.argv[1])\n"
        "before = {m for m in heavy if m in sys.modules}\n"
        "bag = DagBag(dag_folder=sys.argv[2])\n"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'pulled': sorted(m for m in heavy if m in sys.modules and m not in before)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(HEAVY_MODULES), str(airflow_env.DAGS_FOLDER)],
        capture_output=True, text=True, check=True, cwd=PROJECT_ROOT,
    ).stdout.strip().splitlines()[-1]
    result = json.loads(out)
    assert set(result["dags"]) == DAG_IDS
    assert result["pulled"] == []


def test_monitor_dag_has_one_task_group_per_topic_file(environment, tmp_path, monkeypatch):
    topics = tmp_path / "topics"
    topics.mkdir()
    shutil.copy(PROJECT_ROOT / "topics" / "glas_embassy.yaml", topics / "glas_embassy.yaml")
    shutil.copy(PROJECT_ROOT / "topics" / "glas_embassy.yaml", topics / "second-story.yaml")
    monkeypatch.setenv("MEDIAWATCH_TOPICS_DIR", str(topics))
    monitor = airflow_env.load_dags()["mediawatch_monitor"]
    assert set(monitor.task_group.children) == {"glas_embassy", "second-story"}
    for group in ("glas_embassy", "second-story"):
        crawl, index, alert = (monitor.get_task(f"{group}.{step}") for step in ("crawl", "index", "alert"))
        assert crawl.downstream_task_ids == {index.task_id}
        assert index.downstream_task_ids == {alert.task_id}
        # The topic file travels as an argument (a path string), not as its content.
        assert list(crawl.op_args) == [str(topics / f"{group}.yaml")]


def test_monitor_schedule_and_run_policy(environment, monkeypatch):
    monitor = airflow_env.load_dags()["mediawatch_monitor"]
    assert monitor.schedule == "@hourly"
    assert monitor.catchup is False
    assert monitor.max_active_runs == 1
    for task in monitor.tasks:
        assert task.retries >= 1
        assert task.retry_exponential_backoff > 1
    monkeypatch.setenv("MEDIAWATCH_MONITOR_SCHEDULE", "*/15 * * * *")
    monkeypatch.setenv("MEDIAWATCH_TASK_RETRIES", "5")
    monitor = airflow_env.load_dags()["mediawatch_monitor"]
    assert monitor.schedule == "*/15 * * * *"
    assert {task.retries for task in monitor.tasks} == {5}


def test_seeds_run_once_and_reprocess_is_manual(environment):
    dags = airflow_env.load_dags()
    assert dags["mediawatch_seeds"].schedule == "@once"
    assert dags["mediawatch_reprocess"].schedule is None
    for dag_id in ("mediawatch_seeds", "mediawatch_reprocess"):
        assert dags[dag_id].max_active_runs == 1


def test_a_broken_dag_folder_is_a_clear_error(environment, tmp_path):
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nraise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="(?s)broken.py.*RuntimeError: boom"):
        airflow_env.load_dags(tmp_path)
