"""Billed Cost Explorer requests per refresh: per-account mode against payer mode, for fleets of N accounts.

Both collectors run through the real runner against the interpreting Cost Explorer stand-in
(``aws_ops_demo/cost_explorer.py``) over loopback HTTP: N accounts × 50 services (about one service-day in six without
usage), the last 3 days before today marked Estimated, and at most 100 groups a page. The page size is
the stand-in's assumption (Cost Explorer does not document one; it is close to the figure the issue
measured); pages are what payer mode's requests grow with.

* first pass: a refresh as of 2026-06-15 with nothing collected before;
* next day: the first refresh as of 2026-06-16 (payer mode: DAILY from the first day still estimated,
  MONTHLY for the month to date only, May being final);
* same day: the next refreshes of 2026-06-16 (payer mode: the day that turned final is not asked again).

USD per day: the default 6 h interval makes 4 refreshes a day (next day + 3 × same day), $0.01 a request
(every page is a request). Per-account mode asks the same at every refresh, so its day is 4 × one refresh.
STS is left out: AssumeRole is free, and which credentials sign a request does not change what it asks.

    python bench/payer_requests.py [--accounts 30 300 1000] [--services 50] [--page-size 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.collectors.cost import CostCollector  # noqa: E402
from exporter.collectors.cost_payer import PayerCostCollector  # noqa: E402
from exporter.config import Account, CostSettings  # noqa: E402
from exporter.fleet import infos  # noqa: E402
from exporter.model import Snapshot  # noqa: E402
from exporter.scheduler import Runner  # noqa: E402
from exporter.snapshot import SnapshotHolder  # noqa: E402
from exporter.telemetry import COST_EXPLORER_PRICE_PER_REQUEST_USD as PRICE  # noqa: E402
from aws_ops_demo.cost_explorer import CostData, CostExplorerStandIn  # noqa: E402

FIRST, NEXT = dt.date(2026, 6, 15), dt.date(2026, 6, 16)
REFRESHES_PER_DAY = 4  # collectors.cost.interval: 6h


def fleet(n: int) -> list[Account]:
    ids = [f"{100_000_000_000 + i:012d}" for i in range(n)]
    return [Account(id=a, name=f"acct-{a}", project="bench", role_arn=f"arn:aws:iam::{a}:role/ops-exporter")
            for a in ids]


def measure(mode: str, accounts: list[Account], stand_in: CostExplorerStandIn, client) -> dict:
    settings = CostSettings()
    collector = (PayerCostCollector(settings, lambda: client) if mode == "payer"
                 else CostCollector(settings, lambda account, service: client))
    runner = Runner(accounts, SnapshotHolder(Snapshot.empty(infos(accounts))))

    def refresh(as_of: dt.date) -> tuple[int, float]:
        stand_in.today = as_of
        before, t0 = len(stand_in.requests), time.perf_counter()
        snapshot = runner.run(collector, as_of)
        assert snapshot is not None and all(r.up for r in snapshot.for_collector("cost")), "a refresh failed"
        return len(stand_in.requests) - before, time.perf_counter() - t0

    first, first_s = refresh(FIRST)
    following, following_s = refresh(NEXT)
    if mode == "payer":
        same_day = [refresh(NEXT)[0] for _ in range(REFRESHES_PER_DAY - 1)]
    else:  # the same requests at every refresh
        same_day = [following] * (REFRESHES_PER_DAY - 1)
    per_day = following + sum(same_day)
    return {"mode": mode, "first": first, "next_day": following, "same_day": same_day[0], "per_day": per_day,
            "usd_per_day": per_day * PRICE, "first_s": first_s, "next_s": following_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="+", default=[30, 300, 1000])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"})
    services = [f"Service {i:02d}" for i in range(args.services)]
    rows = []
    for n in args.accounts:
        accounts = fleet(n)
        stand_in = CostExplorerStandIn(CostData([a.id for a in accounts], services), FIRST, estimated_days=3,
                                       page_size=args.page_size)
        with stand_in.serve() as endpoint:
            client = boto3.client("ce", region_name="us-east-1", endpoint_url=endpoint,
                                  config=BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}))
            for mode in ("per_account", "payer"):
                row = {"accounts": n, **measure(mode, accounts, stand_in, client)}
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    print(f"\n{args.services} services, {args.page_size} groups a page (stand-in), 3 days estimated, "
          f"{REFRESHES_PER_DAY} refreshes a day, ${PRICE} a request\n")
    print("| accounts | mode | first pass | next day | same day | requests / day | USD / day |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['accounts']:,} | {r['mode']} | {r['first']:,} | {r['next_day']:,} | {r['same_day']:,} | "
              f"{r['per_day']:,} | {Decimal(r['usd_per_day']):,.2f} |")


if __name__ == "__main__":
    main()
