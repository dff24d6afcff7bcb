"""``mediawatch airflow ARGS``: the ``airflow`` command on mediawatch's embedded environment.

``mediawatch airflow standalone`` starts the scheduler, DAG processor, triggerer
and UI (bound to 127.0.0.1) on ``var/airflow`` for continuous monitoring.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from mediawatch import airflow_env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments for the airflow command")


def run(args: argparse.Namespace) -> int:
    env = airflow_env.activate()
    if not args.airflow_args:
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    # `airflow standalone` starts its components as `airflow ...` subprocesses: this
    # environment's scripts must come first on PATH even when it is not activated.
    scripts = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    os.execv(sys.executable, [sys.executable, "-m", "airflow", *args.airflow_args])
