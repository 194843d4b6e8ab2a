"""gunicorn's access log as one structured record per request, in the application's format
(JSON in production), with the request id and the trace id the request ran under.

The access line is written after the response, outside the request's context, so the two
ids are read from the WSGI environ, where RequestIdMiddleware left them
(commerce_project.api.request_id); a request Django never saw has "-".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

# Same keys as commerce_project.api.request_id.ENVIRON_* (not imported: the gunicorn master
# must not import Django).
_ENVIRON_REQUEST_ID = "commerce.request_id"
_ENVIRON_TRACE_ID = "commerce.trace_id"


class ContextDefaults(logging.Filter):
    """Gives records logged outside a request (gunicorn's own) the fields the shared
    formats name."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("request_id", "trace_id"):
            if not hasattr(record, name):
                setattr(record, name, "-")
        return True


class StructuredAccessLogger(Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("RAW_URI") or environ.get("PATH_INFO", "-")
        fields = {
            "request_id": environ.get(_ENVIRON_REQUEST_ID, "-"),
            "trace_id": environ.get(_ENVIRON_TRACE_ID, "-"),
            "method": method,
            "path": path,
            "status": int(status),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "response_bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        try:
            self.access_log.info("%s %s %s", method, path, status, extra=fields)
        except Exception:
            self.exception("access log line failed")
