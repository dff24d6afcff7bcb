"""Runtime configuration, read from environment variables.

Everything that differs between machines or deployments (Elasticsearch URL and
credentials, where state lives, the namespace that keeps tests and demos apart)
comes from the environment; topics, claims and sources are data files under
``topics/``. Nothing secret is ever written into the repository: the local
node's generated passwords live under the state directory (``var/`` by default,
git-ignored).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mediawatch.errors import OperationalError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class ConfigError(OperationalError):
    """A configuration value is missing or malformed; the message says which."""


@dataclass(frozen=True)
class Settings:
    home: Path
    namespace: str
    topics_dir: Path
    es_url: str | None
    es_writer_user: str | None
    es_writer_password: str | None
    es_reader_user: str | None
    es_reader_password: str | None
    es_admin_user: str | None
    es_admin_password: str | None
    local_es_port: int
    local_es_home: Path | None
    local_es_version: str
    local_es_heap: str
    # True when the URL of an external cluster is configured; otherwise the project
    # starts and uses its own local node.
    @property
    def uses_external_es(self) -> bool:
        return bool(self.es_url)

    @property
    def state_dir(self) -> Path:
        """Per-namespace state: crawl state, WARC archive, batches, spool, LSH index."""
        return self.home / "state" / (self.namespace or "default")

    @property
    def local_es_dir(self) -> Path:
        """The embedded node. One node serves every namespace (indices are what namespaces
        separate), so tests that give each module its own MEDIAWATCH_HOME point
        MEDIAWATCH_LOCAL_ES_HOME at the shared node."""
        return self.local_es_home or self.home / "elasticsearch"

    def index_name(self, kind: str) -> str:
        """Alias name for an index family (``articles``, ``alerts``).

        The namespace goes after the ``mediawatch-`` prefix so that the writer
        role, which may only write ``mediawatch-*``, covers every namespace.
        """
        if self.namespace:
            return f"mediawatch-{self.namespace}-{kind}"
        return f"mediawatch-{kind}"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def load_settings() -> Settings:
    namespace = (_env("MEDIAWATCH_NAMESPACE") or "").lower()
    if namespace and not _NAMESPACE_RE.match(namespace):
        raise ConfigError(
            f"MEDIAWATCH_NAMESPACE={namespace!r} is invalid: use lowercase letters, digits and '_'"
        )
    port_text = _env("MEDIAWATCH_LOCAL_ES_PORT") or "9250"
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"MEDIAWATCH_LOCAL_ES_PORT={port_text!r} is not a port number") from exc
    return Settings(
        home=Path(_env("MEDIAWATCH_HOME") or PROJECT_ROOT / "var").resolve(),
        namespace=namespace,
        topics_dir=Path(_env("MEDIAWATCH_TOPICS_DIR") or PROJECT_ROOT / "topics").resolve(),
        es_url=_env("MEDIAWATCH_ES_URL"),
        es_writer_user=_env("MEDIAWATCH_ES_WRITER_USER"),
        es_writer_password=_env("MEDIAWATCH_ES_WRITER_PASSWORD"),
        es_reader_user=_env("MEDIAWATCH_ES_READER_USER"),
        es_reader_password=_env("MEDIAWATCH_ES_READER_PASSWORD"),
        es_admin_user=_env("MEDIAWATCH_ES_ADMIN_USER"),
        es_admin_password=_env("MEDIAWATCH_ES_ADMIN_PASSWORD"),
        local_es_port=port,
        local_es_home=Path(_env("MEDIAWATCH_LOCAL_ES_HOME")).resolve() if _env("MEDIAWATCH_LOCAL_ES_HOME") else None,
        local_es_version=_env("MEDIAWATCH_LOCAL_ES_VERSION") or "8.19.21",
        local_es_heap=_env("MEDIAWATCH_LOCAL_ES_HEAP") or "512m",
    )
