"""Elasticsearch access: clients per role, security setup, index templates and aliases.

Three roles talk to Elasticsearch:

- ``admin`` (the ``elastic`` superuser of the local node, or
  ``MEDIAWATCH_ES_ADMIN_USER``): only ``ensure_setup`` uses it, to create roles,
  users and index templates;
- ``writer``: the pipeline; may write only ``mediawatch-*`` indices;
- ``reader``: analysts, the search command and dashboards; read-only.

Each index family (``articles``, ``alerts``) is an alias in front of a versioned
index ``<alias>-v<N>``, where N is the ``version`` of its template file in
``index_mappings/``; a mapping change rolls out by building the next version and
switching the alias (see ``switch_alias``).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Literal

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from mediawatch import esnode
from mediawatch.security import ROLE_OF_USER_KIND, ROLES
from mediawatch.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

Role = Literal["admin", "writer", "reader"]
INDEX_KINDS = ("articles", "alerts")
MAPPINGS_DIR = PROJECT_ROOT / "index_mappings"


@lru_cache(maxsize=None)
def template_body(kind: str) -> dict:
    """The template file of an index family, without its comment."""
    body = json.loads((MAPPINGS_DIR / f"{kind}.json").read_text(encoding="utf-8"))
    body.pop("_comment", None)
    return body


def versioned_index(settings: Settings, kind: str, version: int | None = None) -> str:
    return f"{settings.index_name(kind)}-v{version or template_body(kind)['version']}"


def credentials_for(settings: Settings, role: Role) -> tuple[str, str]:
    if settings.uses_external_es:
        user, password = {
            "admin": (settings.es_admin_user, settings.es_admin_password),
            "writer": (settings.es_writer_user, settings.es_writer_password),
            "reader": (settings.es_reader_user, settings.es_reader_password),
        }[role]
        if not user or not password:
            upper = role.upper()
            raise ConfigError(
                f"MEDIAWATCH_ES_URL is set but MEDIAWATCH_ES_{upper}_USER / MEDIAWATCH_ES_{upper}_PASSWORD are not"
            )
        return user, password
    creds = esnode.credentials(settings)
    if role == "admin":
        return "elastic", creds["elastic"]
    return creds[role]["username"], creds[role]["password"]


def es_url(settings: Settings) -> str:
    return settings.es_url if settings.uses_external_es else esnode.url(settings)


def client(role: Role = "writer", settings: Settings | None = None, **kwargs) -> Elasticsearch:
    settings = settings or load_settings()
    options = {"request_timeout": 30, "retry_on_timeout": True, "max_retries": 2, **kwargs}
    return Elasticsearch(es_url(settings), basic_auth=credentials_for(settings, role), **options)


# --- setup ---------------------------------------------------------------------------


def _ensure_security(admin: Elasticsearch, settings: Settings) -> None:
    """Roles and users through the security API (full clusters; the local node uses files)."""
    for name, body in ROLES.items():
        admin.security.put_role(name=name, **body)
    for kind, role in ROLE_OF_USER_KIND.items():
        username, password = credentials_for(settings, kind)
        admin.security.put_user(username=username, password=password, roles=[role], full_name=f"mediawatch {kind}")


def _ensure_templates(admin: Elasticsearch, settings: Settings) -> None:
    for kind in INDEX_KINDS:
        alias = settings.index_name(kind)
        body = template_body(kind)
        admin.indices.put_index_template(
            name=alias,
            index_patterns=[f"{alias}-v*"],
            # Namespaced patterns overlap the default one; a higher priority makes them win.
            priority=200 if settings.namespace else 100,
            template=body["template"],
            version=body["version"],
            meta={"managed_by": "mediawatch", "kind": kind},
        )


def ensure_alias(es: Elasticsearch, settings: Settings, kind: str) -> str:
    """Create the current versioned index behind the alias if the alias does not exist yet."""
    alias = settings.index_name(kind)
    if es.indices.exists_alias(name=alias):
        return alias
    index = versioned_index(settings, kind)
    try:
        es.indices.create(index=index, aliases={alias: {"is_write_index": True}})
    except ApiError as exc:
        if exc.error != "resource_already_exists_exception":
            raise
        es.indices.put_alias(index=index, name=alias, is_write_index=True)
    return alias


def ensure_setup(settings: Settings | None = None) -> None:
    """Roles, users, templates and aliases. Safe to run any number of times.

    On the local node, roles and users are files written by ``esnode.start``; on an
    external cluster they are created here with ``MEDIAWATCH_ES_ADMIN_*`` credentials
    and the writer and reader passwords from the environment.
    """
    settings = settings or load_settings()
    admin = client("admin", settings)
    if settings.uses_external_es:
        _ensure_security(admin, settings)
    _ensure_templates(admin, settings)
    for kind in INDEX_KINDS:
        ensure_alias(admin, settings, kind)


def switch_alias(es: Elasticsearch, settings: Settings, kind: str, new_index: str) -> list[str]:
    """Point the alias at ``new_index`` atomically; returns the indices it left."""
    alias = settings.index_name(kind)
    try:
        old = list(es.indices.get_alias(name=alias))
    except NotFoundError:
        old = []
    actions = [{"remove": {"index": index, "alias": alias}} for index in old if index != new_index]
    actions.append({"add": {"index": new_index, "alias": alias, "is_write_index": True}})
    es.indices.update_aliases(actions=actions)
    return [index for index in old if index != new_index]


def drop_namespace(settings: Settings) -> None:
    """Delete every index and template of a namespace (tests and demos clean up with this)."""
    if not settings.namespace:
        raise ConfigError("refusing to drop the default namespace")
    admin = client("admin", settings)
    for kind in INDEX_KINDS:
        alias = settings.index_name(kind)
        indices = list(admin.indices.get(index=f"{alias}-v*", expand_wildcards="all"))
        if indices:
            admin.indices.delete(index=",".join(indices))
        try:
            admin.indices.delete_index_template(name=alias)
        except NotFoundError:
            pass

