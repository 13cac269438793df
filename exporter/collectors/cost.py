"""Cost Explorer: GetCostAndUsage grouped by SERVICE, the fewest requests that do the job.

Every Cost Explorer request costs $0.01, so one refresh of one account makes at most two requests
(plus NextPageToken pages), each filtered to the account (LINKED_ACCOUNT: from an Organizations
management account, Cost Explorer would otherwise answer for the whole organization):

* DAILY   [yesterday - baseline_days, as_of)  → yesterday's cost and the trailing baseline (longer with
  ``history_days``, for the reporter's history: same request, bigger pages); the window
  reaches further back when an earlier refresh saw a day still marked ``Estimated``, so that day is
  fetched again (and replaces, never duplicates, the old value downstream).
* MONTHLY [1st of last month, as_of)           → last month (complete) and month to date (partial; on the
  1st of a month the window holds last month only, and month to date is $0 for every service known). Not sent when the DAILY window
  already starts on or before the 1st of last month (``history_days`` of about 62 or more): both are
  then the sums of its days, one request instead of two.

Exposition (values are floats of the exact API decimals)::

    aws_cost_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2",granularity="daily"} 412.07
    aws_cost_usd{...,granularity="monthly"} 11803.5
    aws_cost_month_to_date_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2"} 9120.4
    aws_cost_daily_baseline_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2"} 398.2
    aws_cost_period_start_timestamp_seconds{account="prod-web",account_id="111111111111",project="web",granularity="daily"} 1.7640288e+09
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.collectors.base import ACCOUNT_LABELS, Collected, PerAccountCollector, account_labels
from exporter.config import Account, CostSettings
from exporter.snapshot import AccountResult

UTC = dt.timezone.utc
DAILY, MONTHLY = "daily", "monthly"
MONTH_TO_DATE = "month_to_date"
MAX_PAGES = 100  # a runaway NextPageToken loop would cost real money


@dataclass(frozen=True, slots=True)
class CostRecord:
    """One service's cost for one period (``period_end`` exclusive, as Cost Explorer reports it)."""

    KIND: ClassVar[str] = "cost"

    service: str
    granularity: str  # "daily" | "monthly" (a monthly period ending before the month does is month to date)
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    unit: str
    metric: str
    estimated: bool


@dataclass(frozen=True, slots=True)
class CostQuery:
    granularity: str  # "DAILY" | "MONTHLY"
    start: dt.date
    end: dt.date  # exclusive
    metric: str
    account_id: str | None = None  # LINKED_ACCOUNT filter

    @property
    def record_granularity(self) -> str:
        return DAILY if self.granularity == "DAILY" else MONTHLY

    def request(self, next_page_token: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": self.start.isoformat(), "End": self.end.isoformat()},
            "Granularity": self.granularity,
            "Metrics": [self.metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        if self.account_id is not None:
            request["Filter"] = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [self.account_id]}}
        if next_page_token:
            request["NextPageToken"] = next_page_token
        return request


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month_start(day: dt.date) -> dt.date:
    return first_of_month(first_of_month(day) - dt.timedelta(days=1))


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
    token: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page = client.get_cost_and_usage(**query.request(token))
        yield page
        token = page.get("NextPageToken")
        if not token:
            return
        if token in seen:  # the same page again: following it would loop until max_pages, at $0.01 each
            raise RuntimeError("GetCostAndUsage returned a NextPageToken it had already given; refusing to loop")
        seen.add(token)
    raise RuntimeError(f"GetCostAndUsage returned more than {max_pages} pages; refusing to spend more")


def parse_page(page: Mapping[str, Any], metric: str, granularity: str) -> tuple[CostRecord, ...]:
    """Records from one GetCostAndUsage response grouped by SERVICE; amounts stay exact decimals.

    ``granularity`` is the request's (``daily``/``monthly``), never guessed from a period's length: on the
    2nd of a month, the MONTHLY answer's month to date is one day long too."""
    records = []
    for result in page.get("ResultsByTime", ()):
        period = result["TimePeriod"]
        start, end = dt.date.fromisoformat(period["Start"]), dt.date.fromisoformat(period["End"])
        estimated = bool(result.get("Estimated", False))
        for group in result.get("Groups", ()):
            value = group.get("Metrics", {}).get(metric)
            if value is None:
                continue
            records.append(CostRecord(
                # Interned: the same few dozen names recur in every period of every account.
                service=sys.intern(group["Keys"][0]),
                granularity=granularity,
                period_start=start,
                period_end=end,
                amount=Decimal(value["Amount"]),
                unit=sys.intern(value.get("Unit", "USD")),
                metric=metric,
                estimated=estimated,
            ))
    return tuple(records)


def _merge_pages(pages: Iterable[tuple[CostRecord, ...]]) -> tuple[CostRecord, ...]:
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
                    r.service, MONTHLY, start, end, r.amount + (before.amount if before else 0), r.unit, r.metric,
                    r.estimated or (before is not None and before.estimated))
    return tuple(sums.values())


def oldest_estimated_day(previous: AccountResult | None) -> dt.date | None:
    if previous is None:
        return None
    days = [r.period_start for r in previous.records if r.granularity == DAILY and r.estimated]
    return min(days) if days else None


class CostCollector(PerAccountCollector):
    name = "cost"

    def __init__(self, settings: CostSettings, client_for: Callable[[Account, str], Any],
                 project_budgets: Mapping[str, Decimal] | None = None):
        """``client_for(account, service)`` returns a boto3 client in that account (Cost Explorer is global)."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.retry_interval_seconds = settings.retry_interval_seconds
        self.client_for = client_for
        self.project_budgets = dict(project_budgets or {})

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Collected:
        client = self.client_for(account, "ce")
        queries = plan_queries(as_of, self.settings, oldest_estimated_day(previous), account.id)
        pages = [parse_page(page, self.settings.metric, query.record_granularity)
                 for query in queries for page in fetch_pages(client, query)]
        records = _merge_pages(pages)
        if len(queries) == 1:
            records = _merge_pages([records, months_from_days(records, as_of)])
        return Collected(records=records)

    def families(self, results: Sequence[AccountResult], accounts: Mapping[str, Account],
                 as_of: dt.date) -> Iterable[Metric]:
        yield from cost_families(results, accounts, self.settings.baseline_days)
        yield budget_family(self.project_budgets, accounts.values())


# -------------------------------------------------------------------------------------- exposition


@dataclass(frozen=True, slots=True)
class CostView:
    """The periods one account's records answer, relative to the as-of day they were collected for."""

    daily: dict[str, Decimal]
    monthly: dict[str, Decimal]
    month_to_date: dict[str, Decimal]
    baseline: dict[str, Decimal]
    periods: dict[str, tuple[dt.date, bool]]  # granularity → (period start, any estimated)


def view(records: Sequence[CostRecord], as_of: dt.date, baseline_days: int) -> CostView:
    yesterday = as_of - dt.timedelta(days=1)
    last_month = previous_month_start(as_of)
    this_month = first_of_month(as_of)
    baseline_start = yesterday - dt.timedelta(days=baseline_days)
    daily: dict[str, Decimal] = {}
    monthly: dict[str, Decimal] = {}
    mtd: dict[str, Decimal] = {}
    baseline_sum: dict[str, Decimal] = defaultdict(Decimal)
    # The periods a successful refresh covers, whether or not any service had cost in them (an account with
    # no cost yesterday still has yesterday as its daily period: month-end projections count its days).
    # On the 1st the month to date is an empty period: it still starts (days elapsed 0) and is worth $0.
    periods: dict[str, tuple[dt.date, bool]] = {DAILY: (yesterday, False), MONTHLY: (last_month, False),
                                                 MONTH_TO_DATE: (this_month, False)}

    def seen(granularity: str, start: dt.date, estimated: bool) -> None:
        _, before = periods.get(granularity, (start, False))
        periods[granularity] = (start, before or estimated)

    for r in records:
        if r.granularity == DAILY:
            if r.period_start == yesterday:
                daily[r.service] = r.amount
                seen(DAILY, yesterday, r.estimated)
            elif baseline_start <= r.period_start < yesterday:
                baseline_sum[r.service] += r.amount
        elif r.period_start == last_month and r.period_end == this_month:
            monthly[r.service] = r.amount
            seen(MONTHLY, last_month, r.estimated)
        elif r.period_start == this_month and as_of > this_month:
            mtd[r.service] = r.amount
            seen(MONTH_TO_DATE, this_month, r.estimated)
    services = set(baseline_sum) | set(daily)
    baseline = {s: baseline_sum.get(s, Decimal(0)) / baseline_days for s in services}
    if as_of == this_month:  # a real $0 for every service the account has, not a gap until the 2nd
        mtd = dict.fromkeys(services | set(monthly), Decimal(0))
    return CostView(daily, monthly, mtd, baseline, periods)


def _midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC).timestamp()


def cost_families(results: Sequence[AccountResult], accounts: Mapping[str, Account],
                  baseline_days: int) -> Iterator[Metric]:
    cost = GaugeMetricFamily(
        "aws_cost_usd",
        "Cost per service from Cost Explorer GetCostAndUsage (ResultsByTime[].Groups[].Metrics, grouped by "
        "SERVICE): granularity=daily is the last complete UTC day, monthly the last complete month. Cached: "
        "collected on the exporter's schedule, see aws_exporter_collector_last_success_timestamp_seconds.",
        labels=ACCOUNT_LABELS + ["service", "granularity"])
    mtd = GaugeMetricFamily(
        "aws_cost_month_to_date_usd",
        "Cost per service from the 1st of the month up to (not including) today, from Cost Explorer "
        "GetCostAndUsage MONTHLY. On the 1st of a month (no complete day yet) 0 for every service the account's "
        "last month, yesterday or baseline has. Cached.",
        labels=ACCOUNT_LABELS + ["service"])
    baseline = GaugeMetricFamily(
        "aws_cost_daily_baseline_usd",
        f"Mean daily cost per service over the {baseline_days} days before yesterday (days without cost count "
        "as 0), from the same Cost Explorer GetCostAndUsage DAILY request. Cached.",
        labels=ACCOUNT_LABELS + ["service"])
    period_start = GaugeMetricFamily(
        "aws_cost_period_start_timestamp_seconds",
        "Start (UTC midnight) of the period aws_cost_usd / aws_cost_month_to_date_usd describe, by granularity "
        "(daily, monthly, month_to_date).",
        labels=ACCOUNT_LABELS + ["granularity"])
    estimated = GaugeMetricFamily(
        "aws_cost_estimated",
        "1 when Cost Explorer still marks the period as Estimated (ResultsByTime[].Estimated): the figure may "
        "change; it is fetched again on later refreshes.",
        labels=ACCOUNT_LABELS + ["granularity"])
    for result in results:
        account = accounts.get(result.account_id)
        if account is None or result.as_of is None or result.last_success is None:
            continue
        labels = account_labels(account)
        v = view(result.records, result.as_of, baseline_days)
        for service, amount in sorted(v.daily.items()):
            cost.add_metric(labels + [service, DAILY], float(amount))
        for service, amount in sorted(v.monthly.items()):
            cost.add_metric(labels + [service, MONTHLY], float(amount))
        for service, amount in sorted(v.month_to_date.items()):
            mtd.add_metric(labels + [service], float(amount))
        for service, amount in sorted(v.baseline.items()):
            baseline.add_metric(labels + [service], float(amount))
        for granularity, (start, is_estimated) in sorted(v.periods.items()):
            period_start.add_metric(labels + [granularity], _midnight(start))
            estimated.add_metric(labels + [granularity], 1.0 if is_estimated else 0.0)
    yield from (cost, mtd, baseline, period_start, estimated)


def budget_family(project_budgets: Mapping[str, Decimal], accounts: Iterable[Account]) -> Metric:
    """Monthly budgets from config (budgets.projects.<project>, accounts[].budget_usd); account is empty
    on a project's budget, which Prometheus reads as ``aws_cost_budget_usd{project="web"}``."""
    budget = GaugeMetricFamily(
        "aws_cost_budget_usd",
        "Monthly budget in USD from config.yaml: budgets.projects.<project> (account=\"\") or accounts[].budget_usd.",
        labels=["project", "account"])
    for project, amount in sorted(project_budgets.items()):
        budget.add_metric([project, ""], float(amount))
    for account in accounts:
        if account.budget_usd is not None:
            budget.add_metric([account.project, account.name], float(account.budget_usd))
    return budget
