"""Memory of one large snapshot: N accounts × 510 cost records (30 services, 15 daily + 2 monthly periods).

Parses real-shaped Cost Explorer answers into records, publishes them (rendering /metrics and
/snapshot once), and reports the records' memory, what the published renderings keep, the peak RSS,
and tracemalloc's peak for each rendering on its own.

    python bench/snapshot_memory.py [--accounts 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.fleet import infos  # noqa: E402
from exporter.collectors.cost import _merge_pages, parse_page  # noqa: E402
from exporter.config import parse  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.exposition.cost import cost_families  # noqa: E402
from exporter.exposition.render import render  # noqa: E402
from exporter.model import AccountResult, CollectorRun, Snapshot, encode_snapshot, utcnow  # noqa: E402
from exporter.periods import cost_detail  # noqa: E402
from exporter.snapshot import SnapshotHolder  # noqa: E402
from exporter.telemetry import ApiStats  # noqa: E402
from tests.aws_helpers import standard_seed  # noqa: E402

AS_OF = dt.date(2026, 11, 25)
SERVICES = {f"Service {i:02d}": f"{i}.0123456789" for i in range(30)}


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    n = parser.parse_args().accounts
    config = parse({"accounts": [{"id": f"{10**11 + i:012d}", "name": f"acct-{i}", "project": f"p{i % 10}",
                                  "role_arn": f"arn:aws:iam::{10**11 + i:012d}:role/r"} for i in range(n)]})
    before = rss_mib()
    results = []
    for account in config.accounts:
        pages = [parse_page(page, "AmortizedCost", granularity)
                 for page, granularity in zip(standard_seed(AS_OF, SERVICES), ("daily", "monthly"))]
        now = utcnow()
        results.append(AccountResult(collector="cost", account_id=account.id, records=_merge_pages(pages), up=True,
                                     last_attempt=now, last_success=now, duration_seconds=0.1, as_of=AS_OF,
                                     detail=cost_detail(AS_OF, 14)))
    gc.collect()
    records = rss_mib()
    holder = SnapshotHolder(Snapshot.empty(infos(config.accounts)))
    exposition = Exposition({"cost": 21600.0}, ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    holder.publish(CollectorRun(collector="cost", started=utcnow(), duration_seconds=1.0, accounts_ok=n,
                                accounts_failed=0), results)
    gc.collect()
    published = rss_mib()

    snapshot = holder.current
    tracemalloc.start()
    encode_snapshot(snapshot)
    json_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    render(cost_families(snapshot.for_collector("cost"), exposition.by_id))
    render_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print({"accounts": n, "records": sum(len(r.records) for r in results),
           "records_mib": round(records - before), "published_renderings_mib": round(published - records),
           "snapshot_json_mb": round(len(exposition.snapshot_json()) / 2**20),
           "metrics_text_mb": round(len(exposition.metrics()) / 2**20),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
           "json_encode_peak_mib": json_peak // 2**20, "metrics_render_peak_mib": render_peak // 2**20})


if __name__ == "__main__":
    main()
