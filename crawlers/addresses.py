"""Which network addresses a crawl may connect to.

URLs found in feeds and pages are untrusted: a feed entry pointing at
``http://169.254.169.254/`` or ``http://localhost:6379/`` must not make the
crawler talk to the metadata service or an internal port. A URL is refused when
its scheme is not http(s) or when any address its host resolves to falls in a
non-public class that the configuration does not explicitly allow.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from scrapy.resolver import CachingThreadedResolver

from crawlers.items import Refused

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba). They are
# link-local or carrier-grade NAT addresses as well; naming them makes the refusal reason explicit.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

# Classes that --allow-private-hosts turns on (tests and demos serve from 127.0.0.1).
PRIVATE_HOST_CLASSES = frozenset({"loopback", "private"})

Resolver = Callable[[str], list[str]]


def address_class(address: str) -> str | None:
    """The non-public class of an IP address (``loopback``, ``private``, ``link_local``,
    ``metadata``, ``multicast``, ``reserved``, ``unspecified``, ``non_public``), or None if public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "metadata"
    for name in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return name
    return None if ip.is_global else "non_public"


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


def refusal_reason(url: str, allowed_classes: Collection[str] = (), resolve: Resolver = resolve_host) -> str | None:
    """Why ``url`` must not be fetched (``scheme:<s>`` or ``address:<class>:<ip>``), or None.

    A host that does not resolve is not refused here: the download then fails
    with a DNS error, which is recorded as a failure of an unreachable host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"scheme:{scheme or 'none'}"
    host = parts.hostname
    if not host:
        return "address:no_host"
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        return None
    for address in addresses:
        kind = address_class(address)
        if kind is not None and kind not in allowed_classes:
            return f"address:{kind}:{address}"
    return None


class AddressPolicyResolver(CachingThreadedResolver):
    """Scrapy's DNS resolver, refusing names that resolve to a non-public address.

    The address policy middleware refuses early, with a clear reason, before
    robots.txt is fetched; this resolver applies the same rule to the address the
    connection actually uses, so a name that resolves differently the second time
    (DNS rebinding) still cannot reach an internal address.
    """

    def __init__(self, reactor, cache_size: int, timeout: float, allowed_classes: frozenset[str] = frozenset()):
        super().__init__(reactor, cache_size, timeout)
        self.allowed_classes = allowed_classes

    @classmethod
    def from_crawler(cls, crawler, reactor):
        resolver = super().from_crawler(crawler, reactor)
        resolver.allowed_classes = frozenset(crawler.settings.getlist("MEDIAWATCH_ALLOWED_ADDRESS_CLASSES"))
        return resolver

    def getHostByName(self, name: str, timeout=()):  # noqa: N802 (Twisted's interface)
        return super().getHostByName(name, timeout).addCallback(self._check, name)

    def _check(self, address: str, name: str) -> str:
        kind = address_class(address)
        if kind is not None and kind not in self.allowed_classes:
            raise Refused(f"address:{kind}:{address}")
        return address
