"""Who may read `/metrics`: a client whose address is in METRICS_ALLOWED_CIDRS, or one that
sends `Authorization: Bearer <METRICS_TOKEN>` (when a token is set). The address is the
connection's own (REMOTE_ADDR), never X-Forwarded-For, which any client can write:
Prometheus scrapes pods directly, not through the ingress."""

from __future__ import annotations

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr)


def address_allowed(address: str, cidrs: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(cidrs)))


def token_presented(request: HttpRequest, token: str) -> bool:
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # As bytes: compare_digest refuses str with non-ASCII characters, which a header may hold.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics_access_allowed(request: HttpRequest) -> bool:
    return token_presented(request, settings.METRICS_TOKEN) or address_allowed(
        request.META.get("REMOTE_ADDR", ""), settings.METRICS_ALLOWED_CIDRS
    )
