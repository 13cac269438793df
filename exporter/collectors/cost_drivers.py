"""Why a spike moved: the usage types (Cost Explorer's USAGE_TYPE) behind each spiking service.

A spike is :func:`exporter.periods.is_spike` of a service's yesterday against its daily baseline, both from the
records the refresh just collected (``collectors.cost.drivers``: ``spike_ratio``, ``spike_min_usd``; at most
``max_spikes`` per account, biggest increase first). For each spiking service one more GetCostAndUsage
(Cost Explorer allows two GroupBy keys):

* per-account mode: DAILY [first day of the baseline window, today), filtered to the account (LINKED_ACCOUNT)
  and the service (SERVICE), grouped by USAGE_TYPE;
* payer mode: the same window, one request for all the accounts spiking in that service, filtered to them and
  to the service, grouped by LINKED_ACCOUNT and USAGE_TYPE.

Both give the same drivers: per usage type its cost yesterday and its mean over the baseline window (days
without cost count as $0, as for ``aws_cost_daily_baseline_usd``); the top :data:`TOP_DRIVERS` by increase, only
those that rose. Every page is billed and counted; a request takes at most ``MAX_PAGES`` pages per account asked.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from exporter.answers import reads_answer
from exporter.collectors.paging import MAX_PAGES, paged
from exporter.config.model import DriverSettings
from exporter.model import DAILY, Amount, CostDetail, CostRecord, SpikeDrivers, UsageDriver
from exporter.periods import baseline_mean, is_spike

TOP_DRIVERS = 5


def find_spikes(records: Iterable[CostRecord], detail: CostDetail, settings: DriverSettings) -> list[SpikeDrivers]:
    """The account's spiking services yesterday, biggest increase first, at most ``max_spikes`` (their drivers not
    asked yet)."""
    yesterday: dict[str, Decimal] = {}
    in_baseline: dict[str, Decimal] = defaultdict(Decimal)
    had_cost: set[str] = set()
    for r in records:
        if r.granularity != DAILY:
            continue
        if r.period_start == detail.yesterday.start:
            yesterday[r.service] = r.amount
        elif r.period_start in detail.baseline:
            in_baseline[r.service] += r.amount
            if r.amount:
                had_cost.add(r.service)
    spikes = []
    for service, current in yesterday.items():
        mean = baseline_mean(in_baseline.get(service, Decimal(0)), detail.baseline)
        if mean is not None and is_spike(current, mean, service not in had_cost, settings.spike_ratio,
                                         settings.spike_min_usd):
            spikes.append(SpikeDrivers(service=service, yesterday=current, baseline_mean=mean, asked=False))
    spikes.sort(key=lambda s: (s.baseline_mean - s.yesterday, s.service))
    return spikes[:settings.max_spikes]


@dataclass(frozen=True, slots=True)
class DriverQuery:
    """One spiking service's request: ``account_ids`` the accounts spiking in it (one in per-account mode)."""

    service: str
    account_ids: tuple[str, ...]
    start: dt.date  # the first day of the baseline window
    end: dt.date  # today (exclusive): the window ends with yesterday
    metric: str
    by_account: bool = False  # payer mode: grouped by LINKED_ACCOUNT, USAGE_TYPE

    @classmethod
    def of(cls, service: str, account_ids: Sequence[str], detail: CostDetail, metric: str,
           by_account: bool = False) -> DriverQuery:
        return cls(service, tuple(sorted(account_ids)), detail.baseline.start, detail.yesterday.end, metric,
                   by_account)

    def request(self, next_page_token: str | None = None) -> dict[str, Any]:
        keys = ("LINKED_ACCOUNT", "USAGE_TYPE") if self.by_account else ("USAGE_TYPE",)
        request: dict[str, Any] = {
            "TimePeriod": {"Start": self.start.isoformat(), "End": self.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [self.metric],
            "Filter": {"And": [{"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(self.account_ids)}},
                               {"Dimensions": {"Key": "SERVICE", "Values": [self.service]}}]},
            "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in keys],
        }
        if next_page_token:
            request["NextPageToken"] = next_page_token
        return request


@reads_answer("GetCostAndUsage")
def parse_usage(pages: Iterable[Mapping[str, Any]], query: DriverQuery
                ) -> dict[str, dict[str, dict[dt.date, Decimal]]]:
    """account id → usage type → day → amount, from a driver request's pages (a day's groups may span pages)."""
    by_account: dict[str, dict[str, dict[dt.date, Decimal]]] = {}
    for page in pages:
        for result in page.get("ResultsByTime", ()):
            day = dt.date.fromisoformat(result["TimePeriod"]["Start"])
            for group in result.get("Groups", ()):
                value = group.get("Metrics", {}).get(query.metric)
                if value is None:
                    continue
                keys = group["Keys"]
                account_id = keys[0] if query.by_account else query.account_ids[0]
                usage = by_account.setdefault(account_id, {}).setdefault(sys.intern(keys[-1]), {})
                usage[day] = Amount(value["Amount"])
    return by_account


def top_drivers(usage: Mapping[str, Mapping[dt.date, Decimal]], detail: CostDetail) -> tuple[UsageDriver, ...]:
    """The usage types that rose most from their baseline mean to yesterday (at most :data:`TOP_DRIVERS`)."""
    drivers = []
    for usage_type, days in usage.items():
        yesterday = days.get(detail.yesterday.start, Decimal(0))
        total = sum((v for d, v in days.items() if d in detail.baseline), Decimal(0))
        mean = baseline_mean(total, detail.baseline) or Decimal(0)
        driver = UsageDriver(usage_type, Amount(yesterday), mean)
        if driver.increase > 0:
            drivers.append(driver)
    drivers.sort(key=lambda d: (-d.increase, d.usage_type))
    return tuple(drivers[:TOP_DRIVERS])


def fetch_drivers(client: Any, query: DriverQuery, detail: CostDetail
                  ) -> dict[str, tuple[UsageDriver, ...]]:
    """Each asked account's drivers of the query's service (every asked account gets an entry)."""
    pages = paged(client.get_cost_and_usage, query.request, "GetCostAndUsage", MAX_PAGES * len(query.account_ids))
    usage = parse_usage(pages, query)
    return {account_id: top_drivers(usage.get(account_id, {}), detail) for account_id in query.account_ids}


def spike_drivers(spike: SpikeDrivers, drivers: tuple[UsageDriver, ...] | None) -> SpikeDrivers:
    """``drivers`` None: not known (the request failed and nothing of the same day was kept)."""
    return msgspec.structs.replace(spike, drivers=drivers or (), asked=drivers is not None)
