"""HTTP endpoints: the metrics (``--web.telemetry-path``, ``/metrics``), ``/snapshot``, ``/healthz``,
``/-/healthy``, ``/-/ready``, ``/-/reload`` and a landing page at ``/``.

Nothing here calls AWS: every response is built from the current snapshot's pre-rendered bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter import __version__
from exporter.exposition import CONTENT_TYPE, Body, Exposition
from exporter.landing import first_pass_pending, landing_page
from exporter.model import Snapshot
from exporter.web import GuardedHandler, GuardedServer, QuickRequest, WebGuard

log = logging.getLogger(__name__)
IOV_MAX = 1024  # buffers one sendmsg takes on Linux
HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
TEXT = "text/plain; charset=utf-8"
RELOAD = "/-/reload"
PATHS = ("/", "/snapshot", "/healthz", "/-/healthy", "/-/ready", RELOAD)  # beside the telemetry path


@dataclass(frozen=True)
class Lifecycle:
    """What the endpoints beyond the data need from the running exporter."""

    # POST /-/reload: reload the config, (ok, message); None: --web.enable-lifecycle is off (403).
    reload: Callable[[], tuple[bool, str]] | None = None
    # the schedule's next runs (Schedule.next_runs), for the landing page
    next_runs: Callable[[], Mapping[str, dt.datetime | None]] | None = None
    # (the last reload succeeded, when the config in use was loaded), for the landing page
    reloads: Callable[[], tuple[bool, float]] | None = None


class _Server(GuardedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen() backlog: socketserver's 5 drops connections when a few Prometheus servers and a reporter come at
    # once (the kernel caps it at net.core.somaxconn).
    request_queue_size = max(128, socket.SOMAXCONN)

    def __init__(self, address: tuple[str, int], exposition: Exposition | Callable[[], Exposition],
                 snapshot: Callable[[], Snapshot], guard: WebGuard | None = None, telemetry_path: str = "/metrics",
                 lifecycle: Lifecycle | None = None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._exposition = exposition
        self.snapshot = snapshot
        self.guard = guard  # --web.config.file: TLS per connection, basic auth before routing, headers
        self.telemetry_path = telemetry_path
        self.lifecycle = lifecycle or Lifecycle()
        self._ready = False

    @property
    def exposition(self) -> Exposition:
        """The current one (a config reload may bring another)."""
        return self._exposition if isinstance(self._exposition, Exposition) else self._exposition()

    def waiting_for(self) -> list[str]:
        """The collectors readiness still waits for (their first pass); once ready, ready for good: a reload
        that turns a collector on does not take a serving exporter out of rotation."""
        if self._ready:
            return []
        waiting = first_pass_pending(self.snapshot(), self.exposition.intervals)
        self._ready = not waiting
        return waiting

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bug in a handler: one log line with the traceback (socketserver prints one raw to stderr)."""
        log.error("event=http_handler_failed client=%s", client_address[0] if client_address else "-",
                  exc_info=True)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110: ``gzip;q=0`` refuses it, ``*`` stands for
    any coding not listed)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding.strip():
            weights[coding.strip().lower()] = q
    q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return q > 0


class _Handler(GuardedHandler, QuickRequest, BaseHTTPRequestHandler):
    server: _Server
    server_version = f"aws-ops-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a small answer's last segment goes out at once, without waiting for an ACK
    _hold_headers = False
    _held = b""
    _date: tuple[int, str] = (0, "")  # (the second, the Date header's text)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except HUNG_UP as exc:  # e.g. a Prometheus scrape timeout: the client left mid-answer
            self.close_connection = True
            path = getattr(self, "path", None)
            (log.info if path else log.debug)("event=client_hung_up client=%s path=%s error=%s",
                                              self.address_string(), path or "-", type(exc).__name__)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        gz = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        if path == self.server.telemetry_path:
            self._send(200, CONTENT_TYPE, self.server.exposition.metrics_body(gzipped=gz), gzipped=gz, vary=True)
        elif path == "/snapshot":
            self._send(200, "application/json", self.server.exposition.snapshot_body(gzipped=gz), gzipped=gz,
                       vary=True)
        elif path == "/healthz":
            self._send(200, TEXT, b"ok\n")
        elif path == "/-/healthy":
            self._send(200, TEXT, b"aws-ops-exporter is Healthy.\n")
        elif path == "/-/ready":
            waiting = self.server.waiting_for()
            if waiting:
                self._send(503, TEXT, f"aws-ops-exporter is not ready: first pass still running for "
                                      f"{', '.join(waiting)}\n".encode())
            else:
                self._send(200, TEXT, b"aws-ops-exporter is Ready.\n")
        elif path == RELOAD:
            self._send(405, TEXT, b"Only POST or PUT requests allowed\n", allow="POST, PUT")
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", self._landing().encode())
        else:
            self._send(404, TEXT, b"not found\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            self.close_connection = True  # not worth reading: answer, then hang up
        elif length:
            self.rfile.read(length)  # the body means nothing here; read it to keep the connection usable
        path = self.path.split("?", 1)[0]
        if path != RELOAD:
            known = path in PATHS or path == self.server.telemetry_path
            self._send(405 if known else 404, TEXT, b"method not allowed\n" if known else b"not found\n",
                       allow="GET, HEAD" if known else None)
            return
        reload = self.server.lifecycle.reload
        if reload is None:
            self._send(403, TEXT, b"Lifecycle API is not enabled: start with --web.enable-lifecycle "
                                  b"(or send SIGHUP)\n")
            return
        ok, message = reload()
        self._send(200 if ok else 500, TEXT, (message.rstrip("\n") + "\n").encode())

    do_PUT = do_POST  # noqa: N815 - Prometheus takes both

    def _landing(self) -> str:
        lifecycle = self.server.lifecycle
        return landing_page(self.server.snapshot(), self.server.exposition.intervals,
                            lifecycle.next_runs() if lifecycle.next_runs else None,
                            lifecycle.reloads() if lifecycle.reloads else None, self.server.telemetry_path)

    def _send(self, status: int, content_type: str, body: bytes | Body, gzipped: bool = False,
              vary: bool = False, allow: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        if vary:  # the body depends on Accept-Encoding: caches in between must not mix the two
            self.send_header("Vary", "Accept-Encoding")
        if allow:
            self.send_header("Allow", allow)
        self.send_header("Content-Length", str(len(body) if isinstance(body, bytes) else body.length))
        self._hold_headers = True
        self.end_headers()  # held: they go out with the body's first bytes
        head, self._held = self._held, b""
        if self.command == "HEAD":
            self.wfile.write(head)
            return
        pieces = (body,) if isinstance(body, bytes) else body.pieces()
        if isinstance(pieces, tuple):  # held bytes (a gzip /metrics): all of it in one go
            send_all(self.connection, (head, *pieces))
        else:  # made while sent (an inflated body): the head with the first piece, then the rest as it comes
            it = iter(pieces)
            send_all(self.connection, (head, next(it, b"")))
            for piece in it:
                send_all(self.connection, (piece,))

    def flush_headers(self) -> None:
        if self._hold_headers:
            self._hold_headers = False
            self._held = b"".join(self._headers_buffer)
            self._headers_buffer = []
        else:
            super().flush_headers()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, formatted once a second rather than once a response."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        second = int(time.time())  # clock-ok: the Date header is the wall clock's
        cached = _Handler._date
        if cached[0] != second:
            cached = _Handler._date = (second, super().date_time_string(second))
        return cached[1]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if log.isEnabledFor(logging.DEBUG):  # two calls a request: not worth formatting for nothing
            log.debug("event=http_request client=%s request=%r", self.address_string(), format % args)


def send_all(connection: socket.socket, pieces: Sequence[bytes]) -> None:
    """Every byte of ``pieces``, in order, with as few system calls as the kernel allows: one ``sendmsg`` takes them
    all as they are (no joined copy, whatever their size), again from where it stopped if it sent only part. A TLS
    connection cannot ``sendmsg``: there each piece is written as it is."""
    if isinstance(connection, ssl.SSLSocket):
        for piece in pieces:
            connection.sendall(piece)
        return
    views = [memoryview(p) for p in pieces if p]
    while views:
        sent = connection.sendmsg(views[:IOV_MAX])
        while sent and sent >= len(views[0]):
            sent -= len(views[0])
            del views[0]
        if sent:
            views[0] = views[0][sent:]


class WebServer:
    def __init__(self, host: str, port: int, exposition: Exposition | Callable[[], Exposition],
                 snapshot: Callable[[], Snapshot], guard: WebGuard | None = None, telemetry_path: str = "/metrics",
                 lifecycle: Lifecycle | None = None):
        """``exposition``: the one to serve, or a callable giving the current one (a reload may replace it)."""
        self.httpd = _Server((host, port), exposition, snapshot, guard, telemetry_path, lifecycle)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
