"""One-shot `setup` service of docker-compose.yml. Safe to run any number of times.

1. refuses to run with the placeholder secrets of .env.example;
2. waits for Elasticsearch;
3. sets the password of ``kibana_system``, the user Kibana logs in with (Kibana
   retries until it works, so it may start before this);
4. creates the mediawatch roles, the writer and reader users, the index
   templates and aliases (``mediawatch.es.ensure_setup``, from ``MEDIAWATCH_ES_*``);
5. waits for Kibana and imports the saved objects of ``kibana/*.ndjson``
   (overwriting: a rerun after an upgrade updates the dashboards).

Exits non-zero with the reason on the first step that fails, so the services
that wait for it (``service_completed_successfully``) do not start.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from elasticsearch import ApiError, TransportError

from mediawatch import es as es_access
from mediawatch.settings import PROJECT_ROOT, ConfigError, load_settings

log = logging.getLogger("mediawatch.deploy.setup")

KIBANA_DIR = PROJECT_ROOT / "kibana"
PLACEHOLDER = "change-me"  # the prefix of every secret in .env.example
SECRETS = (
    "MEDIAWATCH_ES_ADMIN_PASSWORD",
    "MEDIAWATCH_ES_WRITER_PASSWORD",
    "MEDIAWATCH_ES_READER_PASSWORD",
    "KIBANA_SYSTEM_PASSWORD",
)


class SetupError(RuntimeError):
    """A step of the setup failed; the message says which and why."""


def _require_real_secrets() -> None:
    missing = [name for name in SECRETS if not os.environ.get(name)]
    placeholders = [name for name in SECRETS if os.environ.get(name, "").startswith(PLACEHOLDER)]
    if missing or placeholders:
        raise SetupError(
            "set real secrets in .env (see .env.example): "
            + ", ".join([f"{name} is empty" for name in missing] + [f"{name} is still a placeholder" for name in placeholders])
        )


def _wait(what: str, probe, timeout_s: float) -> None:
    """Call ``probe`` until it returns true, or fail after ``timeout_s`` with its last reason."""
    deadline = time.monotonic() + timeout_s
    reason = "no answer"
    while time.monotonic() < deadline:
        try:
            if probe():
                log.info("%s is up", what)
                return
            reason = "not ready"
        except (OSError, TransportError, ApiError, urllib.error.URLError) as exc:
            reason = f"{exc.__class__.__name__}: {exc}"
        time.sleep(3)
    raise SetupError(f"{what} did not come up within {timeout_s:.0f} s ({reason})")


def _kibana_request(url: str, path: str, *, data: bytes | None = None, content_type: str | None = None) -> dict:
    user = os.environ["MEDIAWATCH_ES_ADMIN_USER"]
    password = os.environ["MEDIAWATCH_ES_ADMIN_PASSWORD"]
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        "kbn-xsrf": "mediawatch-setup",  # Kibana refuses API writes without it
    }
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _kibana_available(url: str) -> bool:
    status = _kibana_request(url, "/api/status")
    return status.get("status", {}).get("overall", {}).get("level") == "available"


def import_saved_objects(url: str, ndjson: Path) -> int:
    """Import one NDJSON file through Kibana's saved objects API; returns the objects imported."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{ndjson.name}"\r\n'.encode(),
            b"Content-Type: application/ndjson\r\n\r\n",
            ndjson.read_bytes(),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    try:
        result = _kibana_request(
            url, "/api/saved_objects/_import?overwrite=true", data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
    except urllib.error.HTTPError as exc:
        raise SetupError(f"Kibana refused {ndjson.name}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
    if not result.get("success"):
        raise SetupError(f"Kibana could not import every object of {ndjson.name}: {json.dumps(result.get('errors'))[:1000]}")
    return int(result.get("successCount", 0))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    timeout_s = float(os.environ.get("SETUP_TIMEOUT_S") or 600)
    kibana_url = os.environ.get("KIBANA_URL") or "http://kibana:5601"
    try:
        _require_real_secrets()
        settings = load_settings()
        if not settings.uses_external_es:
            raise SetupError("MEDIAWATCH_ES_URL is not set: the setup service configures the compose cluster")
        admin = es_access.client("admin", settings)
        _wait("Elasticsearch", lambda: admin.cluster.health(wait_for_status="yellow", timeout="5s")["status"] != "red", timeout_s)
        admin.security.change_password(username="kibana_system", password=os.environ["KIBANA_SYSTEM_PASSWORD"])
        log.info("kibana_system password set")
        es_access.ensure_setup(settings)
        log.info("roles, writer and reader users, index templates and aliases are in place")
        _wait("Kibana", lambda: _kibana_available(kibana_url), timeout_s)
        for ndjson in sorted(KIBANA_DIR.glob("*.ndjson")):
            log.info("imported %d saved objects from %s", import_saved_objects(kibana_url, ndjson), ndjson.name)
    except (SetupError, ConfigError, ApiError, TransportError) as exc:
        log.error("setup failed: %s", exc)
        return 1
    log.info("setup complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
