"""End-to-end processing rate and memory, side by side with plain single-process extraction.

The 458 real pages of ``../shared/corpora/web-pages`` are archived into WARC files
and a crawl batch exactly as the crawler writes them, then, each in a fresh process:

- baseline: ``trafilatura.extract(body)`` on every page, one process, one after another;
- pipeline: ``processors.pipeline.process_batch`` on the same batch (WARC read,
  extraction, outlet, language, relevance, claims in the worker processes; dedup,
  bulk indexing into the local node and the processed records in the main one).

Rates are pages per second of wall time (the pipeline's includes starting its pool
and talking to Elasticsearch). The pipeline runs with the prefilter off (every page
extracted; once on one worker, once on all) and in its default configuration
(``processors.prefilter`` skips extraction for pages with no topic term). For
memory, the default pipeline runs on batches of 1x, 2x and 4x the pages (repeats under new URLs) and reports the peak RSS of the main
process and of the largest worker: flat means it does not grow with the batch.

    .venv/bin/python -m bench.process_bench [--sizes 1 2 4]

Uses a throwaway namespace and state directory on the local node (started if needed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pages(multiple: int):
    from tests.support.batches import Page, corpus_pages

    pages = corpus_pages(10_000)
    return [Page(f"{page.url}?copy={n}", page.body) for n in range(multiple) for page in pages]


def _peak_rss_mib() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_peak_rss_mib": round(own, 1), "largest_worker_peak_rss_mib": round(children, 1)}


def _cpu_seconds() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def child_baseline() -> dict:
    import trafilatura

    pages = _pages(1)
    start = time.perf_counter()
    extracted = sum(1 for page in pages if trafilatura.extract(page.body))
    seconds = time.perf_counter() - start
    return {"pages": len(pages), "extracted": extracted, "seconds": round(seconds, 2),
            "pages_per_s": round(len(pages) / seconds, 1), "main_peak_rss_mib": _peak_rss_mib()["main_peak_rss_mib"]}


def child_pipeline(multiple: int) -> dict:
    from mediawatch import es
    from mediawatch.settings import load_settings
    from mediawatch.topics import load_topic
    from processors.pipeline import process_batch
    from tests.support.batches import write_batch

    settings = load_settings()
    es.ensure_setup(settings)
    topic = load_topic(settings.topics_dir / "glas_embassy.yaml")
    batch = write_batch(settings, topic.name, _pages(multiple))
    main_cpu, workers_cpu = _cpu_seconds()
    start = time.perf_counter()
    report = process_batch(batch, topic, settings=settings)
    seconds = time.perf_counter() - start
    main_cpu, workers_cpu = (after - before for after, before in zip(_cpu_seconds(), (main_cpu, workers_cpu)))
    return {"pages": report.lines, "main_cpu_s": round(main_cpu, 1), "workers_cpu_s": round(workers_cpu, 1), "indexed": report.indexed, "not_relevant": report.not_relevant,
            "skipped": sum(report.skipped.values()), "duplicates": report.duplicates, "seconds": round(seconds, 2),
            "pages_per_s": round(report.lines / seconds, 1), "workers": _workers(), **_peak_rss_mib()}


def _workers() -> int:
    from processors.pipeline import worker_count

    return worker_count()


def _run_child(args: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.process_bench", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], help="batch sizes, in multiples of the corpus")
    parser.add_argument("--child", choices=["baseline", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--multiple", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "baseline":
        print(json.dumps(child_baseline()))
        return 0
    if args.child == "pipeline":
        print(json.dumps(child_pipeline(args.multiple)))
        return 0

    from mediawatch import es, esnode
    from mediawatch.settings import load_settings

    settings = load_settings()
    if not settings.uses_external_es:
        esnode.start(settings)
    with tempfile.TemporaryDirectory(prefix="process-bench-") as home:
        env = {**os.environ, "MEDIAWATCH_NAMESPACE": f"bench_process_{os.getpid()}", "MEDIAWATCH_HOME": home,
               "MEDIAWATCH_LOCAL_ES_HOME": str(settings.local_es_dir),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        results = {"baseline": _run_child(["--child", "baseline"], env), "pipeline": []}
        print(json.dumps(results["baseline"]), file=sys.stderr)
        try:
            # Every page extracted (prefilter off), on one worker and on all: what the second core adds.
            full = {**env, "MEDIAWATCH_PREFILTER": "0"}
            for name, run_env in (("full_extraction_one_worker", {**full, "MEDIAWATCH_PROCESS_WORKERS": "1"}),
                                  ("full_extraction", full)):
                results[name] = _run_child(["--child", "pipeline", "--multiple", "1"], run_env)
                print(json.dumps({name: results[name]}), file=sys.stderr)
            # The default configuration, on growing batches (memory).
            for multiple in args.sizes:
                run = _run_child(["--child", "pipeline", "--multiple", str(multiple)], env)
                results["pipeline"].append(run)
                print(json.dumps(run), file=sys.stderr)
        finally:
            os.environ.update({k: env[k] for k in ("MEDIAWATCH_NAMESPACE", "MEDIAWATCH_HOME", "MEDIAWATCH_LOCAL_ES_HOME")})
            es.drop_namespace(load_settings())
    baseline = results["baseline"]["pages_per_s"]
    results["speedup_vs_single_process_extract"] = round(results["pipeline"][0]["pages_per_s"] / baseline, 2)
    results["full_extraction_speedup_vs_single_process_extract"] = round(results["full_extraction"]["pages_per_s"] / baseline, 2)
    results["full_extraction_speedup_vs_one_worker"] = round(
        results["full_extraction"]["pages_per_s"] / results["full_extraction_one_worker"]["pages_per_s"], 2
    )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
