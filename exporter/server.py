"""HTTP endpoints: ``/metrics``, ``/snapshot``, ``/healthz`` and a landing page at ``/``.

Nothing here calls AWS: every response is built from the current snapshot's pre-rendered bytes.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from exporter import __version__
from exporter.exposition import CONTENT_TYPE, Body, Exposition
from exporter.model import Snapshot, utcnow
from exporter.web import GuardedHandler, GuardedServer, WebGuard

log = logging.getLogger(__name__)


class _Server(GuardedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exposition: Exposition, snapshot: Callable[[], Snapshot],
                 guard: WebGuard | None = None):
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.exposition = exposition
        self.snapshot = snapshot
        self.guard = guard  # --web.config.file: TLS per connection, basic auth before routing, headers


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


class _Handler(GuardedHandler, BaseHTTPRequestHandler):
    server: _Server
    server_version = f"aws-ops-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes; do not wait for delayed ACKs

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        gz = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        if path == "/metrics":
            self._send(200, CONTENT_TYPE, self.server.exposition.metrics_body(gzipped=gz), gzipped=gz, vary=True)
        elif path == "/snapshot":
            self._send(200, "application/json", self.server.exposition.snapshot_body(gzipped=gz), gzipped=gz,
                       vary=True)
        elif path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", landing_page(self.server.snapshot()).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _send(self, status: int, content_type: str, body: bytes | Body, gzipped: bool = False,
              vary: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        if vary:  # the body depends on Accept-Encoding: caches in between must not mix the two
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body) if isinstance(body, bytes) else body.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in (body,) if isinstance(body, bytes) else body.pieces():
            self.wfile.write(piece)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("event=http_request client=%s request=%r", self.address_string(), format % args)


def landing_page(snapshot: Snapshot) -> str:
    now = utcnow()
    rows = []
    for result in sorted(snapshot.all_results(), key=lambda r: (r.collector, r.account_id)):
        collector = result.collector
        age = f"{(now - result.last_success).total_seconds():.0f}s ago" if result.last_success else "never"
        rows.append(
            f"<tr><td>{html.escape(collector)}</td><td>{html.escape(result.account_id)}</td>"
            f"<td>{'up' if result.up else 'DOWN'}</td><td>{age}</td>"
            f"<td>{html.escape(result.error or '')}</td></tr>")
    table = "".join(rows) or "<tr><td colspan=5>no collection has finished yet</td></tr>"
    discovery = ""
    if snapshot.discovery is not None:
        d = snapshot.discovery
        last = d.last_success.isoformat(timespec="seconds") if d.last_success else "never"
        discovery = (f"<p>AWS Organizations discovery: {'up' if d.up else 'DOWN'}, {d.discovered_accounts} accounts "
                     f"in scope, last success {last}{html.escape(' (' + d.error + ')') if d.error else ''}; "
                     f"{len(snapshot.accounts)} accounts served.</p>\n")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>aws-ops-exporter</title></head>
<body><h1>aws-ops-exporter {html.escape(__version__)}</h1>
<p><a href="/metrics">/metrics</a> · <a href="/snapshot">/snapshot</a> (JSON) · <a href="/healthz">/healthz</a></p>
<p>Snapshot published {snapshot.taken_at.isoformat(timespec='seconds')} (generation {snapshot.generation}).</p>
{discovery}<table border="1" cellpadding="4"><tr><th>collector</th><th>account id</th><th>state</th><th>last success</th><th>last error</th></tr>
{table}</table></body></html>
"""


class WebServer:
    def __init__(self, host: str, port: int, exposition: Exposition, snapshot: Callable[[], Snapshot],
                 guard: WebGuard | None = None):
        self.httpd = _Server((host, port), exposition, snapshot, guard)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
