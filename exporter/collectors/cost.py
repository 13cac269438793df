"""Cost Explorer: GetCostAndUsage grouped by SERVICE, the fewest requests that do the job.

Every Cost Explorer request costs $0.01, so one refresh of one account makes at most two requests
(plus NextPageToken pages), each filtered to the account (LINKED_ACCOUNT: from an Organizations
management account, Cost Explorer would otherwise answer for the whole organization):

* DAILY   [yesterday - baseline_days, as_of)  → yesterday's cost and the trailing baseline (longer with
  ``history_days``, for the reporter's history: same request, bigger pages); the window
  reaches further back when an earlier refresh saw a day still marked ``Estimated``, so that day is
  fetched again (and replaces, never duplicates, the old value downstream).
* MONTHLY [1st of last month, as_of)           → last month (complete) and month to date (partial; on
  the 1st of a month the window holds last month only). Not sent when the DAILY window already starts on
  or before the 1st of last month (``history_days`` of about 62 or more): both are then the sums of its
  days, one request instead of two.

Each result carries a :class:`~exporter.model.CostDetail`: the periods the refresh covered and the
baseline window, which is all the exposition (``exporter.exposition.cost``) needs besides the records.
Payer mode (``collectors.cost.mode: payer``, one query set for the whole organization) is
:mod:`exporter.collectors.cost_payer`, built on the same queries and parsing.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.answers import reads_answer
from exporter.collectors.base import Collected, PerAccountCollector
from exporter.collectors.cost_signals import CostSignalRequests, PlannedRequests, with_signals
from exporter.collectors.paging import MAX_PAGES, paged
from exporter.config import Account, CostSettings
from exporter.compact import CostRecords
from exporter.model import DAILY, MONTHLY, AccountResult, Amount, CostRecord
from exporter.periods import cost_detail, first_of_month, previous_month_start

OPERATIONS = (("ce", "GetCostAndUsage"),)


@dataclass(frozen=True, slots=True)
class CostQuery:
    granularity: str  # "DAILY" | "MONTHLY"
    start: dt.date
    end: dt.date  # exclusive
    metric: str
    account_id: str | None = None  # LINKED_ACCOUNT filter
    # Payer mode: grouped by LINKED_ACCOUNT then SERVICE (each group's Keys are [account id, service]).
    group_by_account: bool = False

    @property
    def record_granularity(self) -> str:
        return DAILY if self.granularity == "DAILY" else MONTHLY

    def request(self, next_page_token: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": self.start.isoformat(), "End": self.end.isoformat()},
            "Granularity": self.granularity,
            "Metrics": [self.metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in
                        (("LINKED_ACCOUNT", "SERVICE") if self.group_by_account else ("SERVICE",))],
        }
        if self.account_id is not None:
            request["Filter"] = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [self.account_id]}}
        if next_page_token:
            request["NextPageToken"] = next_page_token
        return request


def plan_queries(as_of: dt.date, settings: CostSettings, oldest_estimated: dt.date | None = None,
                 account_id: str | None = None) -> tuple[CostQuery, ...]:
    """The requests one refresh needs, as of ``as_of`` (today, UTC): DAILY, and MONTHLY unless the DAILY
    window already holds every day of last month and this month."""
    yesterday = as_of - dt.timedelta(days=1)
    daily_start = yesterday - dt.timedelta(days=max(settings.baseline_days, settings.history_days - 1))
    refetch_limit = as_of - dt.timedelta(days=settings.refetch_estimated_days)
    if oldest_estimated is not None and refetch_limit <= oldest_estimated < daily_start:
        daily_start = oldest_estimated
    daily = CostQuery("DAILY", daily_start, as_of, settings.metric, account_id)
    if daily_start <= previous_month_start(as_of):
        return (daily,)
    return (daily, CostQuery("MONTHLY", previous_month_start(as_of), as_of, settings.metric, account_id))


def fetch_pages(client: Any, query: CostQuery, max_pages: int = MAX_PAGES) -> Iterator[Mapping[str, Any]]:
    """GetCostAndUsage pages for one query (boto3 has no paginator for it)."""
    return paged(client.get_cost_and_usage, query.request, "GetCostAndUsage", max_pages)


def parse_page(page: Mapping[str, Any], metric: str, granularity: str) -> tuple[CostRecord, ...]:
    """Records from one GetCostAndUsage response grouped by SERVICE; amounts stay exact decimals.

    ``granularity`` is the request's (``daily``/``monthly``), never guessed from a period's length: on the
    2nd of a month, the MONTHLY answer's month to date is one day long too."""
    return tuple(record for _, record in parse_groups(page, metric, granularity))


@reads_answer("GetCostAndUsage")
def parse_groups(page: Mapping[str, Any], metric: str, granularity: str) -> Iterator[tuple[str, CostRecord]]:
    """(first group key, record) for each group of one GetCostAndUsage response: the service is always the
    last key, so grouped by LINKED_ACCOUNT and SERVICE the first key is the account id."""
    for result in page.get("ResultsByTime", ()):
        period = result["TimePeriod"]
        start, end = dt.date.fromisoformat(period["Start"]), dt.date.fromisoformat(period["End"])
        estimated = bool(result.get("Estimated", False))
        for group in result.get("Groups", ()):
            value = group.get("Metrics", {}).get(metric)
            if value is None:
                continue
            keys = group["Keys"]
            yield keys[0], CostRecord(
                # Interned: the same few dozen names recur in every period of every account.
                service=sys.intern(keys[-1]),
                granularity=granularity,
                period_start=start,
                period_end=end,
                amount=Amount(value["Amount"]),
                unit=sys.intern(value.get("Unit", "USD")),
                metric=metric,
                estimated=estimated,
            )


def _merge_pages(pages: Iterable[Iterable[CostRecord]]) -> tuple[CostRecord, ...]:
    """One record per (service, granularity, period): a later page never duplicates an earlier one."""
    merged: dict[tuple[str, str, dt.date], CostRecord] = {}
    for records in pages:
        for record in records:
            merged[(record.service, record.granularity, record.period_start)] = record
    return tuple(sorted(merged.values(), key=lambda r: (r.granularity, r.period_start, r.service)))


def months_from_days(records: Sequence[CostRecord], as_of: dt.date) -> tuple[CostRecord, ...]:
    """Last month and month to date as MONTHLY would answer them, summed from DAILY records that cover
    every day of both (per service; estimated when any of its days is)."""
    last_month, this_month = previous_month_start(as_of), first_of_month(as_of)
    periods = [(last_month, this_month)] + ([(this_month, as_of)] if as_of > this_month else [])
    sums: dict[tuple[str, dt.date], CostRecord] = {}
    for r in records:
        if r.granularity != DAILY:
            continue
        for start, end in periods:
            if start <= r.period_start < end:
                before = sums.get((r.service, start))
                sums[(r.service, start)] = CostRecord(
                    r.service, MONTHLY, start, end, Amount(r.amount + (before.amount if before else 0)), r.unit, r.metric,
                    r.estimated or (before is not None and before.estimated))
    return tuple(sums.values())


def oldest_estimated_day(previous: AccountResult | None) -> dt.date | None:
    if previous is None:
        return None
    days = [r.period_start for r in previous.records if r.granularity == DAILY and r.estimated]
    return min(days) if days else None


class CostCollector(PerAccountCollector):
    name = "cost"
    operations = OPERATIONS

    def __init__(self, settings: CostSettings, client_for: Callable[[Account, str], Any]):
        """``client_for(account, service)`` returns a boto3 client in that account (Cost Explorer is global)."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.retry_interval_seconds = settings.retry_interval_seconds
        self.client_for = client_for
        self.signals = CostSignalRequests(settings)  # drivers, record types, anomalies, forecast
        self.operations = OPERATIONS + self.signals.operations

    def planned_requests(self, as_of: dt.date, accounts: int) -> tuple[PlannedRequests, ...]:
        """What a refresh of ``accounts`` accounts will ask (each request plus its pages), for a dry run."""
        cost = PlannedRequests("cost", "GetCostAndUsage", accounts * len(plan_queries(as_of, self.settings)))
        return (cost, *self.signals.planned(accounts, payer=False))

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        client = self.client_for(account, "ce")
        queries = plan_queries(as_of, self.settings, oldest_estimated_day(previous), account.id)
        pages = [parse_page(page, self.settings.metric, query.record_granularity)
                 for query in queries for page in fetch_pages(client, query)]
        records = _merge_pages(pages)
        if len(queries) == 1:
            records = _merge_pages([records, months_from_days(records, as_of)])
        detail = cost_detail(as_of, self.settings.baseline_days)
        signals = self.signals.for_account(client, account, records, detail, previous)
        return Collected(records=CostRecords(records), detail=with_signals(detail, signals))
