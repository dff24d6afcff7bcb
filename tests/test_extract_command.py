"""``mediawatch extract``: local files (.html, .html.gz) and URLs served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mediawatch.cli import main
from tests.support.localweb import LocalWeb, Reply

BENCHMARK = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "extraction-benchmark"
WSJ_ID = "042bb7b5fedab6eac7db576522b89b93904c237d344bcbe14a6a5ab7f7335856"
WSJ_URL = "https://www.wsj.com/articles/google-stadia-microsoft-xcloud-apple-arcade-so-many-ways-to-playand-pay-11574168580"
WSJ_GZ = BENCHMARK / "html" / f"{WSJ_ID}.html.gz"
LATIN1_PAGE = ("<html lang='es'><head><title>Embajada</title></head><body><article>"
               + "<p>La policía irrumpió en la embajada de México en Quito y detuvo a Jorge Glas.</p>" * 12
               + "</article></body></html>").encode("cp1252")


@pytest.fixture(scope="module")
def web():
    server = LocalWeb().start()
    server.add_reply("/wsj.html", Reply(200, gzip.decompress(WSJ_GZ.read_bytes()), {"Content-Type": "text/html"}))
    server.add_reply("/latin1.html", Reply(200, LATIN1_PAGE, {"Content-Type": "text/html; charset=windows-1252"}))
    server.add_reply("/gone.html", Reply(404, b"not here", {"Content-Type": "text/html"}))
    server.add_reply("/image.png", Reply(200, b"\x89PNG\r\n\x1a\n" + bytes(64), {"Content-Type": "text/html"}))
    yield server
    server.stop()


def _records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_local_gzip_file_with_url(capsys):
    assert main(["extract", str(WSJ_GZ), "--url", "https://www-wsj-com.cdn.ampproject.org/c/s/www.wsj.com/amp/x"]) == 0
    [record] = _records(capsys)
    assert "html" not in record
    assert record["canonical_url"] == WSJ_URL
    assert record["outlet"] == "wsj.com" and record["outlet_name"] == "Wall Street Journal"
    assert record["language"] == "en" and record["language_probability"] > 0.9
    assert record["title"].startswith("Google Stadia")
    assert record["text"].count("Gaming used to be so simple") == 1


def test_local_plain_html_file_without_url(tmp_path, capsys):
    page = tmp_path / "page.html"
    page.write_bytes(LATIN1_PAGE)
    assert main(["extract", str(page)]) == 0
    [record] = _records(capsys)
    assert record["url"] == page.resolve().as_uri()
    assert record["outlet"] is None  # no host and no canonical link: the outlet is unknown
    assert "La policía irrumpió en la embajada" in record["text"]
    assert record["declared_language"] == "es"


def test_urls_over_http_one_line_each(web, capsys):
    assert main(["extract", web.url("/wsj.html"), web.url("/latin1.html")]) == 0
    first, second = _records(capsys)
    assert first["url"] == web.url("/wsj.html") and first["canonical_url"] == WSJ_URL
    assert second["canonical_url"] == web.url("/latin1.html")
    assert second["outlet"] == web.base_url.removeprefix("http://")
    assert "La policía irrumpió" in second["text"] and second["language"] == "es"


def test_failures_are_reported_and_the_rest_still_printed(web, tmp_path, capsys):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    status = main(["extract", web.url("/gone.html"), web.url("/image.png"), str(empty),
                   str(tmp_path / "missing.html"), web.url("/latin1.html")])
    captured = capsys.readouterr()
    assert status == 1
    assert len(captured.out.splitlines()) == 1
    assert "HTTP 404" in captured.err
    assert "binary content (png)" in captured.err
    assert "empty page" in captured.err
    assert "cannot read" in captured.err and "missing.html" in captured.err


def test_url_option_needs_a_single_local_file(web, capsys):
    assert main(["extract", web.url("/wsj.html"), "--url", WSJ_URL]) == 2
    assert "--url applies to a single local file" in capsys.readouterr().err


def test_dead_host_gives_a_message_and_no_traceback():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/x.html"
    result = subprocess.run([sys.executable, "-m", "mediawatch.cli", "extract", dead_url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot fetch" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
