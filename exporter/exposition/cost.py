"""Cost records → metric families, by the periods each result's :class:`~exporter.model.CostDetail` says
its refresh covered (values are floats of the exact API decimals)::

    aws_cost_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2",granularity="daily"} 412.07
    aws_cost_usd{...,granularity="monthly"} 11803.5
    aws_cost_month_to_date_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2"} 9120.4
    aws_cost_daily_baseline_usd{account="prod-web",account_id="111111111111",project="web",service="Amazon EC2"} 398.2
    aws_cost_period_start_timestamp_seconds{account="prod-web",account_id="111111111111",project="web",granularity="daily"} 1.7640288e+09
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.exposition.labels import ACCOUNT_LABELS, account_labels
from exporter.model import (DAILY, MONTH_TO_DATE, MONTHLY, UTC, AccountInfo, AccountResult, CostDetail, CostRecord,
                            UnmappedCost)
from exporter.periods import baseline_mean


@dataclass(frozen=True, slots=True)
class CostView:
    """The figures one account's records give for the periods its refresh covered."""

    daily: dict[str, Decimal]
    monthly: dict[str, Decimal]
    month_to_date: dict[str, Decimal]
    baseline: dict[str, Decimal]
    periods: dict[str, tuple[dt.date, bool]]  # granularity → (period start, any estimated)


def view(records: Sequence[CostRecord], detail: CostDetail) -> CostView:
    yesterday, last_month, mtd_period = detail.yesterday.start, detail.last_month, detail.month_to_date
    daily: dict[str, Decimal] = {}
    monthly: dict[str, Decimal] = {}
    mtd: dict[str, Decimal] = {}
    baseline_sum: dict[str, Decimal] = defaultdict(Decimal)
    # The periods a successful refresh covers, whether or not any service had cost in them (an account with
    # no cost yesterday still has yesterday as its daily period: month-end projections count its days).
    # On the 1st the month to date is an empty period: it still starts (days elapsed 0) and is worth $0.
    periods: dict[str, tuple[dt.date, bool]] = {DAILY: (yesterday, False), MONTHLY: (last_month.start, False),
                                                 MONTH_TO_DATE: (mtd_period.start, False)}

    def seen(granularity: str, estimated: bool) -> None:
        start, before = periods[granularity]
        periods[granularity] = (start, before or estimated)

    for r in records:
        if r.granularity == DAILY:
            if r.period_start == yesterday:
                daily[r.service] = r.amount
                seen(DAILY, r.estimated)
            elif r.period_start in detail.baseline:
                baseline_sum[r.service] += r.amount
        elif r.period_start == last_month.start and r.period_end == last_month.end:
            monthly[r.service] = r.amount
            seen(MONTHLY, r.estimated)
        elif r.period_start == mtd_period.start and mtd_period.days > 0:
            mtd[r.service] = r.amount
            seen(MONTH_TO_DATE, r.estimated)
    services = set(baseline_sum) | set(daily)
    # The DAILY request covers the whole baseline window: every day of it counts (no cost = $0).
    baseline = {s: baseline_mean(baseline_sum.get(s, Decimal(0)), detail.baseline) for s in services}
    if mtd_period.days == 0:  # the 1st: a real $0 for every service the account has, not a gap until the 2nd
        mtd = dict.fromkeys(services | set(monthly), Decimal(0))
    return CostView(daily, monthly, mtd, baseline, periods)  # type: ignore[arg-type]


def _midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC).timestamp()


def cost_families(results: Iterable[AccountResult], accounts: Mapping[str, AccountInfo]) -> Iterator[Metric]:
    cost = GaugeMetricFamily(
        "aws_cost_usd",
        "Cost per service from Cost Explorer GetCostAndUsage (ResultsByTime[].Groups[].Metrics, grouped by "
        "SERVICE): granularity=daily is the last complete UTC day, monthly the last complete month. Every record "
        "type is included (usage, credits, refunds, tax, support fees…: split in aws_cost_record_type_usd). Cached: "
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
        "Mean daily cost per service over the collectors.cost.baseline_days days before yesterday (days without "
        "cost count as 0), from the same Cost Explorer GetCostAndUsage DAILY request. Cached.",
        labels=ACCOUNT_LABELS + ["service"])
    period_start = GaugeMetricFamily(
        "aws_cost_period_start_timestamp_seconds",
        "Start (UTC midnight) of the period aws_cost_usd / aws_cost_month_to_date_usd describe, by granularity "
        "(daily, monthly, month_to_date; month_to_date starts today on the 1st).",
        labels=ACCOUNT_LABELS + ["granularity"])
    estimated = GaugeMetricFamily(
        "aws_cost_estimated",
        "1 when Cost Explorer still marks the period as Estimated (ResultsByTime[].Estimated): the figure may "
        "change; it is fetched again on later refreshes.",
        labels=ACCOUNT_LABELS + ["granularity"])
    for result in results:
        account = accounts.get(result.account_id)
        if account is None or result.last_success is None or not isinstance(result.detail, CostDetail):
            continue
        labels = account_labels(account)
        v = view([r for r in result.records if isinstance(r, CostRecord)], result.detail)
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


def unmapped_family(unmapped: Iterable[UnmappedCost]) -> Metric:
    """Payer mode's cost of accounts outside the fleet, so that no cost vanishes silently (absent in
    per-account mode, where no query sees such accounts)."""
    family = GaugeMetricFamily(
        "aws_exporter_cost_unmapped_usd",
        "Cost Explorer GetCostAndUsage (payer mode, grouped by LINKED_ACCOUNT and SERVICE) of linked accounts the "
        "exporter does not serve (excluded, not ACTIVE, outside organization.include_ous), summed: "
        "granularity=daily is the last complete UTC day, monthly the last complete month, as in aws_cost_usd. "
        "Cached.",
        labels=["granularity"])
    for u in sorted(unmapped, key=lambda u: u.granularity):
        family.add_metric([u.granularity], float(u.amount))
    return family


def budget_family(project_budgets: Mapping[str, Decimal], accounts: Iterable[AccountInfo]) -> Metric:
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
