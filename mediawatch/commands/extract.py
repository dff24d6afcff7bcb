"""``mediawatch extract FILE_OR_URL... [--url URL]``: print extracted records as JSON Lines.

One line per input: the ``Article`` (without its raw HTML) after extraction, outlet and
language detection. Local files may be ``.html`` or ``.html.gz``; ``--url`` gives the URL a
local file was fetched from (for canonical-URL resolution and the outlet). Anything else is
fetched with a plain HTTP GET. An input that cannot be read, fetched or extracted gets a
message on stderr, the other inputs are still processed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

from mediawatch.records import Article
from processors.extract import ExtractionError, extract_article
from processors.language import detect_language
from processors.outlet import outlet_of

FETCH_TIMEOUT_S = 20
# Pages larger than this are refused rather than read into memory.
MAX_PAGE_BYTES = 20 * 1024 * 1024
USER_AGENT = "mediawatch-extract/0.1 (+https://github.com/mediawatch)"


class InputError(RuntimeError):
    """An input could not be read or fetched; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_URL", help="local .html/.html.gz file or http(s) URL")
    parser.add_argument("--url", help="URL the local file was fetched from (only with a single local file)")


def _read_file(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read(MAX_PAGE_BYTES + 1)
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def _fetch(url: str) -> tuple[bytes, str | None, str]:
    """Body, declared charset and final URL of a plain GET."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_PAGE_BYTES + 1)
            headers: Message = response.headers
            return body, headers.get_content_charset(), response.geturl()
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"cannot fetch {url}: {reason}") from exc


def extract_record(data: bytes, url: str, encoding: str | None = None) -> Article:
    """Extraction, outlet and language: the record ``mediawatch extract`` prints."""
    if len(data) > MAX_PAGE_BYTES:
        raise ExtractionError(f"page larger than {MAX_PAGE_BYTES} bytes")
    article = extract_article(data, url, encoding=encoding)
    try:
        article.outlet, article.outlet_name = outlet_of(article.canonical_url or url, article.outlet_name)
    except ValueError:  # a local file without --url and without a canonical link: no outlet known
        article.outlet = None
    article.language, article.language_probability = detect_language(article.text, article.declared_language)
    return article


def run(args: argparse.Namespace) -> int:
    local_inputs = [item for item in args.inputs if not item.startswith(("http://", "https://"))]
    if args.url and (len(args.inputs) != 1 or not local_inputs):
        print("mediawatch extract: --url applies to a single local file", file=sys.stderr)
        return 2
    status = 0
    for item in args.inputs:
        try:
            if item in local_inputs:
                path = Path(item)
                data, encoding, url = _read_file(path), None, args.url or path.resolve().as_uri()
            else:
                data, encoding, url = _fetch(item)
            article = extract_record(data, url, encoding)
        except (InputError, ExtractionError) as exc:
            print(f"mediawatch extract: {item}: {exc}", file=sys.stderr)
            status = 1
            continue
        record = article.to_dict()
        del record["html"]
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return status
