"""Which errors mean "a backing service is down", as opposed to a bug.

A PostgreSQL that is unreachable, restarting or shutting down is a 503 with Retry-After
(like a Redis outage), never a 500: the client should simply try again.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# SQLSTATEs of a server that is going away or not yet there: admin_shutdown (a restart or
# pg_terminate_backend), crash_shutdown, cannot_connect_now ("the database system is
# starting up" / "shutting down"), too_many_connections (the surge right after a restart);
# and class 08, connection exceptions.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (a Django database error) says the database cannot be reached or
    dropped the connection. Lock and statement timeouts, deadlocks and serialization
    failures are the database answering, not unavailable, and are left alone."""
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    # No SQLSTATE: the driver failed before the server answered (refused, reset, closed).
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
