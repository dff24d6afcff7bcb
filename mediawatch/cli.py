"""The ``mediawatch`` console command.

Each subcommand lives in ``mediawatch/commands/<name>.py`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``; it is imported only when
invoked, so ``mediawatch search`` does not pay for Scrapy or Airflow imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mediawatch.errors import OperationalError
from mediawatch.settings import ConfigError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "es": ("mediawatch.commands.es", "start, stop or inspect the local Elasticsearch node"),
    "setup": ("mediawatch.commands.setup", "create users, index templates and aliases (idempotent)"),
    "seeds": ("mediawatch.commands.seeds", "index the seed documents"),
    "search": ("mediawatch.commands.search", "search indexed coverage"),
    "crawl": ("mediawatch.commands.crawl", "discover and fetch new coverage of a topic (Scrapy, own process)"),
    "extract": ("mediawatch.commands.extract", "print the extracted record of pages (files or URLs) as JSON Lines"),
    "process": ("mediawatch.commands.process", "process a crawl batch: extract, assess, deduplicate, tag claims, index, alert"),
    "alerts": ("mediawatch.commands.alerts", "list alerts (an outlet carrying a claim for the first time)"),
    "reprocess": ("mediawatch.commands.reprocess", "re-extract the WARC archive into a new index, then switch the alias"),
    "serve": ("mediawatch.commands.serve", "serve the analyst page (search, facets, alerts) on 127.0.0.1"),
    "run": ("mediawatch.commands.run", "one full monitoring cycle through Airflow (seeds, crawl, index, alerts)"),
    "airflow": ("mediawatch.commands.airflow", "the airflow command on the embedded environment (e.g. `standalone`)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediawatch", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse only the command name first; the command's own parser handles the rest.
    top, rest = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if top.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not top.verbose:
        # One INFO line per HTTP request drowns what the command itself says.
        logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    module_name, help_text = COMMANDS[top.command]
    module = importlib.import_module(module_name)
    command_parser = argparse.ArgumentParser(prog=f"mediawatch {top.command}", description=help_text)
    module.add_arguments(command_parser)
    args = command_parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except Exception as exc:
        message = _user_message(exc)
        if message is None:
            raise
        print(f"mediawatch {top.command}: {message}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


def _user_message(exc: Exception) -> str | None:
    """One line for the failures users must act on (a traceback only for bugs)."""
    if isinstance(exc, ConfigError):
        return f"configuration error: {exc}"
    if isinstance(exc, OperationalError):
        return str(exc)
    # The client is imported only by commands that talk to Elasticsearch.
    client = sys.modules.get("elasticsearch")
    if client is not None and isinstance(exc, (client.ApiError, client.TransportError)):
        return f"Elasticsearch error: {exc}"
    return None

if __name__ == "__main__":
    sys.exit(main())
