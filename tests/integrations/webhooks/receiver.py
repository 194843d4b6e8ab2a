"""A real webhook receiver for tests: an HTTP server in a thread that checks every request's
signature with the `standardwebhooks` package (an implementation nobody here wrote) and
records what arrived.

`Receiver.secrets` are the secrets each request is verified against, one by one (the
request records which verified); `answer` is the status it replies with (a callable of the
request number may vary it); `hold` (a threading.Event), when set up, makes the handler wait
for it before answering (a delivery in flight). `stop()` closes the port (connections are
refused), `start()` opens it again on the same port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str] = field(default_factory=list)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(
        self,
        *,
        answer: int | Callable[[int], int] = 200,
        location: str = "",
        reply: bytes | None = None,
    ) -> None:
        self.secrets: list[str] = []
        self.answer = answer
        self.location = location
        self.reply = reply
        self.hold: threading.Event | None = None
        self.in_flight = threading.Event()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = Received(path=self.path, headers=headers, body=body)
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                    except WebhookVerificationError:
                        continue
                    record.verified_with.append(secret)
                with receiver.lock:
                    receiver.received.append(record)
                    number = len(receiver.received)
                receiver.in_flight.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                answer = receiver.answer
                status = answer(number) if callable(answer) else answer
                self.send_response(status)
                if receiver.location:
                    self.send_header("location", receiver.location)
                self.send_header("content-type", "text/plain")
                reply = receiver.reply or f"answer {status} to request {number}".encode()
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.hold is not None:
            self.hold.set()

    def ids(self) -> list[str]:
        with self.lock:
            return [r.webhook_id for r in self.received]

    def all_verified(self) -> bool:
        with self.lock:
            return all(r.verified_with for r in self.received)
