"""The HTTP POST of a webhook (urllib3): to the checked address of the target, no redirect
followed, no retry of its own (the delivery schedule retries), connect and total timeouts
from the settings, and only the start of the answer's body read and kept.

Connection pools are kept per (scheme, address, port, host name), so consecutive deliveries
to one receiver reuse their connections.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import urllib3
from django.conf import settings

from .targets import Target, resolve

_pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


class DeliveryError(Exception):
    """No HTTP answer: refused target, connection refused, timeout, TLS or protocol error."""


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    key = (target.scheme, target.address, target.port, target.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            size = max(1, settings.WEBHOOK_DISPATCH_CONCURRENCY)
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    maxsize=size,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                    cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=size)
            _pools[key] = pool
    return pool


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url`; the answer (any status), or DeliveryError when there is none.
    A refused target (targets.TargetRefused) is raised as it is."""
    target = resolve(url)
    timeout = urllib3.Timeout(
        connect=settings.WEBHOOK_CONNECT_TIMEOUT, total=settings.WEBHOOK_TIMEOUT
    )
    limit = settings.WEBHOOK_RESPONSE_BODY_LIMIT
    try:
        response = _pool(target).urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            timeout=timeout,
        )
        complete = False
        try:
            data = response.read(limit)
            complete = not response.read(1)
        finally:
            # A body longer than we read would be left on the connection: drop it instead.
            if complete:
                response.release_conn()
            else:
                response.close()
    except urllib3.exceptions.HTTPError as error:
        raise DeliveryError(_reason(error)) from None
    except (OSError, ValueError) as error:  # e.g. a header http.client cannot encode
        raise DeliveryError(f"{type(error).__name__}: {error}"[:300]) from None
    # PostgreSQL text cannot hold NUL: a receiver's stray \x00 must not stop the recording.
    text = data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return Answer(status=response.status, body=text)


def _reason(error: Exception) -> str:
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "timeout"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "connection refused or unreachable"
    return f"{type(error).__name__}: {error}"[:300]
