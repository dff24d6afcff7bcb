"""The local node: security on, users limited to their role, clear errors on start."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from base64 import b64encode

import pytest

from mediawatch import es, esnode
from mediawatch.settings import load_settings


def _status(settings, method: str, path: str, auth: tuple[str, str] | None, body: bytes | None = None) -> int:
    request = urllib.request.Request(f"{es.es_url(settings)}{path}", data=body, method=method)
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_anonymous_request_rejected(settings):
    assert _status(settings, "GET", f"/{settings.index_name('articles')}/_search", None) == 401


def test_reader_reads_but_cannot_write(settings):
    reader = es.credentials_for(settings, "reader")
    alias = settings.index_name("articles")
    assert _status(settings, "GET", f"/{alias}/_search", reader) == 200
    assert _status(settings, "PUT", f"/{alias}/_doc/x", reader, b'{"id": "x"}') == 403


def test_writer_writes_only_mediawatch_indices(settings):
    writer = es.credentials_for(settings, "writer")
    alias = settings.index_name("articles")
    assert _status(settings, "PUT", f"/{alias}/_doc/x?refresh=true", writer, b'{"id": "x"}') in (200, 201)
    assert _status(settings, "DELETE", f"/{alias}/_doc/x", writer) == 200
    assert _status(settings, "PUT", "/other-index/_doc/x", writer, b'{"id": "x"}') == 403
    assert _status(settings, "PUT", "/other-index", writer) == 403


def test_wrong_password_rejected(settings):
    assert _status(settings, "GET", "/_cluster/health", ("mediawatch_writer", "wrong")) == 401


def test_second_start_reuses_running_node(es_node):
    settings = load_settings()
    info = esnode.start(settings)
    assert info.reused and info.pid == esnode.status(settings)["pid"]


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """Settings for a node that does not exist yet, in its own directory."""
    monkeypatch.setenv("MEDIAWATCH_HOME", str(tmp_path))
    monkeypatch.delenv("MEDIAWATCH_LOCAL_ES_HOME", raising=False)
    return monkeypatch


def test_start_on_port_in_use_fails_clearly(fresh_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        fresh_home.setenv("MEDIAWATCH_LOCAL_ES_PORT", str(busy.getsockname()[1]))
        with pytest.raises(esnode.EsNodeError, match=r"port \d+ on 127.0.0.1 is already in use"):
            esnode.start(load_settings())


def test_start_with_missing_jdk_fails_clearly(fresh_home):
    fresh_home.setenv("ES_JAVA_HOME", "/nonexistent/jdk")
    with pytest.raises(esnode.EsNodeError, match="ES_JAVA_HOME=/nonexistent/jdk has no bin/java"):
        esnode.start(load_settings())


def test_start_with_no_jdk_installed_fails_clearly(fresh_home, tmp_path):
    fresh_home.delenv("ES_JAVA_HOME", raising=False)
    fresh_home.setattr(esnode, "JVM_ROOT", tmp_path / "no-jvms")
    with pytest.raises(esnode.EsNodeError, match=r"no Java 17\+ runtime found"):
        esnode.start(load_settings())


def test_command_reports_node_errors_without_traceback(fresh_home, capsys):
    from mediawatch.cli import main

    fresh_home.setenv("ES_JAVA_HOME", "/nonexistent/jdk")
    assert main(["es", "start"]) == 1
    err = capsys.readouterr().err
    assert "has no bin/java" in err and "Traceback" not in err
