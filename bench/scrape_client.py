"""A load client for ``/metrics``: raw sockets, every byte read, nothing decompressed.

Two modes, both bounded in time and aimed at one loopback URL:

* ``--clients N --seconds S``: N threads, each on its own keep-alive connection (as Prometheus scrapes),
  requesting back to back for S seconds; a request's latency runs from sending it to its last body byte.
* ``--connections N``: bursts of N new connections opened at once (a barrier), each sending one request
  with ``Connection: close`` and reading the whole answer, again and again for S seconds; records each
  connect's time too, since a connection the listen backlog dropped waits for a SYN retransmit (1 s).

Prints one JSON object: requests, bytes, p50/p99/max in ms (and the connects' in burst mode), errors.
Run by ``bench/metrics_latency.py`` in its own process (so the client does not share the server's GIL),
or on its own against any exporter:

    python bench/scrape_client.py http://127.0.0.1:9100/metrics --clients 10 --seconds 30 --gzip
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import urllib.parse
import zlib

BUFFER = 1 << 20


class Failed(Exception):
    pass


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n q / 100), at least the first
    return sorted_values[int(rank) - 1]


def request_bytes(url: urllib.parse.SplitResult, gzip: bool, close: bool) -> bytes:
    lines = [f"GET {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1", f"Host: {url.netloc}",
             "User-Agent: scrape_client", "Accept: text/plain"]
    lines.append(f"Accept-Encoding: {'gzip' if gzip else 'identity'}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, view: memoryview) -> tuple[int, bytes, bool]:
    """Reads one response whole (headers, then Content-Length bytes, each counted, none kept beyond the
    first buffer): (status, the first buffer's bytes of the body, whether the server will close)."""
    got = 0
    while True:
        n = sock.recv_into(view[got:])
        if not n:
            raise Failed("connection closed before the headers ended")
        got += n
        end = view.obj.find(b"\r\n\r\n", 0, got)
        if end >= 0:
            break
        if got == len(view):
            raise Failed("headers larger than the buffer")
    head = bytes(view[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    if "content-length" not in fields:
        raise Failed(f"no Content-Length (status {status})")
    length = int(fields["content-length"])
    have = got - end - 4
    first = bytes(view[end + 4:got])
    while have < length:
        n = sock.recv_into(view, min(len(view), length - have))
        if not n:
            raise Failed(f"connection closed after {have} of {length} body bytes")
        have += n
    if have > length:
        raise Failed("more bytes than Content-Length (a pipelined answer?)")
    connection = fields.get("connection", "").lower()
    closing = connection == "close" or (head[0].startswith("HTTP/1.0") and connection != "keep-alive")
    return status, first, closing


def check_once(url: urllib.parse.SplitResult, gzip: bool) -> int:
    """One request outside the timing: the body read whole and, gzipped, decompressed to check it; its length."""
    with socket.create_connection((url.hostname, url.port or 80)) as sock:
        sock.sendall(request_bytes(url, gzip, close=True))
        data = b""
        while chunk := sock.recv(BUFFER):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status_line:
        raise Failed(f"status line {status_line!r}")
    if gzip:
        if b"content-encoding: gzip" not in head.lower():
            raise Failed("asked for gzip, got no Content-Encoding: gzip")
        text = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if b"# TYPE" not in text:
            raise Failed("the gzip body does not hold an exposition")
    return len(body)


def keep_alive(url: urllib.parse.SplitResult, gzip: bool, deadline: float, out: dict) -> None:
    """Requests back to back on one connection; a server that closes it (HTTP/1.0) is connected to again within
    the next request's time."""
    request, view = request_bytes(url, gzip, close=False), memoryview(bytearray(BUFFER))
    latencies, sock = out["latencies"], None
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if sock is None:
                sock = socket.create_connection((url.hostname, url.port or 80))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            status, _, closing = read_response(sock, view)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                out["errors"].append(f"status {status}")
            out["requests"] += 1
            if closing:
                out["reconnects"] += 1
                sock.close()
                sock = None
    except (OSError, Failed) as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        if sock is not None:
            sock.close()


def one_connection(url: urllib.parse.SplitResult, gzip: bool, barrier: threading.Barrier, out: dict) -> None:
    request, view = request_bytes(url, gzip, close=True), memoryview(bytearray(BUFFER))
    try:
        barrier.wait()
        start = time.perf_counter()
        sock = socket.create_connection((url.hostname, url.port or 80), timeout=30)
        connected = time.perf_counter()
        with sock:
            sock.sendall(request)
            status, _, _ = read_response(sock, view)
        out["connects"].append(connected - start)
        out["latencies"].append(time.perf_counter() - start)
        out["requests"] += 1
        if status != 200:
            out["errors"].append(f"status {status}")
    except (OSError, Failed, threading.BrokenBarrierError) as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc}")


def run(url_text: str, clients: int, seconds: float, gzip: bool, connections: int) -> dict:
    url = urllib.parse.urlsplit(url_text)
    body_bytes = check_once(url, gzip)
    outs = []
    started = time.perf_counter()
    deadline = started + seconds
    rounds = 0
    if connections:
        out = {"latencies": [], "connects": [], "errors": [], "requests": 0}
        outs.append(out)
        while time.perf_counter() < deadline:  # bounded: one round at a time, until the time is up
            barrier = threading.Barrier(connections)
            threads = [threading.Thread(target=one_connection, args=(url, gzip, barrier, out))
                       for _ in range(connections)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rounds += 1
    else:
        threads = []
        for _ in range(clients):
            out = {"latencies": [], "errors": [], "requests": 0, "reconnects": 0}
            outs.append(out)
            threads.append(threading.Thread(target=keep_alive, args=(url, gzip, deadline, out)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for o in outs for x in o["latencies"])
    requests = sum(o["requests"] for o in outs)
    errors = [e for o in outs for e in o["errors"]]
    result = {"requests": requests, "seconds": round(elapsed, 2), "body_bytes": body_bytes,
              "mb_per_s": round(requests * body_bytes / elapsed / 1e6, 1),
              "p50_ms": round(percentile(latencies, 50) * 1000, 2),
              "p99_ms": round(percentile(latencies, 99) * 1000, 2),
              "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
              "errors": len(errors), "first_errors": errors[:5],
              "reconnects": sum(o.get("reconnects", 0) for o in outs)}
    if connections:
        connects = sorted(x for o in outs for x in o["connects"])
        result.update(rounds=rounds, connect_p99_ms=round(percentile(connects, 99) * 1000, 2),
                      connect_max_ms=round(connects[-1] * 1000, 2) if connects else 0.0,
                      connects_over_1s=sum(1 for c in connects if c >= 1.0))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=10, help="keep-alive clients requesting back to back")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip (the body is not decoded)")
    parser.add_argument("--connections", type=int, default=0,
                        help="burst mode: this many new connections at once, one request each, round after round")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.clients, args.seconds, args.gzip, args.connections)), flush=True)


if __name__ == "__main__":
    main()
