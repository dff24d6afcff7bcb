"""Outlet: which publisher a page belongs to, whatever host served it.

The outlet is the registered domain (public suffix + one label) of the page's canonical
URL, so ``www.``, ``m.`` and ``amp.`` hosts and ``/amp/`` paths are the same outlet as the
main site. Proxies that serve a publisher's page under their own host (the AMP caches,
Google's AMP viewer, Google Translate's proxy, the Wayback Machine) are unwrapped first.
The public suffix list is tldextract's bundled snapshot: no network access.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crawlers.urls import registered_domain

# Proxy hosts whose paths carry the original URL: /c/s/<host>/..., /amp/s/<host>/..., /web/<ts>/<url>.
_PATH_WRAPPED = (
    (re.compile(r"(^|\.)cdn\.ampproject\.org$"), re.compile(r"^/[a-z]/(?:s/)?([^/]+)")),
    (re.compile(r"(^|\.)bing-amp\.com$"), re.compile(r"^/[a-z]/(?:s/)?([^/]+)")),
    (re.compile(r"^(www\.)?google\.[a-z.]+$"), re.compile(r"^/amp/(?:s/)?([^/]+)")),
    (re.compile(r"^web\.archive\.org$"), re.compile(r"^/web/[^/]+/(?:https?://)?([^/]+)")),
)
# Proxy hosts that encode the original host in their first label: www-example-com.translate.goog.
_LABEL_ENCODED = re.compile(r"^([a-z0-9-]+)\.(?:cdn\.ampproject\.org|translate\.goog)$")


def _decode_label(label: str) -> str:
    """AMP cache / translate.goog label encoding: '-' separates labels, '--' is a literal '-'."""
    return ".".join(part.replace("\0", "-") for part in label.replace("--", "\0").split("-"))


def _split(url: str):
    """``urlsplit`` that also accepts a bare host ('www.example.com/path')."""
    return urlsplit(url if "//" in url else f"//{url}")


def original_host(url: str) -> str:
    """Host of the publisher behind ``url``, unwrapping known proxies and mirrors."""
    parts = _split(url)
    host = (parts.hostname or "").rstrip(".")
    for host_re, path_re in _PATH_WRAPPED:
        if host_re.search(host):
            match = path_re.match(parts.path)
            if match:
                return original_host(match.group(1))
    label = _LABEL_ENCODED.match(host)
    if label:
        return _decode_label(label.group(1))
    return host


def outlet_of(url: str, site_name: str | None = None) -> tuple[str, str | None]:
    """``(registered domain, display name)`` of the outlet that published ``url``.

    ``url`` should be the canonical URL when the page declares one. ``site_name`` (the
    page's ``og:site_name``) is the display name, whitespace-normalised; ``None`` if absent.
    Hosts without a public suffix (IP addresses, ``localhost``) are their own outlet,
    port included, so that two local servers are two outlets. Raises ``ValueError`` for a
    URL without a host (``file:`` URLs).
    """
    host = original_host(url)
    if not host:
        raise ValueError(f"no host in URL {url!r}")
    registered = registered_domain(host)
    if not registered:
        parts = _split(url)
        try:
            port = parts.port
        except ValueError:  # malformed port: the host alone still names the site
            port = None
        registered = f"{host}:{port}" if port and parts.hostname == host else host
    name = " ".join((site_name or "").split()) or None
    return registered.lower(), name
