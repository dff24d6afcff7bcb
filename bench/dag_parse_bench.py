"""Parse time per DAG file in dags/ (target: under 0.5 s each).

For each file, a fresh process activates the embedded Airflow environment,
imports ``airflow.sdk`` and the DagBag (as Airflow's DAG processor has them
loaded already), then times ``DagBag(dag_folder=<file>)``: the first parse
(cold: pays for whatever the file imports) and the median of further parses.
It also lists the heavy modules (Scrapy, Trafilatura, Elasticsearch, the
processors) that parsing pulled in; there must be none.

    .venv/bin/python bench/dag_parse_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scrapy", "twisted", "trafilatura", "lxml", "elasticsearch", "langdetect", "datasketch", "warcio",
         "crawlers", "processors", "mediawatch.tasks", "mediawatch.topics", "yaml")

CHILD = r"""
import json, sys, time
from pathlib import Path
from mediawatch.airflow_env import activate
activate(home=Path(sys.argv[2]))
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
heavy = json.loads(sys.argv[4])
before = {m for m in heavy if m in sys.modules}
times = []
for _ in range(int(sys.argv[3])):
    began = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    times.append(time.perf_counter() - began)
    assert not bag.import_errors, bag.import_errors
pulled = sorted(m for m in heavy if m in sys.modules and m not in before)
print(json.dumps({"times": times, "dags": bag.dag_ids, "warnings": sum(map(len, bag.captured_warnings.values())), "pulled": pulled}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as home:
        for dag_file in sorted((ROOT / "dags").glob("*.py")):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(dag_file), home, str(args.repeat), json.dumps(HEAVY)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            ).stdout.strip().splitlines()[-1]
            result = json.loads(out)
            times = result["times"]
            rows.append((dag_file.name, times[0], statistics.median(times[1:] or times), result))
    print(f"{'file':28} {'first parse s':>14} {'median s':>10}  dags / warnings / heavy modules pulled")
    for name, first, median, result in rows:
        print(f"{name:28} {first:14.4f} {median:10.4f}  {','.join(result['dags'])} / {result['warnings']} / {result['pulled'] or 'none'}")
    worst = max(first for _, first, _, _ in rows)
    print(f"slowest first parse: {worst:.4f} s (target < 0.5 s)")
    return 0 if worst < 0.5 and not any(r["pulled"] for *_, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
