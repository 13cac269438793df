"""/metrics latency against the number of series.

Builds a snapshot with N aws_cost_usd series (accounts × services × {daily, monthly} plus the related
families), measures how long rendering it once takes, then scrapes /metrics over loopback HTTP
(plain and gzip) and reports p50/p99 latency and body sizes. Renders are counted to show scrapes reuse
the cached bytes.

    python bench/metrics_latency.py [--series 1000 10000 100000] [--scrapes 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.fleet import infos  # noqa: E402
from exporter.collectors.base import Collected  # noqa: E402
from exporter.collectors.cost import CostCollector  # noqa: E402
from exporter.config import CostSettings, parse  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.model import DAILY, MONTHLY, CostRecord, Snapshot  # noqa: E402
from exporter.periods import cost_detail  # noqa: E402
from exporter.scheduler import Runner  # noqa: E402
from exporter.server import WebServer  # noqa: E402
from exporter.snapshot import SnapshotHolder  # noqa: E402
from exporter.telemetry import ApiStats  # noqa: E402

AS_OF = dt.date(2026, 11, 25)
SERVICES_PER_ACCOUNT = 50


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


def run(series: int, scrapes: int) -> dict:
    accounts = max(1, series // (2 * SERVICES_PER_ACCOUNT))
    config = parse({"accounts": [{"id": f"{n:012d}", "name": f"acct-{n}", "project": f"proj-{n % 20}",
                                  "role_arn": f"arn:aws:iam::{n:012d}:role/r"} for n in range(1, accounts + 1)]})
    collector = SyntheticCost(CostSettings(), client_for=lambda *_: None)
    holder = SnapshotHolder(Snapshot.empty(infos(config.accounts)))
    exposition = Exposition({collector.name: collector.interval_seconds}, ApiStats())
    holder.subscribe(exposition.on_snapshot)
    runner = Runner(config.accounts, holder)

    t0 = time.perf_counter()
    runner.run(collector, AS_OF)  # publishing renders once
    publish_seconds = time.perf_counter() - t0
    renders = exposition.renders

    server = WebServer("127.0.0.1", 0, exposition, lambda: holder.current)
    server.start()
    result = {"series_cost_usd": accounts * SERVICES_PER_ACCOUNT * 2, "accounts": accounts,
              "collect_and_render_seconds": round(publish_seconds, 3)}
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with httpx.Client(timeout=60) as http:
            for encoding in ("identity", "gzip"):
                latencies, size = [], 0
                for _ in range(scrapes):
                    start = time.perf_counter()
                    response = http.get(url, headers={"Accept-Encoding": encoding})
                    raw = response.read() if encoding == "identity" else response.content
                    latencies.append(time.perf_counter() - start)
                    size = int(response.headers["Content-Length"])
                    assert raw
                latencies.sort()
                result[f"{encoding}_p50_ms"] = round(statistics.median(latencies) * 1000, 2)
                result[f"{encoding}_p99_ms"] = round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)
                result[f"{encoding}_bytes"] = size
    finally:
        server.stop()
    result["renders_during_scrapes"] = exposition.renders - renders
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    for series in args.series:
        print(run(series, args.scrapes), flush=True)


if __name__ == "__main__":
    main()
