"""/metrics latency under concurrent scrapers, against the number of series.

Builds a snapshot with N aws_cost_usd series (accounts × 50 services × {daily, monthly}, plus the related
families) through the real runner and exposition, serves it with the exporter's own web server in this
process, and drives it from a separate client process (bench/scrape_client.py: raw sockets, every byte
read, nothing decompressed), so the client never holds the server's GIL. Prints one markdown table row a
run (the rows bench/README.md holds).

    python bench/metrics_latency.py --series 100000 --clients 10 --seconds 30 --gzip
    python bench/metrics_latency.py --series 100000 --connections 50 --seconds 30 --gzip
    python bench/metrics_latency.py --series 10000 100000 --clients 10 --seconds 30 --gzip --peer

``--peer``: the same series as prometheus_client Gauges, rendered (and gzipped) on every scrape by
prometheus_client's own server: the usual way, for comparison. ``--py-spy FILE``: a py-spy flame graph
(SVG; collapsed stacks if FILE ends in .txt) of the server process for the run (pip install py-spy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.collectors.base import Collected  # noqa: E402
from exporter.collectors.cost import CostCollector  # noqa: E402
from exporter.config import CostSettings, parse  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.fleet import infos  # noqa: E402
from exporter.model import DAILY, MONTHLY, CostRecord, Snapshot  # noqa: E402
from exporter.periods import cost_detail  # noqa: E402
from exporter.scheduler import Runner  # noqa: E402
from exporter.server import WebServer  # noqa: E402
from exporter.snapshot import SnapshotHolder  # noqa: E402
from exporter.telemetry import ApiStats  # noqa: E402

AS_OF = dt.date(2026, 11, 25)
SERVICES_PER_ACCOUNT = 50
CLIENT = Path(__file__).resolve().parent / "scrape_client.py"
HEADER = ("| series (aws_cost_usd) | server | load | encoding | clients | requests | p50 ms | p99 ms | max ms "
          "| body bytes | MB/s | CPU µs a request: server / client | connect max ms (≥ 1 s) | errors | renders |\n"
          "| ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


class SyntheticCost(CostCollector):
    """The real cost collector's exposition over records made here instead of fetched."""

    def collect_account(self, account, as_of, previous):
        yesterday = as_of - dt.timedelta(days=1)
        last_month = dt.date(2026, 10, 1)
        records = []
        for i in range(SERVICES_PER_ACCOUNT):
            service = f"Service {i:03d}"
            records.append(CostRecord(service, DAILY, yesterday, as_of, Decimal("12.3456789012"), "USD",
                                      "AmortizedCost", False))
            records.append(CostRecord(service, MONTHLY, last_month, dt.date(2026, 11, 1), Decimal("345.6789012345"),
                                      "USD", "AmortizedCost", False))
        return Collected(records=tuple(records), detail=cost_detail(as_of, self.settings.baseline_days))


def accounts_for(series: int) -> int:
    return max(1, series // (2 * SERVICES_PER_ACCOUNT))


def exporter_server(series: int):
    """The exporter's server over a published snapshot of ``series`` cost series: (server, exposition)."""
    accounts = accounts_for(series)
    config = parse({"accounts": [{"id": f"{n:012d}", "name": f"acct-{n}", "project": f"proj-{n % 20}",
                                  "role_arn": f"arn:aws:iam::{n:012d}:role/r"} for n in range(1, accounts + 1)]})
    collector = SyntheticCost(CostSettings(), client_for=lambda *_: None)
    holder = SnapshotHolder(Snapshot.empty(infos(config.accounts)))
    exposition = Exposition({collector.name: collector.interval_seconds}, ApiStats())
    holder.subscribe(exposition.on_snapshot)
    Runner(config.accounts, holder).run(collector, AS_OF)  # publishing renders once
    server = WebServer("127.0.0.1", 0, exposition, lambda: holder.current)
    server.start()
    return server, exposition


def peer_server(series: int):
    """The usual way: prometheus_client Gauges set per series, rendered and gzipped by its own server on
    every scrape. (server, None)."""
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    gauge = Gauge("aws_cost_usd", "Cost.", ["account_id", "account_name", "project", "service", "granularity"],
                  registry=registry)
    for n in range(1, accounts_for(series) + 1):
        for i in range(SERVICES_PER_ACCOUNT):
            for granularity, value in (("daily", 12.3456789012), ("monthly", 345.6789012345)):
                gauge.labels(f"{n:012d}", f"acct-{n}", f"proj-{n % 20}", f"Service {i:03d}", granularity).set(value)
    server, thread = start_http_server(0, "127.0.0.1", registry=registry)

    class Peer:
        port = server.server_address[1]

        @staticmethod
        def stop():
            server.shutdown()
            server.server_close()
    return Peer, None


def backlog(port: int) -> str:
    """The listening socket's backlog as the kernel holds it (ss's Send-Q for a listener), and the cap."""
    somaxconn = Path("/proc/sys/net/core/somaxconn").read_text().strip()
    try:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
        held = out.split()[2]
    except (OSError, IndexError, subprocess.SubprocessError):
        held = "? (no ss)"
    return f"listen backlog {held} (net.core.somaxconn {somaxconn})"


def tcp_counters() -> dict[str, int]:
    """The kernel's TCP counters (this network namespace, every process) that a dropped connection or a lost
    segment moves."""
    values: dict[str, int] = {}
    for path, prefix in (("/proc/net/netstat", "TcpExt:"), ("/proc/net/snmp", "Tcp:")):
        lines = [line.split() for line in Path(path).read_text().splitlines() if line.startswith(prefix)]
        values.update(zip(lines[0][1:], map(int, lines[1][1:])))
    return {k: values.get(k, 0) for k in ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "RetransSegs",
                                          "TCPTimeouts")}


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run(series: int, args: argparse.Namespace) -> str:
    server, exposition = (peer_server if args.peer else exporter_server)(series)
    renders = exposition.renders if exposition is not None else 0
    spy = None
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        command = [sys.executable, str(CLIENT), url, "--clients", str(args.clients), "--seconds", str(args.seconds),
                   "--connections", str(args.connections)] + (["--gzip"] if args.gzip else [])
        if args.py_spy:
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--output", args.py_spy,
                                    "--duration", str(int(args.seconds) + 2), "--nonblocking", "--threads"]
                                   + (["--format", "raw"] if args.py_spy.endswith(".txt") else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        counters = tcp_counters()
        before, cpu = load(), os.times()
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 120, check=True)
        after = os.times()
        result = json.loads(done.stdout)
        moved = {k: v - counters[k] for k, v in tcp_counters().items()}
        print(f"{series:,} series: {backlog(server.port)}; TCP counters during the run (whole machine): "
              + ", ".join(f"{k} +{v}" for k, v in moved.items()), file=sys.stderr, flush=True)
    finally:
        server.stop()
        if spy is not None:
            spy.wait(timeout=60)
    if result["errors"]:
        print(f"errors: {result['first_errors']}", file=sys.stderr)
    clients = f"{args.connections} new connections at once" if args.connections else f"{args.clients} keep-alive"
    if result.get("reconnects"):
        clients += f" (the server closed {result['reconnects']:,} times: connects timed)"
    connect = (f"{result['connect_max_ms']:,.1f} ({result['connects_over_1s']})" if args.connections else "-")
    rendered = exposition.renders - renders if exposition is not None else "each scrape"
    per_request = 1e6 / max(1, result["requests"])
    server_cpu = (after.user - cpu.user + after.system - cpu.system) * per_request
    client_cpu = (after.children_user - cpu.children_user + after.children_system - cpu.children_system) * per_request
    return (f"| {series:,} | {'peer (prometheus_client)' if args.peer else 'exporter'} | {before} → {load()} "
            f"| {'gzip' if args.gzip else 'identity'} | {clients} | {result['requests']:,} | {result['p50_ms']:.2f} "
            f"| {result['p99_ms']:.2f} | {result['max_ms']:.1f} | {result['body_bytes']:,} | {result['mb_per_s']:,.0f} "
            f"| {server_cpu:,.0f} / {client_cpu:,.0f} | {connect} | {result['errors']} | {rendered} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, nargs="+", default=[100_000])
    parser.add_argument("--clients", type=int, default=10, help="keep-alive clients requesting back to back")
    parser.add_argument("--connections", type=int, default=0,
                        help="burst mode: this many new connections at once (one request each), round after round")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gzip", action="store_true", help="ask for gzip (the client reads it without decoding)")
    parser.add_argument("--peer", action="store_true", help="prometheus_client's way instead, for comparison")
    parser.add_argument("--py-spy", metavar="FILE", help="record the server process with py-spy into FILE (SVG; collapsed stacks if FILE ends in .txt)")
    parser.add_argument("--no-header", action="store_true", help="the rows only")
    args = parser.parse_args()
    if not args.no_header:
        print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "  # clock-ok: a bench
              f"load averages (1/5/15 min) before → after each run", flush=True)
        print(HEADER, flush=True)
    for series in args.series:
        print(run(series, args), flush=True)


if __name__ == "__main__":
    main()
