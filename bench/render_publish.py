"""Render time per publish with a large cost part: what a Health or CloudWatch refresh costs the exporter.

N accounts × 50 services of cost (yesterday, last month, month to date and a 14-day baseline: 100 k
``aws_cost_usd`` series at 1,000 accounts) are published once; then Health results (a few events for a
few accounts, as every 5 minutes in production) are published R times, each re-rendering ``/metrics``.
Prints the median and max wall time of one publish (``SnapshotHolder.publish``, subscribers included).

    python bench/render_publish.py [--accounts 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.fleet import infos  # noqa: E402
from exporter.config import parse  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.model import (  # noqa: E402
    DAILY, MONTHLY, AccountResult, CollectorRun, CostRecord, HealthDetail, HealthEvent, Snapshot, utcnow,
)
from exporter.periods import cost_detail  # noqa: E402
from exporter.snapshot import SnapshotHolder  # noqa: E402
from exporter.telemetry import ApiStats  # noqa: E402

AS_OF = dt.date(2026, 11, 25)
SERVICES = [f"Service {i:02d}" for i in range(50)]


def cost_records(seed: int) -> tuple[CostRecord, ...]:
    records = []
    for i, service in enumerate(SERVICES):
        amount = Decimal(f"{seed % 97 + i}.0123456789")
        for back in range(1, 16):  # yesterday and the 14-day baseline
            day = AS_OF - dt.timedelta(days=back)
            records.append(CostRecord(service, DAILY, day, day + dt.timedelta(days=1), amount, "USD",
                                      "AmortizedCost", False))
        records.append(CostRecord(service, MONTHLY, dt.date(2026, 10, 1), dt.date(2026, 11, 1), amount * 30, "USD",
                                  "AmortizedCost", False))
        records.append(CostRecord(service, MONTHLY, dt.date(2026, 11, 1), AS_OF, amount * 24, "USD",
                                  "AmortizedCost", False))
    return tuple(records)


def health_event(n: int) -> HealthEvent:
    now = utcnow()
    return HealthEvent(f"arn:aws:health:us-east-1::event/EC2/ISSUE/{n}", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue",
                       "us-east-1", "open", "ACCOUNT_SPECIFIC", now, None, now, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    config = parse({"accounts": [{"id": f"{10**11 + i:012d}", "name": f"acct-{i}", "project": f"p{i % 10}",
                                  "role_arn": f"arn:aws:iam::{10**11 + i:012d}:role/r"} for i in range(args.accounts)]})
    holder = SnapshotHolder(Snapshot.empty(infos(config.accounts)))
    exposition = Exposition({"cost": 21600.0, "health": 300.0}, ApiStats(), process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    now = utcnow()
    detail = cost_detail(AS_OF, 14)
    costs = [AccountResult(collector="cost", account_id=a.id, records=cost_records(i), up=True, last_attempt=now,
                           last_success=now, as_of=AS_OF, detail=detail) for i, a in enumerate(config.accounts)]
    t0 = time.perf_counter()
    holder.publish(CollectorRun(collector="cost", started=now, duration_seconds=1.0, accounts_ok=len(costs),
                                accounts_failed=0), costs)
    cost_publish = time.perf_counter() - t0
    series = exposition.metrics().count(b"\naws_cost_usd{")
    times = []
    for r in range(args.repeat):
        health = [AccountResult(collector="health", account_id=a.id, records=(health_event(r),), up=True,
                                last_attempt=utcnow(), last_success=utcnow(), as_of=AS_OF, detail=HealthDetail())
                  for a in config.accounts[:5]]
        t0 = time.perf_counter()
        holder.publish(CollectorRun(collector="health", started=utcnow(), duration_seconds=1.0, accounts_ok=5,
                                    accounts_failed=0), health)
        times.append(time.perf_counter() - t0)
    print({"accounts": args.accounts, "aws_cost_usd_series": series, "cost_publish_s": round(cost_publish, 3),
           "health_publish_median_ms": round(statistics.median(times) * 1000, 1),
           "health_publish_max_ms": round(max(times) * 1000, 1), "metrics_mb": round(len(exposition.metrics()) / 2**20, 1)})


if __name__ == "__main__":
    main()
