"""``mediawatch run``: one full monitoring cycle through Airflow, on the embedded default.

Starts the local Elasticsearch node (unless ``MEDIAWATCH_ES_URL`` points at a
cluster) and sets it up, migrates the embedded Airflow database (SQLite under
``var/airflow``), runs ``mediawatch_seeds`` and then ``mediawatch_monitor``
(every topic file) with ``dag.test()``, and prints an account of the cycle:
what was crawled, which sources could not be reached, what was indexed and
alerted, and how to search and keep monitoring.
"""

from __future__ import annotations

import argparse
from mediawatch import airflow_env
from mediawatch.settings import load_settings

CYCLE_DAGS = ("mediawatch_seeds", "mediawatch_monitor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: topics, schedule and Elasticsearch come from the environment (see docs/airflow.md)."""


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    airflow_env.prepare(settings)
    from mediawatch import cycle

    account = cycle.run_cycle(settings, CYCLE_DAGS)
    print(cycle.format_account(account, settings))
    return 0 if account["ok"] else 1
