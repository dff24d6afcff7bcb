"""Elasticsearch access: clients per role, security setup, index templates and aliases.

Three roles talk to Elasticsearch:

- ``admin`` (the ``elastic`` superuser of the local node, or
  ``MEDIAWATCH_ES_ADMIN_USER``): only ``ensure_setup`` uses it, to create roles,
  users and index templates;
- ``writer``: the pipeline; may write only ``mediawatch-*`` indices;
- ``reader``: analysts, the search command and dashboards; read-only.

Each index family (``articles``, ``alerts``) is an alias in front of a versioned
index ``<alias>-v<N>``, where N is the ``version`` of its template file in
``index_mappings/``. ``ensure_setup`` brings the live indices behind the aliases up to
their template's mapping (new fields and sub-fields); a change Elasticsearch refuses
on a live index (a field's type) rolls out by bumping the version and building a new
index (``mediawatch reprocess``), then switching the alias (see ``switch_alias``).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Literal

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError

from mediawatch import esnode
from mediawatch.security import ROLE_OF_USER_KIND, ROLES
from mediawatch.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

Role = Literal["admin", "writer", "reader"]
INDEX_KINDS = ("articles", "alerts")
MAPPINGS_DIR = PROJECT_ROOT / "index_mappings"
# What to do when a live index refuses its template's mapping (a changed field type or parameter).
REFUSED_MAPPING_REMEDY = {
    "articles": "bump `version` in index_mappings/articles.json; `mediawatch reprocess` then rebuilds "
    "articles under the new mapping",
    "alerts": "alerts are never rebuilt: add the field under a new name instead of changing this one",
}
# Families that `mediawatch reprocess` rebuilds into a new index of the template's version.
REBUILT_BY_REPROCESS = ("articles",)


@lru_cache(maxsize=None)
def template_body(kind: str) -> dict:
    """The template file of an index family, without its comment."""
    body = json.loads((MAPPINGS_DIR / f"{kind}.json").read_text(encoding="utf-8"))
    body.pop("_comment", None)
    return body


def versioned_index(settings: Settings, kind: str) -> str:
    """The index of the current template version behind ``kind``'s alias."""
    return f"{settings.index_name(kind)}-v{template_body(kind)['version']}"


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


def _predates_template(settings: Settings, kind: str, index: str) -> bool:
    """Whether ``index`` was built for an older template version (``<alias>-v<N>[-<rebuild stamp>]``)."""
    current = versioned_index(settings, kind)
    return index != current and not index.startswith(f"{current}-")


def _ensure_live_mappings(admin: Elasticsearch, settings: Settings) -> None:
    """Give the indices behind each alias their template's mapping.

    Mappings are ``dynamic: strict``: without this, a field added to a template would be
    refused by every index created before it. Elasticsearch merges additive changes
    (new fields, new sub-fields) and refuses the whole update if any existing field
    would change. A refusal is expected on an articles index of an older template
    version, which waits for ``mediawatch reprocess`` (this setup runs first, so it must
    not stop there); anywhere else it is a configuration error.
    """
    for kind in INDEX_KINDS:
        alias = settings.index_name(kind)
        mappings = template_body(kind)["template"]["mappings"]
        for index in sorted(admin.indices.get_alias(name=alias)):
            try:
                admin.indices.put_mapping(index=index, **mappings)
            except BadRequestError as exc:
                reason = " ".join(str(exc.info["error"]["reason"]).split())  # Elasticsearch's reason names the field
                if kind in REBUILT_BY_REPROCESS and _predates_template(settings, kind, index):
                    log.warning(
                        "index %s predates template version %s and keeps its mapping until `mediawatch reprocess` "
                        "rebuilds it (%s)", index, template_body(kind)["version"], reason,
                    )
                    continue
                raise ConfigError(
                    f"index {index} (alias {alias}) refuses the mapping of index_mappings/{kind}.json: {reason}; "
                    f"{REFUSED_MAPPING_REMEDY[kind]}"
                ) from exc


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
    """Roles, users, templates, aliases, and the template's mapping on the live indices.
    Safe to run any number of times.

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
    _ensure_live_mappings(admin, settings)


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

