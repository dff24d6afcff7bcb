"""The embedded default Airflow environment, and Elasticsearch settings for tasks.

mediawatch runs its DAGs on a self-contained Airflow by default: ``AIRFLOW_HOME``
under ``<MEDIAWATCH_HOME>/airflow`` (``var/airflow``, git-ignored), a SQLite
metadata database there, the repository's ``dags/`` folder, no example DAGs, and
the UI/API bound to 127.0.0.1. Every value is only a default: a variable already
set in the environment (a deployment's Postgres URL, its own dags folder) wins.

Airflow reads ``AIRFLOW_HOME`` and the database URL when it is first imported,
so :func:`activate` must run before anything imports ``airflow``.

Tasks get their Elasticsearch details from the Airflow connection
``mediawatch_es`` when one is defined (UI, ``AIRFLOW_CONN_MEDIAWATCH_ES``, a
secrets backend), otherwise from the ``MEDIAWATCH_ES_*`` environment variables
(or the local node when none is set). DAG files never carry them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mediawatch.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

ES_CONNECTION_ID = "mediawatch_es"
DAGS_FOLDER = PROJECT_ROOT / "dags"


def embedded_environment(settings: Settings, home: Path | None = None) -> dict[str, str]:
    """Environment variables of the embedded default (before user overrides).

    ``home``: the Airflow home, ``<MEDIAWATCH_HOME>/airflow`` unless given (tests).
    """
    home = home or settings.home / "airflow"
    api_port = os.environ.get("AIRFLOW__API__PORT") or "8080"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Tasks run as subprocesses of the scheduler on this machine (`airflow standalone`).
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Monitoring starts when the scheduler does; nothing to unpause by hand.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # The UI/API of `airflow standalone` listens on loopback only, and task
        # processes reach its execution API there (not via "localhost", which may be ::1).
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
    }


def activate(settings: Settings | None = None, home: Path | None = None) -> dict[str, str]:
    """Put the embedded defaults into ``os.environ`` (existing values win).

    An explicit ``home`` (tests) replaces those variables instead. Returns the
    effective Airflow environment. Refuses when ``airflow`` was
    already imported with another home: it would silently use the wrong database.
    """
    settings = settings or load_settings()
    embedded = embedded_environment(settings, home)
    # An explicit home (tests) is a whole environment; otherwise set values win.
    effective = embedded if home is not None else {name: os.environ.get(name) or value for name, value in embedded.items()}
    if "airflow" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        if Path(AIRFLOW_HOME).resolve() != Path(effective["AIRFLOW_HOME"]).resolve():
            raise ConfigError(
                f"airflow was imported with AIRFLOW_HOME={AIRFLOW_HOME} before the mediawatch "
                f"environment ({effective['AIRFLOW_HOME']}) was activated"
            )
    os.environ.update(effective)
    Path(effective["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return effective


def migrate_db(environment: dict[str, str]) -> bool:
    """Run ``airflow db migrate`` unless this Airflow version already migrated this home.

    Returns True when a migration ran. A separate process keeps this process's
    ORM untouched and shows Airflow's own error if the database is unusable.
    """
    from importlib.metadata import version

    airflow_version = version("apache-airflow-core")
    stamp = Path(environment["AIRFLOW_HOME"]) / f".mediawatch-migrated-{airflow_version}"
    database = environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    sqlite_file = Path(database.removeprefix("sqlite:///")) if database.startswith("sqlite:///") else None
    if stamp.exists() and (sqlite_file is None or sqlite_file.exists()):
        return False
    log.info("migrating the Airflow metadata database (%s)", database)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ConfigError(f"`airflow db migrate` failed ({database}):\n{result.stderr[-2000:]}")
    stamp.touch()
    return True


def prepare(settings: Settings | None = None, home: Path | None = None) -> dict[str, str]:
    """:func:`activate`, then :func:`migrate_db`: ready for ``dag.test()`` in this process."""
    environment = activate(settings, home)
    migrate_db(environment)
    return environment


def settings_with_connection(settings: Settings, connection: Any) -> Settings:
    """Overlay an Airflow connection's details on the environment's settings.

    host (with ``extra.scheme``/``schema`` or a full URL in host), port, login and
    password (the writer user); ``extra`` may add ``reader_user``,
    ``reader_password``, ``admin_user`` and ``admin_password``.
    """
    extra = connection.extra_dejson
    host = connection.host or ""
    if not host:
        raise ConfigError(f"Airflow connection {ES_CONNECTION_ID!r} has no host")
    if "://" in host:
        url = host.rstrip("/")
    else:
        scheme = extra.get("scheme") or connection.schema or "http"
        url = f"{scheme}://{host}" + (f":{connection.port}" if connection.port else "")
    overrides = {
        "es_url": url,
        "es_writer_user": connection.login or settings.es_writer_user,
        "es_writer_password": connection.password or settings.es_writer_password,
    }
    for role in ("reader", "admin"):
        for part in ("user", "password"):
            if extra.get(f"{role}_{part}"):
                overrides[f"es_{role}_{part}"] = extra[f"{role}_{part}"]
    return dataclasses.replace(settings, **overrides)


def task_settings() -> Settings:
    """Settings inside a running Airflow task: the environment, plus ``mediawatch_es``."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    settings = load_settings()
    try:
        connection = Connection.get(ES_CONNECTION_ID)
    except AirflowNotFoundException:
        return settings
    log.info("Elasticsearch details from Airflow connection %r", ES_CONNECTION_ID)
    return settings_with_connection(settings, connection)


# --- what the DAG files read when they are parsed (environment only, no I/O) --------


def monitor_schedule() -> str:
    """Cron expression or preset of ``mediawatch_monitor`` (``MEDIAWATCH_MONITOR_SCHEDULE``)."""
    return os.environ.get("MEDIAWATCH_MONITOR_SCHEDULE") or "@hourly"


def default_task_args() -> dict[str, Any]:
    """Retries with exponential backoff, and a timeout so a hung task cannot block the schedule.

    ``MEDIAWATCH_TASK_RETRIES`` (default 3), ``MEDIAWATCH_TASK_RETRY_DELAY_S``
    (first delay, default 120 s, doubling up to an hour) and
    ``MEDIAWATCH_TASK_TIMEOUT_MIN`` (default 50 minutes, under the hourly period).
    """

    def number(name: str, default: int) -> int:
        text = os.environ.get(name) or str(default)
        try:
            return int(text)
        except ValueError as exc:
            raise ConfigError(f"{name}={text!r} is not a whole number") from exc

    return {
        "owner": "mediawatch",
        "retries": number("MEDIAWATCH_TASK_RETRIES", 3),
        "retry_delay": timedelta(seconds=number("MEDIAWATCH_TASK_RETRY_DELAY_S", 120)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(minutes=number("MEDIAWATCH_TASK_TIMEOUT_MIN", 50)),
    }


def dag_defaults(doc: str | None) -> dict[str, Any]:
    """What every mediawatch DAG shares: no catch-up, one active run, retries, docs."""
    return {
        "start_date": datetime(2024, 4, 1, tzinfo=timezone.utc),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_task_args(),
        "tags": ["mediawatch"],
        "doc_md": doc,
    }


def topic_files() -> list[Path]:
    """The topic files to monitor: ``*.yaml`` in ``MEDIAWATCH_TOPICS_DIR`` (default ``topics/``).

    Only the directory listing: the files are read by the tasks, not at parse time.
    """
    return sorted(load_settings().topics_dir.glob("*.yaml"))


def task_group_id(topic_file: Path) -> str:
    """A task group id from a topic file name (Airflow allows letters, digits, ``-_.``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", topic_file.stem)


def load_dags(dags_folder: Path | None = None) -> dict[str, Any]:
    """Parse the DAG files (after :func:`activate`); any import error is a ConfigError."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or DAGS_FOLDER))
    if bag.import_errors:
        details = "\n".join(f"{path}: {error}" for path, error in bag.import_errors.items())
        raise ConfigError(f"DAG files failed to import:\n{details}")
    return dict(bag.dags)
