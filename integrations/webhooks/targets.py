"""Where a webhook may be sent (SSRF rules).

Only http and https URLs with a host. The host is resolved and every address it resolves
to must be a public one: private, loopback, link-local, shared (CGNAT), multicast, reserved
and unspecified addresses are refused unless WEBHOOK_ALLOW_PRIVATE_TARGETS is true. The
connection is then made to the address that was checked (`Target.address`), never by
resolving the name a second time, so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect it; https still verifies the certificate against
the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(Exception):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    address: str  # the checked IP address the connection goes to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL, or TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise TargetRefused(
            f"scheme {parts.scheme or '(none)'!r} is not allowed: http or https only"
        )
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed")
    try:
        # An internationalised name travels as its ASCII (IDNA) form, in DNS and in Host.
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused(f"{parts.hostname!r} is not a valid host name") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or DEFAULT_PORTS[scheme], path


# IPv6 prefixes that carry an IPv4 address a gateway may translate to: NAT64 (well-known
# and local-use), and the deprecated IPv4-compatible form. Judged by that IPv4 address.
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public(str(embedded))
        if ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    for network in _EMBEDDING_IPV4:
        if ip in network:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def private_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


def check_literal(url: str) -> None:
    """What can be refused without DNS (used when a subscription is saved): the scheme, and
    a host that is itself a non-public IP address."""
    _, host, _, _ = parse(url)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if not private_allowed() and not is_public(host):
        raise TargetRefused(f"{host} is not a public address")


def resolve(url: str) -> Target:
    """The checked target of `url`: TargetRefused for a refused scheme, a name that does not
    resolve, or any resolved address that is not public (unless allowed)."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"{host} does not resolve: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not private_allowed():
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise TargetRefused(
                f"{host} resolves to {', '.join(refused)}: private, loopback and link-local "
                "addresses are refused"
            )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
