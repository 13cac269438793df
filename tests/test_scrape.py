"""Serving /metrics as a scraper sees it: the gzip bytes on the wire, keep-alive, many connections at once, live
counters that stay current, and requests parsed without email.parser exactly as http.server parses them."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from exporter.exposition import Exposition
from exporter.exposition.live import LivePart
from exporter.fleet import infos
from exporter.model import Snapshot
from exporter.server import WebServer, send_all
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from exporter.web import QuickRequest
from tests.test_model_and_render import ACCOUNTS, cost, health, run
from tests.tls_helpers import client, pki, serve, tls  # noqa: F401 - pki, serve: fixtures


def served(stats: ApiStats | None = None) -> tuple[WebServer, Exposition, SnapshotHolder]:
    holder = SnapshotHolder(Snapshot.empty(infos(ACCOUNTS)))
    exposition = Exposition({"cost": 21600.0, "health": 300.0}, stats or ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    holder.publish(run("cost"), [cost(a.id, "12.5") for a in ACCOUNTS])
    holder.publish(run("health"), [health(a.id, 1) for a in ACCOUNTS])
    server = WebServer("127.0.0.1", 0, exposition, lambda: holder.current)
    server.start()
    return server, exposition, holder


def request(sock: socket.socket, path: str = "/metrics", gzipped: bool = True, method: str = "GET",
            close: bool = False) -> tuple[dict[str, str], bytes]:
    """One request on an open connection; the answer's headers and its body as sent (not decoded)."""
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {'gzip' if gzipped else 'identity'}\r\n"
                 f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode())
    reader = sock.makefile("rb")
    status = reader.readline()
    assert status.startswith(b"HTTP/1.1 200 "), status
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b"" if method == "HEAD" else reader.read(int(headers["content-length"]))
    reader.close()
    return headers, body


def test_a_gzip_scrape_is_the_held_parts_as_they_are_and_inflates_to_the_plain_body():
    server, exposition, holder = served()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            zipped_headers, zipped = request(sock)
            plain_headers, plain = request(sock, gzipped=False)
    finally:
        server.stop()
    assert zipped_headers["content-encoding"] == "gzip" and "content-encoding" not in plain_headers
    assert int(zipped_headers["content-length"]) == len(zipped) and int(plain_headers["content-length"]) == len(plain)
    assert gzip.decompress(zipped) == plain == exposition.metrics()
    assert b'aws_cost_usd{' in plain and b"aws_health_event_info{" in plain
    # No copy of the held bytes per scrape, whatever the series count: the body is the parts themselves.
    pieces = exposition.metrics_body(gzipped=True).pieces()
    parts = exposition._rendered.parts  # noqa: SLF001 - what this test is about
    assert all(piece is part.deflated for piece, part in zip(pieces[1:], parts))


def test_the_live_counters_are_current_at_every_scrape_and_an_idle_one_renders_nothing():
    stats = ApiStats()
    server, exposition, _ = served(stats)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            first = gzip.decompress(request(sock)[1])
            again = exposition.live.text()
            assert exposition.live.text() is again  # nothing changed: the same text, not rendered again
            stats.record("ce", "GetCostAndUsage", None)
            second = gzip.decompress(request(sock)[1])
            stats.record("ce", "GetCostAndUsage", "ThrottlingException")
            third = request(sock, gzipped=False)[1]
    finally:
        server.stop()
    line = b'aws_exporter_api_requests_total{operation="GetCostAndUsage",service="ce"} '
    assert line not in first and line + b"1.0\n" in second and line + b"2.0\n" in third
    assert b'aws_exporter_api_throttles_total{operation="GetCostAndUsage",service="ce"} 1.0' in third


def test_process_metrics_are_read_again_once_the_sampling_period_has_passed():
    now = [100.0]
    reads = []

    class Sampled:
        def collect(self) -> Any:
            from prometheus_client.core import CounterMetricFamily
            reads.append(now[0])
            yield CounterMetricFamily("process_cpu_seconds", "CPU.", value=len(reads))

    live = LivePart(clock=lambda: now[0])
    live.add_sampled(Sampled(), seconds=1.0)
    first = live.text()
    now[0] = 100.9
    assert live.text() is first and reads == [100.0]
    now[0] = 101.0
    assert b"process_cpu_seconds_total 2.0" in live.text() and reads == [100.0, 101.0]


def test_one_keep_alive_connection_serves_scrape_after_scrape_of_every_kind():
    server, exposition, _ = served()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            bodies = [request(sock, gzipped=n % 2 == 0)[1] for n in range(20)]
            head, nothing = request(sock, method="HEAD")
            healthy = request(sock, "/-/healthy", gzipped=False)[1]
            last_headers, last = request(sock, close=True)
            assert sock.recv(1) == b""  # closed after the answer it was asked to close after
    finally:
        server.stop()
    plain = exposition.metrics()
    assert all((gzip.decompress(b) if n % 2 == 0 else b) == plain for n, b in enumerate(bodies))
    assert nothing == b"" and int(head["content-length"]) == len(bodies[0])
    assert email.utils.parsedate_to_datetime(head["date"]).tzinfo is not None  # an HTTP date (GMT)
    assert healthy == b"aws-ops-exporter is Healthy.\n" and gzip.decompress(last) == plain


def test_fifty_connections_at_once_are_all_answered_whole():
    server, exposition, _ = served()
    expected, results, barrier = exposition.metrics(), [], threading.Barrier(50)

    def scrape(n: int) -> None:
        barrier.wait(timeout=30)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            body = request(sock, gzipped=n % 2 == 0, close=True)[1]
        results.append(gzip.decompress(body) if n % 2 == 0 else body)

    threads = [threading.Thread(target=scrape, args=(n,)) for n in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        server.stop()
    assert len(results) == 50 and all(body == expected for body in results)


def test_a_gzip_scrape_over_tls_keeps_alive_and_inflates_to_the_plain_body(serve, pki):  # noqa: F811
    served_tls = serve({"tls_server_config": tls(pki)})
    with client(pki) as http:
        zipped = [http.get(f"{served_tls.url}/metrics", headers={"Accept-Encoding": "gzip"}) for _ in range(3)]
        plain = http.get(f"{served_tls.url}/metrics", headers={"Accept-Encoding": "identity"})
    assert all(r.status_code == 200 and r.headers["Content-Encoding"] == "gzip" for r in zipped)
    assert all(r.content == plain.content for r in zipped) and b"aws_exporter_" in plain.content


def test_send_all_sends_every_byte_of_many_pieces_in_order():
    pieces = [bytes([n % 251]) * (n * 997 % 70_000) for n in range(1500)]  # more pieces than one sendmsg takes
    left, right = socket.socketpair()
    received = bytearray()

    def drain() -> None:
        while chunk := right.recv(1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    send_all(left, pieces)
    left.close()
    reader.join(timeout=60)
    right.close()
    assert bytes(received) == b"".join(pieces)


# ------------------------------------------------------------------ requests parsed as http.server parses them


class _Stdlib(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, raw: bytes):  # no socket: the request from bytes, the answer into bytes
        self.rfile, self.wfile = io.BufferedReader(io.BytesIO(raw)), io.BytesIO()
        self.client_address, self.request_version = ("127.0.0.1", 1), self.default_request_version
        self.command = None
        self.raw_requestline = self.rfile.readline(65537)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return "Wed, 02 Dec 2026 00:00:00 GMT"

    def parsed(self) -> tuple:
        ok = self.parse_request()
        headers = list(self.headers.items()) if ok else None
        return (ok, self.command, getattr(self, "path", None), self.request_version, self.close_connection,
                headers, self.rfile.read(), self.wfile.getvalue())


class _Quick(QuickRequest, _Stdlib):
    pass


REQUESTS = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nUser-Agent: Prometheus/3.0\r\n\r\n",
    b"GET /metrics?a=b HTTP/1.1\r\nhost:x\r\nACCEPT-encoding:  gzip;q=0.5 \r\nX-A: 1\r\nx-a: 2\r\n\r\nGET / HTTP/1.1\r\n",
    b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"POST /-/reload HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody",
    b"GET / HTTP/1.1\r\nX-Folded: a\r\n  b\r\n\r\n",  # a continuation line
    b"GET / HTTP/1.1\nHost: x\n\n",  # bare line feeds
    b"GET / HTTP/1.1\r\nHost: x\nAccept: */*\r\n\r\n",  # mixed line ends
    b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nName : value\r\n\r\n",
    b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Latin: caf\xe9\r\nX-Tab:\ta\tb\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-CR: a\rb\r\n\r\n",
    b"GET //evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /\xa0x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"GET / FTP/1.1\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n",  # too many headers: 431
    b"GET / HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",  # a line too long: 431
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # the block never ends
]


@pytest.mark.parametrize("raw", REQUESTS, ids=range(len(REQUESTS)))
def test_a_request_parses_as_http_server_parses_it(raw: bytes):
    assert _Quick(raw).parsed() == _Stdlib(raw).parsed()


def test_the_plain_path_is_taken_for_a_scrape_and_the_headers_are_an_http_message():
    quick = _Quick(REQUESTS[0])
    assert quick._parse_plain() is True  # noqa: SLF001 - that the quick path is taken at all
    assert isinstance(quick.headers, http.client.HTTPMessage) and quick.headers["accept-encoding"] == "gzip"
