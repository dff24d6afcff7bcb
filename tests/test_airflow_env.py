"""The embedded Airflow environment and where tasks get Elasticsearch details from."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from mediawatch import airflow_env
from mediawatch.settings import ConfigError, load_settings


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    # One Airflow home per pytest session: Airflow binds to it when first imported.
    return airflow_env.prepare(home=tmp_path_factory.getbasetemp() / "airflow")


def test_embedded_environment_is_self_contained(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIAWATCH_HOME", str(tmp_path))
    env = airflow_env.embedded_environment(load_settings())
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path}/airflow/airflow.db"
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) == airflow_env.DAGS_FOLDER
    assert (airflow_env.DAGS_FOLDER / "mediawatch_monitor.py").exists()
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"


def test_values_already_set_win(environment, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airflow@db/airflow")
    effective = airflow_env.activate()
    assert effective["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path)
    assert effective["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://airflow@db/airflow"
    assert effective["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_refuses_a_second_home_once_airflow_is_imported(environment, tmp_path, monkeypatch):
    import airflow  # noqa: F401  (bound to the session home by the fixture)

    for name in environment:
        monkeypatch.setenv(name, environment[name])
    with pytest.raises(ConfigError, match="already imported|was imported"):
        airflow_env.activate(home=tmp_path / "elsewhere")
    assert airflow_env.os.environ["AIRFLOW_HOME"] == environment["AIRFLOW_HOME"]


def test_migrate_runs_once_per_home(tmp_path):
    env = airflow_env.embedded_environment(load_settings(), home=tmp_path / "airflow")
    Path(env["AIRFLOW_HOME"]).mkdir()
    assert airflow_env.migrate_db(env) is True
    assert (tmp_path / "airflow" / "airflow.db").stat().st_size > 0
    assert airflow_env.migrate_db(env) is False


def test_connection_overrides_environment(environment, monkeypatch):
    from airflow.sdk import Connection

    monkeypatch.setenv("MEDIAWATCH_ES_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MEDIAWATCH_ES_READER_USER", "env-reader")
    monkeypatch.setenv("MEDIAWATCH_ES_READER_PASSWORD", "env-reader-pw")
    connection = Connection(
        conn_id="mediawatch_es", conn_type="elasticsearch", host="es.example.org", port=9243,
        login="writer", password="writer-pw",
        extra=json.dumps({"scheme": "https", "admin_user": "admin", "admin_password": "admin-pw"}),
    )
    settings = airflow_env.settings_with_connection(load_settings(), connection)
    assert settings.es_url == "https://es.example.org:9243"
    assert (settings.es_writer_user, settings.es_writer_password) == ("writer", "writer-pw")
    assert (settings.es_admin_user, settings.es_admin_password) == ("admin", "admin-pw")
    # What the connection does not say still comes from the environment.
    assert (settings.es_reader_user, settings.es_reader_password) == ("env-reader", "env-reader-pw")


def test_connection_with_a_full_url_and_without_host():
    from airflow.sdk import Connection

    with_url = Connection(conn_id="mediawatch_es", conn_type="elasticsearch", host="https://es.example.org:9200/")
    assert airflow_env.settings_with_connection(load_settings(), with_url).es_url == "https://es.example.org:9200"
    with pytest.raises(ConfigError, match="no host"):
        airflow_env.settings_with_connection(load_settings(), Connection(conn_id="mediawatch_es", conn_type="elasticsearch"))


PROBE_DAG = """
import json, os
from airflow.sdk import dag, task
from mediawatch.airflow_env import task_settings

@task
def record_settings():
    settings = task_settings()
    with open(os.environ["PROBE_OUT"], "w") as out:
        json.dump({"es_url": settings.es_url, "writer": settings.es_writer_user}, out)

@dag(dag_id="mediawatch_probe_task_settings", schedule=None)
def probe():
    record_settings()

probe()
"""


def _settings_seen_by_a_task(tmp_path: Path, monkeypatch) -> dict:
    """Run a one-task DAG through dag.test(); the task records what task_settings() gave it.

    dag.test() runs only DAGs of a configured bundle, so the probe gets its own.
    """
    from airflow.dag_processing.dagbag import DagBag

    probe_dir = tmp_path / "probe_dags"
    probe_dir.mkdir(exist_ok=True)
    (probe_dir / "probe.py").write_text(PROBE_DAG)
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": "mediawatch-probe", "classpath": local, "kwargs": {"path": str(probe_dir)}},
    ]))
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "seen.json"))
    probe = DagBag(dag_folder=str(probe_dir)).dags["mediawatch_probe_task_settings"]
    assert str(probe.test().state) == "success"
    return json.loads((tmp_path / "seen.json").read_text())


def test_task_settings_inside_a_running_task(environment, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIAWATCH_ES_URL", "http://env-es:9200")
    monkeypatch.setenv("MEDIAWATCH_ES_WRITER_USER", "env-writer")
    monkeypatch.delenv("AIRFLOW_CONN_MEDIAWATCH_ES", raising=False)
    assert _settings_seen_by_a_task(tmp_path, monkeypatch) == {"es_url": "http://env-es:9200", "writer": "env-writer"}

    monkeypatch.setenv(
        "AIRFLOW_CONN_MEDIAWATCH_ES",
        json.dumps({"conn_type": "elasticsearch", "host": "conn-es", "port": 9201, "login": "conn-writer", "password": "x"}),
    )
    assert _settings_seen_by_a_task(tmp_path, monkeypatch) == {"es_url": "http://conn-es:9201", "writer": "conn-writer"}


def test_default_task_args(monkeypatch):
    args = airflow_env.default_task_args()
    assert args["retries"] >= 1 and args["retry_exponential_backoff"] > 1
    assert args["retry_delay"] < args["max_retry_delay"]
    assert args["execution_timeout"] < timedelta(hours=1)
    monkeypatch.setenv("MEDIAWATCH_TASK_RETRIES", "0")
    monkeypatch.setenv("MEDIAWATCH_TASK_RETRY_DELAY_S", "5")
    args = airflow_env.default_task_args()
    assert (args["retries"], args["retry_delay"]) == (0, timedelta(seconds=5))
    monkeypatch.setenv("MEDIAWATCH_TASK_RETRIES", "three")
    with pytest.raises(ConfigError, match="MEDIAWATCH_TASK_RETRIES"):
        airflow_env.default_task_args()


def test_topic_files_and_group_ids(tmp_path, monkeypatch):
    for name in ("b topic.yaml", "a.yaml", "notes.txt"):
        (tmp_path / name).write_text("name: x\n")
    monkeypatch.setenv("MEDIAWATCH_TOPICS_DIR", str(tmp_path))
    files = airflow_env.topic_files()
    assert [f.name for f in files] == ["a.yaml", "b topic.yaml"]
    assert [airflow_env.task_group_id(f) for f in files] == ["a", "b_topic"]
    monkeypatch.delenv("MEDIAWATCH_TOPICS_DIR")
    assert "glas_embassy.yaml" in [f.name for f in airflow_env.topic_files()]
