"""Scoring over a corpus on every core, safely inside a busy process.

The scorers run inside pytest, next to Airflow and Scrapy code that installs
signal handlers and starts threads. Forked workers would inherit those (a worker
that ignores SIGTERM hangs ``Pool.terminate``; a lock held by another thread at
fork time deadlocks it), so workers come from a clean forkserver process and the
pool is closed and joined, never terminated.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def parallel_map(function: Callable[[J], R], jobs: Sequence[J], workers: int | None = None, chunksize: int = 1) -> list[R]:
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        return [function(job) for job in jobs]
    pool = multiprocessing.get_context("forkserver").Pool(workers)
    try:
        return pool.map(function, jobs, chunksize=chunksize)
    finally:
        pool.close()
        pool.join()
