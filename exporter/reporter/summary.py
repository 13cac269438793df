"""Facts first: every figure of the daily summary is computed here, in Python, from SQLite, never by the model.

:func:`build_facts` turns the history into one JSON-able document for a day ``D`` (a UTC cost day, as
Cost Explorer counts days): fleet/project/account totals for the day, month to date and last month;
top services; week-over-week movers (the day against the same weekday a week earlier, so the weekly rhythm is
not news; there are no day-over-day movers) and month-over-month movers; spikes against the daily baseline
(what it means, for the exporter too, is defined once in ``exporter/periods.py``: the mean over the
``baseline_days`` before the day, over the days of that window the account's history covers; a service with
no cost in the baseline is a new one, never a ratio against a zero or negative mean); budget projections;
open and upcoming Health events; next to each spike and mover, the CloudWatch series of its account and service
that moved (:mod:`exporter.reporter.cwcontext`); data freshness per exporter (failing or stale pulls) and failing
collectors (:mod:`exporter.reporter.freshness`; an account without a Business support plan is an expected
condition, not a failure); 14-day sparklines for the top movers. Times are in ``reporter.timezone``, to the
minute. A budget whose accounts' cost was never collected has no data (``month_to_date_usd`` None), which is
not a real $0. Amounts are exact sums of the stored decimal strings,
rounded to cents only at the end (percentages to one decimal, of the size of the amount compared against,
since credits make it negative, and none against zero). Month-over-month movers only for accounts whose
history covers both periods day by day.

AWS-originated text (Health descriptions, collector errors) is kept apart in ``aws_text`` so the LLM
prompt can fence it as data; the facts refer to it by id (``description_ref``, ``error_ref``), and one
text shared by many events (a public event seen by every account) is given once. None of its numbers
or names become facts. :func:`render.deterministic_text` renders the same facts without a model;
:mod:`exporter.reporter.factlist` gives each of them a stable id and typed fields for the model's claims.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from exporter.config.reporter import SummarySettings
from exporter.model import Period
from exporter.periods import (baseline_mean, baseline_window, days_in_month, first_of_month, is_spike,
                              previous_month_start)
from exporter.reporter import cwcontext, factlist
from exporter.reporter.forecasts import forecast_entries, forecast_facts
from exporter.reporter.freshness import age_hours, collector_states, exporter_freshness, local_time
from exporter.reporter.recordtypes import annotate_totals, record_type_entries, record_type_facts
from exporter.reporter.store import DEFAULT_COST_METRIC, Store

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
SPARK = "▁▂▃▄▅▆▇█"
# All AWS-originated text in one prompt (each Health description is already capped at 2,000 characters).
MAX_AWS_TEXT_CHARS = 12_000
SPARK_DAYS = 14
def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of the size of ``whole``: a change from -$40 (credits) to $0 is +100%, not -100%."""
    if whole == 0:
        return None
    return (part / abs(whole) * 100).quantize(TENTH, rounding=ROUND_HALF_UP)


def sparkline(values: Iterable[Decimal]) -> str:
    values = list(values)
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[0] * len(values)
    return "".join(SPARK[int((v - low) / (high - low) * (len(SPARK) - 1) + Decimal("0.5"))] for v in values)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def _covers(history: tuple[dt.date, dt.date] | None, start: dt.date, end: dt.date) -> bool:
    """Whether an account's history (its first day, the newest day the fleet has) spans [start, end): a fresh
    install has only part of last month. A day inside it without a row had no cost, which is data too."""
    return history is not None and history[0] <= start and end - dt.timedelta(days=1) <= history[1]


@dataclass(frozen=True, slots=True)
class Facts:
    day: dt.date
    data: Mapping[str, Any]  # JSON-able: Decimals, strings, ints, lists, dicts
    aws_text: Mapping[str, str] = field(default_factory=dict)  # id → AWS-originated text, fenced in prompts
    names: frozenset[str] = frozenset()  # every account, project, service, region, event code it knows
    items: tuple[factlist.Fact, ...] = ()  # the same facts, each with a stable id, for the model's claims

    def item(self, fact_id: str) -> factlist.Fact | None:
        return next((f for f in self.items if f.id == fact_id), None)


@dataclass
class _Series:
    account_id: str
    account: str
    project: str
    service: str
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)

    def total(self, start: dt.date, end: dt.date) -> Decimal:
        return sum((v for d, v in self.by_day.items() if start <= d < end), Decimal(0))


def _mover(series: _Series, current: Decimal, previous: Decimal, **when: str) -> dict[str, Any]:
    return {"account": series.account, "account_id": series.account_id, "project": series.project,
            "service": series.service, **when, "current_usd": money(current), "previous_usd": money(previous),
            "change_usd": money(current - previous), "change_pct": percent(current - previous, previous)}


def _spike(series: _Series, current: Decimal, mean: Decimal, baseline: Period,
           settings: SummarySettings) -> dict[str, Any] | None:
    """A spike against the trailing mean, or a new service (no cost in the baseline) above ``spike_min_usd``.

    A mean at or below zero (credits) gives no ratio: that is never a spike.
    """
    new = not any(v for d, v in series.by_day.items() if d in baseline)
    spiked = is_spike(current, mean, new, settings.spike_ratio, settings.spike_min_usd)
    if not spiked:
        return None
    return {"account": series.account, "account_id": series.account_id, "project": series.project,
            "service": series.service, "usd": money(current), "baseline_mean_usd": money(mean), "new": new,
            "times_baseline": None if new else (current / mean).quantize(TENTH, rounding=ROUND_HALF_UP)}


def _top_movers(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    moved = [m for m in items if m["change_usd"] != 0]
    moved.sort(key=lambda m: (-abs(m["change_usd"]), m["account"], m["service"]))
    return [{"rank": i + 1, **m} for i, m in enumerate(moved[:limit])]


def _budgets(store: Store, day: dt.date, metric: str, project_budgets: Mapping[str, Decimal],
             account_budgets: Mapping[str, Decimal], project_totals: Mapping[str, Mapping[str, Any]],
             account_totals: Mapping[str, Mapping[str, Any]], min_days: int) -> list[dict[str, Any]]:
    """Budget projections. A budget none of whose accounts' cost was ever collected has no data: no figure,
    never "$0.00 of $20,000.00"; an account that was collected and had no cost yet (the 1st) is a real $0.
    Before ``min_days`` complete days of the month no projection (``too_early``), unless the month to date alone
    is over the budget: then the "projection" is the money spent, and it is over."""
    month_days = days_in_month(day)
    collected = store.cost_collected(metric)
    accounts = store.accounts()
    members: dict[str, dict[str, set[str]]] = {"project": defaultdict(set), "account": defaultdict(set)}
    member_names: dict[str, set[str]] = defaultdict(set)  # project → its accounts' names
    for a in accounts:
        members["project"][a["project"]].add(a["id"])
        members["account"][a["name"]].add(a["id"])
        member_names[a["project"]].add(a["name"])
    out = []
    for kind, configured, totals in (("project", project_budgets, project_totals),
                                     ("account", account_budgets, account_totals)):
        for name, budget in sorted(configured.items()):
            ids = members[kind].get(name, set())
            no_data = not ids & collected
            mtd = None if no_data else ((totals.get(name) or {}).get("month_to_date") or Decimal(0))
            # Too early to project (budget_min_days_elapsed), unless the money spent is over the budget already.
            early = mtd is not None and day.day < min_days
            projected = None if mtd is None or early else money(mtd / day.day * month_days)
            reached = mtd if early else projected  # too early: only the money spent counts
            over = reached is not None and reached > budget
            over_by = reached - budget if over else None
            out.append({"kind": kind, "name": name, "account_ids": sorted(ids),
                        "accounts": sorted(member_names[name]) if kind == "project" else [name],
                        "budget_usd": money(budget),
                        "month_to_date_usd": mtd, "projected_usd": projected,
                        "projected_pct": None if projected is None else percent(projected, budget),
                        "over_budget": over, "no_data": no_data, "too_early": early, "min_days": min_days,
                        "month_to_date_pct": None if mtd is None else percent(mtd, budget),
                        "over_by_usd": None if over_by is None else money(over_by),
                        "over_by_pct": None if over_by is None else percent(over_by, budget),
                        "days_elapsed": day.day, "days_in_month": month_days})
    return out


def _health(store: Store, tz: dt.tzinfo, text_ref: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    health_open, health_upcoming = [], []
    for event in sorted(store.health_events(), key=lambda e: (e.get("start_time") or "", e["event_arn"])):
        status = (event.get("status_code") or "").lower()
        if status not in ("open", "upcoming"):
            continue
        entry = {"account": event["account"], "account_id": event["account_id"], "service": event.get("service"),
                 "event_type_code": event.get("event_type_code"), "category": event.get("event_type_category"),
                 "region": event.get("region"), "arn": event["event_arn"],
                 "start_time": local_time(event.get("start_time"), tz), "end_time": local_time(event.get("end_time"), tz),
                 "description_ref": text_ref("health", event.get("description"))}
        (health_open if status == "open" else health_upcoming).append(entry)
    return health_open, health_upcoming


def build_facts(store: Store, day: dt.date, now: dt.datetime, settings: SummarySettings,
                project_budgets: Mapping[str, Decimal] | None = None,
                account_budgets: Mapping[str, Decimal] | None = None, metric: str = DEFAULT_COST_METRIC,
                tz: dt.tzinfo = dt.timezone.utc) -> Facts:
    """The facts for cost day ``day`` (UTC), as known at ``now``, in the Cost Explorer ``metric`` the exporter
    collects; times in ``tz`` (``reporter.timezone``).

    ``account_budgets`` is keyed by account name; budgets are monthly USD, from the config file.
    """
    month_start = first_of_month(day)
    last_month_start = previous_month_start(day)
    next_day = day + dt.timedelta(days=1)
    baseline = baseline_window(day, settings.baseline_days)
    spark_start = day - dt.timedelta(days=SPARK_DAYS - 1)
    first = min(last_month_start, baseline.start, spark_start, day - dt.timedelta(days=7))

    series: dict[tuple[str, str], _Series] = {}
    days_with_data: dict[str, set[dt.date]] = defaultdict(set)
    estimated_days: set[dt.date] = set()
    for row in store.daily_costs(first, next_day, metric):
        key = (row["account_id"], row["service"])
        s = series.get(key) or series.setdefault(key, _Series(row["account_id"], row["account"], row["project"],
                                                               row["service"]))
        d = dt.date.fromisoformat(row["period_start"])
        s.by_day[d] = Decimal(row["amount"])
        days_with_data[row["account_id"]].add(d)
        if row["estimated"]:
            estimated_days.add(d)

    accounts = {a["id"]: a for a in store.accounts()}
    # Last complete month: Cost Explorer's MONTHLY figure where the exporter stored one, else the daily sum.
    monthly_last: dict[str, Decimal] = defaultdict(Decimal)
    monthly_accounts: set[str] = set()
    for row in store.monthly_costs(last_month_start, metric):
        if row["period_end"] == month_start.isoformat():
            monthly_last[row["account_id"]] += Decimal(row["amount"])
            monthly_accounts.add(row["account_id"])

    def level_totals(level: str) -> dict[str, dict[str, Decimal | None]]:
        out: dict[str, dict[str, Any]] = {}
        seen_last_month: dict[str, bool] = {}
        for s in series.values():
            name = {"account": s.account, "project": s.project, "fleet": "fleet"}[level]
            entry = out.setdefault(name, {"day": Decimal(0), "month_to_date": Decimal(0), "last_month": Decimal(0)})
            entry["day"] += s.by_day.get(day, Decimal(0))
            entry["month_to_date"] += s.total(month_start, next_day)
            if s.account_id not in monthly_accounts:
                entry["last_month"] += s.total(last_month_start, month_start)
                seen_last_month[name] = seen_last_month.get(name, False) or any(
                    last_month_start <= d < month_start for d in s.by_day)
        for account_id, amount in monthly_last.items():
            info = accounts.get(account_id, {"name": account_id, "project": ""})
            name = {"account": info["name"], "project": info["project"], "fleet": "fleet"}[level]
            entry = out.setdefault(name, {"day": Decimal(0), "month_to_date": Decimal(0), "last_month": Decimal(0)})
            entry["last_month"] += amount
            seen_last_month[name] = True
        return {name: {"day": money(v["day"]), "month_to_date": money(v["month_to_date"]),
                       "last_month": money(v["last_month"]) if seen_last_month.get(name) else None}
                for name, v in sorted(out.items())}

    fleet = level_totals("fleet").get("fleet", {"day": None, "month_to_date": None, "last_month": None})
    day_rows = [s for s in series.values() if day in s.by_day]
    if not day_rows:
        fleet = {**fleet, "day": None}
    mtd_days = {d for days in days_with_data.values() for d in days if month_start <= d <= day}

    by_service: dict[str, Decimal] = defaultdict(Decimal)
    for s in day_rows:
        by_service[s.service] += s.by_day[day]
    day_total = sum(by_service.values(), Decimal(0))
    top_services = [{"rank": i + 1, "service": name, "usd": money(amount), "share_pct": percent(amount, day_total)}
                    for i, (name, amount) in enumerate(sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))
                                                       [:settings.top_services]) if amount > 0]

    # Movers, per account × service: week over week compares the day with the same weekday a week earlier, so the
    # weekly rhythm (Sunday → Monday) is not news. Month over month: month to date vs the same days last month.
    week_ago = day - dt.timedelta(days=7)
    same_days_end = min(last_month_start + dt.timedelta(days=day.day), month_start)
    fleet_last = max((max(d) for d in days_with_data.values() if d), default=None)
    starts = store.history_starts(metric)
    histories = {a: (first, fleet_last) for a, first in starts.items() if fleet_last is not None}
    wow, mom, spikes = [], [], []
    for s in series.values():
        history = histories.get(s.account_id)
        current = s.by_day.get(day, Decimal(0))
        if _covers(history, week_ago, next_day):
            wow.append(_mover(s, current, s.by_day.get(week_ago, Decimal(0))))
        if _covers(history, last_month_start, next_day):
            mom.append(_mover(s, s.total(month_start, next_day), s.total(last_month_start, same_days_end)))
        # Over the baseline days the account's history covers: a history shorter than the baseline (a new
        # account, a fresh database) must not look like a spike.
        if history is not None and _covers(history, day, next_day):
            mean = baseline_mean(s.total(baseline.start, baseline.end), baseline, history[0])
            spike = None if mean is None else _spike(s, current, mean, baseline, settings)
            if spike:
                spikes.append(spike)
    spikes.sort(key=lambda x: (-(x["usd"] - x["baseline_mean_usd"]), x["account"], x["service"]))

    top_wow = _top_movers(wow, settings.top_movers)
    sparklines = []
    for m in top_wow:
        s = next(x for x in series.values() if x.account == m["account"] and x.service == m["service"])
        sparklines.append({"account": m["account"], "service": m["service"],
                           "line": sparkline(s.by_day.get(d, Decimal(0)) for d in _days(spark_start, next_day))})

    project_totals, account_totals = level_totals("project"), level_totals("account")
    budgets = _budgets(store, day, metric, project_budgets or {}, account_budgets or {}, project_totals,
                       account_totals, settings.budget_min_days_elapsed)

    aws_text: dict[str, str] = {}
    refs: dict[str, str] = {}  # text → its id

    def text_ref(prefix: str, text: str | None) -> str | None:
        if not text:
            return None
        if text not in refs:
            if sum(map(len, aws_text.values())) + len(text) > MAX_AWS_TEXT_CHARS:
                return None  # the prompt stays bounded; the event is still listed, without its text
            refs[text] = f"{prefix}-{len(aws_text) + 1}"
            aws_text[refs[text]] = text
        return refs[text]

    health_open, health_upcoming = _health(store, tz, text_ref)
    failing, expected = collector_states(store.collector_status(), tz, text_ref)
    last_pull = store.last_pull()
    pulled_at = dt.datetime.fromisoformat(last_pull["pulled_at"]) if last_pull else None
    exporters = exporter_freshness(store.pull_status(), now, tz)
    failing_exporters = [e for e in exporters if e["state"] != "ok"]
    spikes = spikes[:settings.top_movers]

    data = {
        "day": day.isoformat(),
        "month": month_start.isoformat()[:7],
        "last_month": last_month_start.isoformat()[:7],
        "timezone": str(tz),
        "metric": metric,  # the Cost Explorer metric every amount is in (collectors.cost.metric)
        "days_elapsed_in_month": day.day,
        "days_in_month": days_in_month(day),
        "month_to_date_days_with_data": len(mtd_days),
        "baseline_days": settings.baseline_days,
        "baseline": {"start": baseline.start.isoformat(), "end": (baseline.end - dt.timedelta(days=1)).isoformat()},
        "sparkline_days": SPARK_DAYS,
        "comparisons": {"week_over_week": {"current": day.isoformat(), "previous": week_ago.isoformat(),
                                           "rule": "the day against the same weekday a week earlier"},
                        "month_over_month": {"current": [month_start.isoformat(), day.isoformat()],
                                             "previous": [last_month_start.isoformat(),
                                                          (same_days_end - dt.timedelta(days=1)).isoformat()],
                                             "rule": "month to date against the same days of last month"}},
        "totals": {"fleet": fleet, "projects": project_totals, "accounts": account_totals},
        "top_services": top_services,
        "movers": {"week_over_week": top_wow, "month_over_month": _top_movers(mom, settings.top_movers)},
        "spikes": spikes,
        # Why a spike moved: the exporter's aws_cost_spike_driver_usd (usage types), stored from /snapshot.
        "drivers": store.spike_drivers(day, [(s["account_id"], s["service"]) for s in spikes]),
        # AWS's own signal: open Cost Anomaly Detection anomalies (aws_cost_anomaly_impact_usd), stored from /snapshot.
        "anomalies": store.open_anomalies(),
        "budgets": budgets,
        # AWS's own month-end forecast (GetCostForecast, aws_cost_forecast_month_usd), stored from /snapshot.
        "forecasts": forecast_entries(store.db, day, store.cost_collected(metric), project_budgets or {},
                                      account_budgets or {}),
        # The cost split by record type (aws_cost_record_type_usd): what of the totals is usage, credits, tax …
        "record_types": record_type_entries(store.db, day, metric, account_totals),
        "health": {"open": health_open, "upcoming": health_upcoming},
        "freshness": {
            "last_pull": local_time(pulled_at, tz),
            "last_pull_age_hours": age_hours(now, pulled_at),
            "snapshot_taken_at": local_time(last_pull.get("taken_at"), tz) if last_pull else None,
            "estimated_on_day": day in estimated_days,
            "failing_collectors": failing,
            "expected_conditions": expected,
            "exporters": exporters,
            "failing_exporters": failing_exporters,
        },
        "counts": {"accounts": len(account_totals), "projects": len(project_totals),
                   "services_on_day": len(by_service), "health_open": len(health_open),
                   "health_upcoming": len(health_upcoming), "spikes": len(spikes),
                   "failing_collectors": len(failing), "failing_exporters": len(failing_exporters)},
        "sparklines": sparklines,
    }
    # Context: the CloudWatch series of each spike's and mover's account and service that moved (cwcontext).
    context_ids = [i["account_id"] for _, _, i in factlist.context_items(data) if i.get("account_id")]
    means = store.cloudwatch_means(context_ids, day, baseline.start, baseline.end - dt.timedelta(days=1))
    data["context_cloudwatch"] = cwcontext.context_rows(means, data, settings.cloudwatch_min_change_pct)
    names = {a["name"] for a in accounts.values()} | {a["project"] for a in accounts.values() if a["project"]}
    names |= set(accounts) | {s.service for s in series.values()}
    names |= {str(v) for e in health_open + health_upcoming
              for v in (e["service"], e["event_type_code"], e["region"], e["category"]) if v}
    names |= {f["collector"] for f in failing + expected} | {b["name"] for b in budgets}
    names |= {e["exporter"] for e in failing_exporters} | cwcontext.names(data["context_cloudwatch"])
    names |= {d["usage_type"] for d in data["drivers"]}
    names |= {str(v) for a in data["anomalies"] for v in (a["anomaly_id"], a["service"]) if v}
    items = annotate_totals(factlist.items(data, forecast_facts, record_type_facts), data)
    return Facts(day=day, data=data, aws_text=aws_text, names=frozenset(names), items=items)
