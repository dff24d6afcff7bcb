"""URL canonicalisation, same-site tests and a page's identity.

Two URLs that differ only in scheme/host case, a default port, a fragment,
query-parameter order or tracking parameters name the same page; the crawl keys
its "already fetched" state on the canonical form so that such variants are
fetched once. ``page_identity`` is the one rule, shared by the crawler and the
processing pipeline, for which URL a fetched page is known by.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import tldextract
from w3lib.url import canonicalize_url as _w3lib_canonicalize

# Query parameters that identify a campaign or a click, never the page.
DEFAULT_TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "smid", "oc",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Offline: the bundled public-suffix snapshot, never a download. Private suffixes count
# (blogspot.com, github.io): each blog on such a host is its own site and outlet.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def _is_tracking(name: str, patterns: Iterable[str]) -> bool:
    lowered = name.lower()
    for pattern in patterns:
        if pattern.endswith("*"):
            if lowered.startswith(pattern[:-1]):
                return True
        elif lowered == pattern:
            return True
    return False


def canonicalize(url: str, tracking_params: Iterable[str] = DEFAULT_TRACKING_PARAMS) -> str:
    """The canonical form of ``url``: lowercase scheme and host, no default port,
    no fragment, no tracking parameters, sorted query, normalised percent-encoding."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:  # a malformed port: keep the URL recognisable, it will be refused later
        port = None
    # Any user:password@ is dropped: credentials in a discovered URL are never ours to send.
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    patterns = tuple(p.lower() for p in tracking_params)
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k, patterns)]
    )
    rebuilt = urlunsplit((scheme, netloc, parts.path or "/", query, ""))
    return _w3lib_canonicalize(rebuilt, keep_fragments=False)


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """The domain registered under a public suffix (``bbc.co.uk``); "" for IPs and single labels."""
    return _EXTRACT.extract_str(host).top_domain_under_public_suffix


def site_of(url: str) -> str:
    """The site a URL belongs to: its registered domain, or the bare host for IPs and single labels."""
    host = (urlsplit(url).hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return registered_domain(host) or host


def same_site(url: str, other: str) -> bool:
    return site_of(url) == site_of(other)


def page_identity(declared: str | None, url: str, tracking_params: Iterable[str] = DEFAULT_TRACKING_PARAMS) -> str:
    """A fetched page's canonical URL, the key of its id and its outlet: its declared canonical
    (``rel=canonical``, ``og:url``) when that is an http(s) URL on the page's own site, otherwise
    the page's URL; canonicalised either way (tracking parameters stripped).

    Another site's URL is not trusted as the page's identity: it would let any page pass for
    someone else's article (take its id and overwrite its document, take its outlet, mark it
    "already fetched"). Syndication partners declare the original's canonical as a matter of
    course, so this is the common case, not only a hostile one.
    """
    if declared and declared.startswith(("http://", "https://")) and same_site(declared, url):
        return canonicalize(declared, tracking_params)
    return canonicalize(url, tracking_params)
