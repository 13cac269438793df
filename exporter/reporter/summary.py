"""Facts first: every figure of the daily summary is computed here, in Python, from SQLite, never by the model.

:func:`build_facts` turns the history into one JSON-able document for a day ``D`` (a UTC cost day, as
Cost Explorer counts days): fleet/project/account totals for the day, month to date and last month;
top services; day-over-day, week-over-week and month-over-month movers; spikes against the daily baseline
(what it means, for the exporter too, is defined once in ``exporter/periods.py``: the mean over the
``baseline_days`` before the day, over the days of that window the account's history covers; a service with
no cost in the baseline is a new one, never a ratio against a zero or negative mean); budget projections;
open and upcoming Health events; data freshness per exporter (failing or stale pulls) and failing
collectors; 14-day sparklines for the top movers. Amounts are exact sums of the stored decimal strings,
rounded to cents only at the end (percentages to one decimal, of the size of the amount compared against,
since credits make it negative, and none against zero). Month-over-month movers only for accounts whose
history covers both periods day by day.

AWS-originated text (Health descriptions, collector errors) is kept apart in ``aws_text`` so the LLM
prompt can fence it as data; the facts refer to it by id (``description_ref``, ``error_ref``), and one
text shared by many events (a public event seen by every account) is given once. None of its numbers
or names become facts. :func:`render.deterministic_text` renders the same facts without a model.
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
from exporter.reporter.store import DEFAULT_COST_METRIC, Store

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
SPARK = "▁▂▃▄▅▆▇█"
# All AWS-originated text in one prompt (each Health description is already capped at 2,000 characters).
MAX_AWS_TEXT_CHARS = 12_000
SPARK_DAYS = 14
# An exporter whose last successful pull is older than this is stale; one whose last attempt is this much
# older than the newest attempt of any exporter is no longer pulled (taken out of reporter.exporter_urls).
STALE_PULL_HOURS = 6
REMOVED_ACCOUNT_AFTER = dt.timedelta(days=2)  # a collector status this far behind its newest: account removed


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


def _age_hours(now: dt.datetime, then: dt.datetime | None) -> Decimal | None:
    return (Decimal((now - then).total_seconds()) / 3600).quantize(TENTH) if then else None


def _exporter_freshness(pulls: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Each exporter still pulled: its last successful pull and age; ``failing`` when its last pull failed,
    ``stale`` when its last success is older than :data:`STALE_PULL_HOURS` (URLs carry no credentials)."""
    stale_after = dt.timedelta(hours=STALE_PULL_HOURS)
    attempts = {p["exporter"]: dt.datetime.fromisoformat(p["last_attempt"]) for p in pulls}
    newest = max(attempts.values(), default=None)
    out = []
    for p in pulls:
        if newest - attempts[p["exporter"]] > stale_after:
            continue  # no longer in reporter.exporter_urls
        success = dt.datetime.fromisoformat(p["last_success"]) if p["last_success"] else None
        state = "failing" if p["last_error"] else ("stale" if now - success > stale_after else "ok")
        out.append({"exporter": p["exporter"], "state": state,
                    "last_success": success.isoformat() if success else None,
                    "last_success_age_hours": _age_hours(now, success),
                    "failed_pulls_since_success": p["failed_since_success"], "last_error": p["last_error"]})
    return out


@dataclass(frozen=True, slots=True)
class Facts:
    day: dt.date
    data: Mapping[str, Any]  # JSON-able: Decimals, strings, ints, lists, dicts
    aws_text: Mapping[str, str] = field(default_factory=dict)  # id → AWS-originated text, fenced in prompts
    names: frozenset[str] = frozenset()  # every account, project, service, region, event code it knows


@dataclass
class _Series:
    account_id: str
    account: str
    project: str
    service: str
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)

    def total(self, start: dt.date, end: dt.date) -> Decimal:
        return sum((v for d, v in self.by_day.items() if start <= d < end), Decimal(0))


def _mover(series: _Series, current: Decimal, previous: Decimal) -> dict[str, Any]:
    return {"account": series.account, "project": series.project, "service": series.service,
            "current_usd": money(current), "previous_usd": money(previous),
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
    return {"account": series.account, "project": series.project, "service": series.service,
            "usd": money(current), "baseline_mean_usd": money(mean), "new": new,
            "times_baseline": None if new else (current / mean).quantize(TENTH, rounding=ROUND_HALF_UP)}


def _top_movers(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    moved = [m for m in items if m["change_usd"] != 0]
    moved.sort(key=lambda m: (-abs(m["change_usd"]), m["account"], m["service"]))
    return [{"rank": i + 1, **m} for i, m in enumerate(moved[:limit])]


def build_facts(store: Store, day: dt.date, now: dt.datetime, settings: SummarySettings,
                project_budgets: Mapping[str, Decimal] | None = None,
                account_budgets: Mapping[str, Decimal] | None = None, metric: str = DEFAULT_COST_METRIC) -> Facts:
    """The facts for cost day ``day`` (UTC), as known at ``now``, in the Cost Explorer ``metric`` the exporter collects.

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

    # Movers, per account × service.
    week_ago, yesterday = day - dt.timedelta(days=7), day - dt.timedelta(days=1)
    same_days_end = min(last_month_start + dt.timedelta(days=day.day), month_start)
    fleet_last = max((max(d) for d in days_with_data.values() if d), default=None)
    starts = store.history_starts(metric)
    histories = {a: (first, fleet_last) for a, first in starts.items() if fleet_last is not None}
    dod, wow, mom, spikes = [], [], [], []
    for s in series.values():
        history = histories.get(s.account_id)
        current = s.by_day.get(day, Decimal(0))
        if _covers(history, yesterday, next_day):
            dod.append(_mover(s, current, s.by_day.get(yesterday, Decimal(0))))
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

    top_dod = _top_movers(dod, settings.top_movers)
    sparklines = []
    for m in top_dod:
        s = next(x for x in series.values() if x.account == m["account"] and x.service == m["service"])
        sparklines.append({"account": m["account"], "service": m["service"],
                           "line": sparkline(s.by_day.get(d, Decimal(0)) for d in _days(spark_start, next_day))})

    month_days = days_in_month(day)
    budgets = []
    project_totals, account_totals = level_totals("project"), level_totals("account")
    for kind, configured, totals in (("project", project_budgets or {}, project_totals),
                                     ("account", account_budgets or {}, account_totals)):
        for name, budget in sorted(configured.items()):
            mtd = (totals.get(name) or {}).get("month_to_date") or Decimal(0)
            projected = money(mtd / day.day * month_days)
            budgets.append({"kind": kind, "name": name, "budget_usd": money(budget), "month_to_date_usd": mtd,
                            "projected_usd": projected, "projected_pct": percent(projected, budget),
                            "over_budget": projected > budget})

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

    health_open, health_upcoming = [], []
    for event in sorted(store.health_events(), key=lambda e: (e.get("start_time") or "", e["event_arn"])):
        status = (event.get("status_code") or "").lower()
        if status not in ("open", "upcoming"):
            continue
        entry = {"account": event["account"], "service": event.get("service"),
                 "event_type_code": event.get("event_type_code"), "category": event.get("event_type_category"),
                 "region": event.get("region"), "start_time": event.get("start_time"),
                 "end_time": event.get("end_time"), "description_ref": text_ref("health", event.get("description"))}
        (health_open if status == "open" else health_upcoming).append(entry)

    failing = []
    statuses = store.collector_status()
    newest_attempt = {}  # collector → its newest attempt: rows far behind it are accounts no longer configured
    for status in statuses:
        newest_attempt[status["collector"]] = max(newest_attempt.get(status["collector"], ""),
                                                  status.get("last_attempt") or "")
    for status in statuses:
        attempt = status.get("last_attempt") or ""
        newest = newest_attempt[status["collector"]]
        if attempt and newest and (dt.datetime.fromisoformat(newest) - dt.datetime.fromisoformat(attempt)
                                   > REMOVED_ACCOUNT_AFTER):
            continue
        if not status["up"]:
            failing.append({"collector": status["collector"], "account": status["account"],
                            "last_success": status.get("last_success"),
                            "error_ref": text_ref("error", status.get("error"))})
    last_pull = store.last_pull()
    pulled_at = dt.datetime.fromisoformat(last_pull["pulled_at"]) if last_pull else None
    exporters = _exporter_freshness(store.pull_status(), now)
    failing_exporters = [e for e in exporters if e["state"] != "ok"]

    data = {
        "day": day.isoformat(),
        "month": month_start.isoformat()[:7],
        "last_month": last_month_start.isoformat()[:7],
        "days_elapsed_in_month": day.day,
        "days_in_month": month_days,
        "month_to_date_days_with_data": len(mtd_days),
        "baseline_days": settings.baseline_days,
        "sparkline_days": SPARK_DAYS,
        "totals": {"fleet": fleet, "projects": project_totals, "accounts": account_totals},
        "top_services": top_services,
        "movers": {"day_over_day": top_dod, "week_over_week": _top_movers(wow, settings.top_movers),
                   "month_over_month": _top_movers(mom, settings.top_movers)},
        "spikes": spikes[:settings.top_movers],
        "budgets": budgets,
        "health": {"open": health_open, "upcoming": health_upcoming},
        "freshness": {
            "last_pull": pulled_at.isoformat() if pulled_at else None,
            "last_pull_age_hours": _age_hours(now, pulled_at),
            "snapshot_taken_at": last_pull.get("taken_at") if last_pull else None,
            "estimated_on_day": day in estimated_days,
            "failing_collectors": failing,
            "exporters": exporters,
            "failing_exporters": failing_exporters,
        },
        "counts": {"accounts": len(account_totals), "projects": len(project_totals),
                   "services_on_day": len(by_service), "health_open": len(health_open),
                   "health_upcoming": len(health_upcoming), "spikes": len(spikes),
                   "failing_collectors": len(failing), "failing_exporters": len(failing_exporters)},
        "sparklines": sparklines,
    }
    names = {a["name"] for a in accounts.values()} | {a["project"] for a in accounts.values() if a["project"]}
    names |= set(accounts) | {s.service for s in series.values()}
    names |= {str(v) for e in health_open + health_upcoming
              for v in (e["service"], e["event_type_code"], e["region"], e["category"]) if v}
    names |= {f["collector"] for f in failing} | {b["name"] for b in budgets}
    return Facts(day=day, data=data, aws_text=aws_text, names=frozenset(names))
