"""Cost Explorer in payer mode (``collectors.cost.mode: payer``): one query set for the whole organization.

GetCostAndUsage from the organization's management account (``organization.role_arn``, or the exporter's own
identity), grouped by LINKED_ACCOUNT and SERVICE and not filtered, so one answer holds every linked
account; each served account gets the records per-account mode would give it (the same periods, exact
amounts and Estimated flags, so the same series), and the cost of linked accounts the exporter does not
serve is summed into :class:`~exporter.model.UnmappedCost` (yesterday, last month), so none vanishes.

Every request and every page costs $0.01, and a day Cost Explorer no longer marks ``Estimated`` does not
change, so the collector keeps the organization's answer for the days it needs for the process's life and
asks only for what may still change. The requests of one refresh as of D (today, UTC), each followed by
its NextPageToken pages:

* **First pass** (nothing kept yet), the same windows as per-account mode, once for the organization:
  DAILY [yesterday - max(baseline_days, history_days - 1), D) and MONTHLY [1st of last month, D).
* **Steady state**: DAILY from the first day of that window that is not final (Cost Explorer's windows are
  contiguous: usually the last few days, still estimated), and MONTHLY for the month to date only once
  last month is final (no MONTHLY at all on the 1st then: the month to date is empty). A day is never asked
  for again once final; a still-estimated day is asked again at every refresh while it is within
  ``refetch_estimated_days`` (always while it is yesterday or in its baseline window, as per-account mode
  asks those at every refresh).
* As in per-account mode, no MONTHLY request when the DAILY window holds every day of last month
  (``history_days`` of about 62 or more): last month and the month to date are the sums of the days.

A failed request fails the whole pass (the runner marks every account down and keeps its last good values)
and leaves what was kept unchanged. The scheduler retries such a collector as a whole (``fleet_wide``).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from exporter.answers import MalformedResponse
from exporter.collectors.base import Collected, FleetOutcomes
from exporter.collectors.cost_signals import CostSignalRequests, LazyClient, PlannedRequests, with_signals
from exporter.collectors.cost import (MAX_PAGES, OPERATIONS, CostQuery, _merge_pages, fetch_pages, months_from_days,
                                      parse_groups, plan_queries)
from exporter.config import Account, CostSettings
from exporter.compact import CostRecords
from exporter.model import DAILY, MONTHLY, AccountResult, Amount, CostDetail, CostRecord, UnmappedCost
from exporter.periods import ONE_DAY, cost_detail, first_of_month, month_windows

log = logging.getLogger(__name__)


def page_limit(query: CostQuery, accounts: int) -> int:
    """The most pages one payer query may take before it is taken for a runaway NextPageToken loop.

    Per-account mode allows :data:`~exporter.collectors.cost.MAX_PAGES` for one account's answer. A payer
    answer is every linked account's answer in one, so its pages grow with accounts × periods (× services):
    a fixed limit would cut off a large organization (1,000 accounts × 50 services × 15 days is 750,000
    groups, thousands of pages at the ~100 groups a page seen), while the limit must still stop a loop
    before it spends much. So: MAX_PAGES plus two pages per account and period, more than an account's
    services fill. ``accounts`` is the larger of the fleet and the linked accounts the answer has shown so
    far (the organization may be larger than the fleet served, e.g. with ``include_ous``)."""
    return MAX_PAGES + 2 * accounts * len(_periods(query))


@dataclass(frozen=True, slots=True)
class _Period:
    """One period of the organization's answer: still Estimated or not, and every linked account's records in one
    compact table (``spans``: each account's slice of it)."""

    estimated: bool
    records: CostRecords
    spans: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, estimated: bool, by_account: Mapping[str, Iterable[Iterable[CostRecord]]]) -> _Period:
        """``by_account``: each account's records, in pages (merged here: a later page never duplicates)."""
        spans: dict[str, tuple[int, int]] = {}

        def records() -> Iterator[CostRecord]:
            end = 0
            for account_id, pages in by_account.items():
                merged = _merge_pages(pages)
                spans[account_id] = (end, end + len(merged))
                end += len(merged)
                yield from merged
        return cls(estimated, CostRecords(records()), spans)

    def accounts(self) -> Iterable[str]:
        return self.spans.keys()

    def of_account(self, account_id: str) -> Sequence[CostRecord]:
        start, end = self.spans.get(account_id, (0, 0))
        return self.records[start:end]


def fetch_organization(client: Any, query: CostQuery, fleet_size: int) -> dict[tuple[dt.date, dt.date], _Period]:
    """Every period of one query grouped by LINKED_ACCOUNT and SERVICE, pages merged: a period's groups may
    be split across pages (the same TimePeriod on two pages, with other groups), and a period without any
    cost is still a period (its Estimated flag says whether it is final)."""
    estimated: dict[tuple[dt.date, dt.date], bool] = {}
    # Each page's records go compact at once (CostRecords): the first answer of a large organization holds
    # hundreds of thousands of them, ~190 bytes each as objects.
    chunks: dict[tuple[dt.date, dt.date], dict[str, list[CostRecords]]] = {}
    accounts: set[str] = set()
    for n, page in enumerate(fetch_pages(client, query, max_pages=sys.maxsize), 1):
        for result in page.get("ResultsByTime", ()):
            key = (dt.date.fromisoformat(result["TimePeriod"]["Start"]),
                   dt.date.fromisoformat(result["TimePeriod"]["End"]))
            estimated[key] = estimated.get(key, False) or bool(result.get("Estimated", False))
        on_page: dict[tuple[tuple[dt.date, dt.date], str], list[CostRecord]] = {}
        for account_id, record in parse_groups(page, query.metric, query.record_granularity):
            on_page.setdefault(((record.period_start, record.period_end), account_id), []).append(record)
            accounts.add(account_id)
        for (key, account_id), records in on_page.items():
            chunks.setdefault(key, {}).setdefault(account_id, []).append(CostRecords(records))
        del on_page
        if page.get("NextPageToken") and n >= (limit := page_limit(query, max(fleet_size, len(accounts)))):
            raise RuntimeError(f"GetCostAndUsage returned more than {limit} pages for {len(accounts)} linked "
                               "accounts; refusing to spend more")
    # Cost Explorer answers every period asked for, with or without cost. One missing is a broken answer
    # (botocore hands a body cut short over as an empty one), not a period without cost of any account.
    missing = sorted(set(_periods(query)) - set(estimated))
    if missing:
        raise MalformedResponse(f"answered without {len(missing)} of the periods asked for (from {missing[0][0]}): "
                                "incomplete answer", "GetCostAndUsage")
    return {key: _Period.of(is_estimated, chunks.get(key, {})) for key, is_estimated in estimated.items()}


def _periods(query: CostQuery) -> list[tuple[dt.date, dt.date]]:
    if query.granularity == "MONTHLY":
        return month_windows(query.start, query.end)
    return [(day, day + ONE_DAY) for day in _each_day(query.start, query.end)]


def _each_day(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    while start < end:
        yield start
        start += ONE_DAY


def unmapped_costs(records_by_account: Mapping[str, Sequence[CostRecord]], detail: CostDetail
                   ) -> tuple[UnmappedCost, ...]:
    """The cost of accounts outside the fleet for the periods ``aws_cost_usd`` shows: yesterday (daily) and
    last month (monthly); ``accounts`` counts those with any cost in the period."""
    unmapped = []
    for granularity, period in ((DAILY, detail.yesterday), (MONTHLY, detail.last_month)):
        total, accounts = Decimal(0), 0
        for records in records_by_account.values():
            amounts = [r.amount for r in records if r.granularity == granularity
                       and r.period_start == period.start and r.period_end == period.end]
            total += sum(amounts, Decimal(0))
            accounts += bool(amounts)
        unmapped.append(UnmappedCost(granularity, period.start, period.end, Amount(total), accounts))
    return tuple(unmapped)


class PayerCostCollector:
    """The fleet's cost from one organization-wide query set a refresh (see the module's docstring)."""

    name = "cost"
    fleet_wide = True  # one query set answers for every account: the scheduler retries a whole pass
    operations = OPERATIONS

    def __init__(self, settings: CostSettings, client: Callable[[], Any]):
        """``client()`` returns a Cost Explorer client in the organization's management account."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.retry_interval_seconds = settings.retry_interval_seconds
        self.client = client
        self.signals = CostSignalRequests(settings)  # drivers, record types, anomalies, forecast
        self.operations = OPERATIONS + self.signals.operations
        # Kept for the process's life, for every linked account (one discovery adds later is then served from
        # it too): the days of the needed window, and last month once asked.
        self._days: dict[dt.date, _Period] = {}
        self._last_month: tuple[dt.date, _Period] | None = None

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        raise NotImplementedError("payer mode collects the whole fleet at once (collect_fleet)")

    def _settled(self, day: dt.date, as_of: dt.date) -> bool:
        """Kept and not worth asking again: final, or still estimated but older than refetch_estimated_days
        and than the days the series show (yesterday and its baseline)."""
        kept = self._days.get(day)
        if kept is None:
            return False
        oldest_asked_again = min(as_of - dt.timedelta(days=self.settings.refetch_estimated_days),
                                 as_of - ONE_DAY - dt.timedelta(days=self.settings.baseline_days))
        return not kept.estimated or day < oldest_asked_again

    def plan(self, as_of: dt.date) -> tuple[CostQuery, ...]:
        """The requests this refresh needs, given what is kept (the module's docstring says which)."""
        needed = plan_queries(as_of, self.settings)
        daily, queries = needed[0], []
        start = next((d for d in _each_day(daily.start, as_of) if not self._settled(d, as_of)), None)
        if start is not None:
            queries.append(replace(daily, start=start, group_by_account=True))
        for monthly in needed[1:]:
            last = self._last_month
            if last is not None and last[0] == monthly.start and not last[1].estimated:
                monthly = replace(monthly, start=first_of_month(as_of))
            if monthly.start < as_of:
                queries.append(replace(monthly, group_by_account=True))
        return tuple(queries)

    def planned_requests(self, as_of: dt.date, accounts: int) -> tuple[PlannedRequests, ...]:
        """What this refresh will ask, given what is kept (each request plus its pages), for a dry run."""
        return (PlannedRequests("cost", "GetCostAndUsage", len(self.plan(as_of))),
                *self.signals.planned(accounts, payer=True))

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> FleetOutcomes:
        if not accounts:  # nothing served yet (discovery has not answered): nothing worth paying for
            return FleetOutcomes({})
        queries = self.plan(as_of)
        client = LazyClient(self.client)  # made when a request needs it: a refresh may ask nothing
        answers = [(query, fetch_organization(client, query, len(accounts))) for query in queries]

        # Only complete answers change what is kept (an exception above leaves it as it was).
        detail = cost_detail(as_of, self.settings.baseline_days)
        needed = plan_queries(as_of, self.settings)
        days = {day: p for day, p in self._days.items() if needed[0].start <= day < as_of}
        last_month = self._last_month if self._last_month and self._last_month[0] == detail.last_month.start else None
        month_to_date: _Period | None = None
        for query, answer in answers:
            if query.granularity == "DAILY":
                days.update({start: p for (start, _), p in answer.items()})
            else:
                last = answer.get((detail.last_month.start, detail.last_month.end))
                last_month = (detail.last_month.start, last) if last is not None else last_month
                mtd = answer.get((detail.month_to_date.start, detail.month_to_date.end))
                month_to_date = mtd
        self._days, self._last_month = dict(sorted(days.items())), last_month

        def records_of(account_id: str) -> tuple[CostRecord, ...]:
            daily = [r for p in self._days.values() for r in p.of_account(account_id)]
            if len(needed) == 1:  # the days hold last month: MONTHLY was not asked, as in per-account mode
                return _merge_pages([daily, months_from_days(daily, as_of)])
            monthly = (*(last_month[1].of_account(account_id) if last_month else ()),
                       *(month_to_date.of_account(account_id) if month_to_date else ()))
            return _merge_pages([daily, monthly])

        linked = set(month_to_date.accounts() if month_to_date else ()).union(
            *(p.accounts() for p in self._days.values()), last_month[1].accounts() if last_month else ())
        served = {a.id for a in accounts}
        unmapped = unmapped_costs({a: records_of(a) for a in sorted(linked - served)}, detail)
        log.info("event=cost_payer_refresh as_of=%s queries=%s linked_accounts=%d unmapped_accounts=%d",
                 as_of, ",".join(f"{q.granularity}:{q.start}..{q.end}" for q in queries) or "none", len(linked),
                 len(linked - served))
        kept = {a.id: CostRecords(records_of(a.id)) for a in accounts}
        signals, organization = self.signals.for_fleet(
            client, accounts, lambda a: kept[a] if a in kept else records_of(a), linked, detail, previous)
        return FleetOutcomes({a.id: Collected(records=kept[a.id], detail=with_signals(detail, signals.get(a.id)))
                              for a in accounts}, unmapped, organization)
