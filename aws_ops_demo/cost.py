"""Seeds moto's Cost Explorer with the demo fleet's costs.

moto does not interpret a GetCostAndUsage query: it replays queued results, one per distinct request,
in the order requests arrive. So the seed is built from the collector's own query plan
(:func:`exporter.collectors.cost.plan_queries`), in the order the collector sends them, and each
response answers exactly the window and granularity asked for. The DAILY answer comes in two pages
(NextPageToken), as a real Cost Explorer answer for a large account does.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import httpx

from aws_ops_demo.fleet import ACCOUNTS, DemoAccount, daily_cost
from exporter.collectors.cost import CostQuery, plan_queries
from exporter.config import CostSettings
from exporter.periods import month_windows

SEED_PATH = "/moto-api/static/ce/cost-and-usage-results"
log = logging.getLogger(__name__)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def _amount(value: Decimal, metric: str) -> dict[str, Any]:
    return {metric: {"Amount": format(value, "f"), "Unit": "USD"}}


def _period(account: DemoAccount, start: dt.date, end: dt.date, metric: str, estimated: bool,
            spike_day: dt.date) -> dict[str, Any]:
    groups = []
    for service in account.services:
        total = sum((daily_cost(account, service, d, spike_day) for d in _days(start, end)), Decimal(0))
        groups.append({"Keys": [service], "Metrics": _amount(total, metric)})
    return {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Total": {}, "Groups": groups,
            "Estimated": estimated}


def responses(account: DemoAccount, query: CostQuery, as_of: dt.date, spike_day: dt.date) -> list[dict[str, Any]]:
    """The pages Cost Explorer would return for ``query`` (DAILY in two pages)."""
    if query.granularity == "DAILY":
        periods = [_period(account, d, d + dt.timedelta(days=1), query.metric,
                           estimated=d >= as_of - dt.timedelta(days=2), spike_day=spike_day)
                   for d in _days(query.start, query.end)]
        half = len(periods) // 2
        return [
            {"ResultsByTime": periods[:half], "DimensionValueAttributes": [], "NextPageToken": "demo-page-2"},
            {"ResultsByTime": periods[half:], "DimensionValueAttributes": []},
        ]
    periods = [_period(account, start, end, query.metric, estimated=end == as_of or as_of.day <= 3,
                       spike_day=spike_day)
               for start, end in month_windows(query.start, query.end)]
    return [{"ResultsByTime": periods, "DimensionValueAttributes": []}]


def seed(endpoint: str, as_of: dt.date, settings: CostSettings, days_ahead: int = 7,
         spike_day: dt.date | None = None) -> int:
    """Queue the answers for ``as_of`` and the ``days_ahead`` days after it; returns how many were queued.

    The spike stays on ``spike_day`` (default: the day before ``as_of``), so later days see it in their
    baseline window like a real past incident."""
    spike_day = spike_day or as_of - dt.timedelta(days=1)
    queued = 0
    with httpx.Client(base_url=endpoint, timeout=30) as http:
        for account in ACCOUNTS:
            results = []
            for offset in range(days_ahead + 1):
                day = as_of + dt.timedelta(days=offset)
                for query in plan_queries(day, settings):
                    results.extend(responses(account, query, day, spike_day))
            http.post(SEED_PATH, json={"account_id": account.id, "results": results}).raise_for_status()
            queued += len(results)
    return queued


class DailyTopUp:
    """Keeps a long-running demo (e.g. the compose demo profile) answering: moto's queue holds answers
    for a fixed number of days, so one more day is queued after every UTC midnight."""

    def __init__(self, endpoint: str, settings: CostSettings, first_day: dt.date, days_ahead: int = 7,
                 today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.timezone.utc).date()):
        self.endpoint, self.settings, self.today = endpoint, settings, today
        self.spike_day = first_day - dt.timedelta(days=1)
        self.next_day = first_day + dt.timedelta(days=days_ahead + 1)
        self.days_ahead = days_ahead
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-cost-top-up", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> int:
        """Queue every day that is now within ``days_ahead`` of today; returns how many days were queued."""
        queued = 0
        while self.next_day - dt.timedelta(days=self.days_ahead) <= self.today():
            seed(self.endpoint, self.next_day, self.settings, days_ahead=0, spike_day=self.spike_day)
            self.next_day += dt.timedelta(days=1)
            queued += 1
        return queued

    def _run(self) -> None:
        while not self._stop.wait(300):
            try:
                self.tick()
            except httpx.HTTPError as exc:
                log.warning("event=demo_cost_top_up_failed day=%s error=%r", self.next_day, str(exc))


class FleetCosts:
    """The fleet's costs as the interpreting Cost Explorer stand-in (:mod:`aws_ops_demo.cost_explorer`) reads
    them, in 1e-10 USD: what the payer account of the organization demo answers for every linked account."""

    def __init__(self, accounts: Sequence[DemoAccount], spike_day: dt.date):
        self._by_id = {a.id: a for a in accounts}
        self.accounts = [a.id for a in accounts]
        self.services = sorted({s for a in accounts for s in a.services})
        self.spike_day = spike_day

    def total(self, metric: str, account_id: str, service: str, start: dt.date, end: dt.date) -> int | None:
        account = self._by_id.get(account_id)
        if account is None or service not in account.services:
            return None
        total = sum((daily_cost(account, service, d, self.spike_day) for d in _days(start, end)), Decimal(0))
        return int(total.scaleb(10))
