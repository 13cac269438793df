"""AWS's month-end forecast (GetCostForecast: ``CostDetail.signals.forecast`` per account,
``aws_cost_forecast_month_usd``; payer mode's ``CollectorRun.signals.forecast`` for the organization,
``aws_cost_forecast_organization_month_usd``) in the reporter's history, the summary's facts (kind ``forecast``) and the deterministic text.

History: table ``cost_forecasts``, one row per scope × month (``account_id`` + ``month_start``): the account's id, or
:data:`ORGANIZATION` for the organization's; the month to date it includes and GetCostForecast's ``Total`` for the
rest of the month as the exact decimal strings the snapshot carried, and the forecast's window. A refresh with a
forecast upserts its month's row (a later one knows better); one without (the request failed, AWS had nothing to
forecast from, the signal is off) leaves the rows as they are, so the last forecast is kept. The month is in the
key: on the last day of a month the exporter already forecasts the next one, and the report about that day still
finds the month's own.

Facts, one per forecast of the report's month (the latest stored), in section ``budgets``:

* ``forecast:account:<name>`` for an account whose cost was collected (a forecast of an account never collected is
  no figure to show: "no data" is the budget fact's to say);
* ``forecast:<project>`` for a project whose every account has one (their sum), never for part of a project;
* ``forecast:organization`` for payer mode's organization-wide one.

Values: ``forecast`` (the month's end total, Span ``forecast`` over the month: AWS's figure, never the reporter's own
linear ``projected``), ``month_to_date`` (the actual cost it includes: the days before the forecast started; absent
when it started on the 1st), and with a budget ``budget``, ``forecast_pct_of_budget`` and, over it,
``forecast_over_by``. State ``forecast_over_budget`` (actionable: an overrun forecast is an overrun),
``forecast_within_budget``, or ``no_budget``. Amounts are rounded to cents, percentages to one decimal, at the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlite_utils import Database

from exporter.model import FORECAST, CostDetail, CostForecast, Snapshot
from exporter.periods import first_of_month
from exporter.reporter.factlist import Fact, Span, Value
from exporter.reporter.rows import amount_text, date_text
from exporter.reporter.schema import FORECASTS_PK

ORGANIZATION = "organization"  # cost_forecasts.account_id of payer mode's forecast for the whole organization
OVER, WITHIN, NO_BUDGET = "forecast_over_budget", "forecast_within_budget", "no_budget"
CENT, TENTH = Decimal("0.01"), Decimal("0.1")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")


def _row(scope: str, forecast: CostForecast) -> dict[str, Any] | None:
    if not (forecast.month_to_date.is_finite() and forecast.forecast.is_finite()):
        return None
    return {"account_id": scope, "month_start": date_text(forecast.month_start),
            "forecast_start": date_text(forecast.forecast_start), "forecast_end": date_text(forecast.forecast_end),
            "month_to_date_usd": amount_text(forecast.month_to_date), "forecast_usd": amount_text(forecast.forecast)}


def store_forecasts(db: Database, snapshot: Snapshot) -> int:
    """The snapshot's forecasts, inside the caller's transaction; returns how many rows were written."""
    state = snapshot.collectors.get("cost")
    if state is None:
        return 0
    found: list[tuple[str, CostForecast]] = []
    for account_id, result in state.accounts.items():
        detail = result.detail
        if isinstance(detail, CostDetail) and detail.signals is not None and detail.signals.forecast is not None:
            found.append((account_id, detail.signals.forecast))
    run = state.run.signals if state.run is not None else None
    if run is not None and run.forecast is not None and run.status_of(FORECAST) is not None:
        found.append((ORGANIZATION, run.forecast))
    rows = [r for r in (_row(scope, f) for scope, f in found) if r is not None]
    if rows:
        db["cost_forecasts"].upsert_all(rows, pk=list(FORECASTS_PK))
    return len(rows)


def stored_forecasts(db: Database, month_start: dt.date) -> list[dict[str, Any]]:
    """The month's forecasts: ``account_id`` (or :data:`ORGANIZATION`), ``account`` and ``project`` (None for one
    not in the accounts table), ``forecast_start``/``forecast_end`` (dates), ``month_to_date_usd`` and
    ``month_total_usd`` (exact Decimals), by account id."""
    rows = db.execute(
        "SELECT f.account_id, a.name, a.project, f.forecast_start, f.forecast_end, f.month_to_date_usd, f.forecast_usd "
        "FROM cost_forecasts f LEFT JOIN accounts a ON a.id = f.account_id WHERE f.month_start = ? "
        "ORDER BY f.account_id", [month_start.isoformat()]).fetchall()
    return [{"account_id": account_id, "account": name, "project": project,
             "forecast_start": dt.date.fromisoformat(start), "forecast_end": dt.date.fromisoformat(end),
             "month_to_date_usd": Decimal(mtd), "month_total_usd": Decimal(mtd) + Decimal(rest)}
            for account_id, name, project, start, end, mtd, rest in rows]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _entry(scope: str, name: str, ids: Sequence[str], members: Sequence[str], rows: Sequence[Mapping[str, Any]],
           budget: Decimal | None, month_start: dt.date) -> dict[str, Any]:
    total = _money(sum((r["month_total_usd"] for r in rows), Decimal(0)))
    mtd = _money(sum((r["month_to_date_usd"] for r in rows), Decimal(0)))
    # A project's accounts may have been forecast by different refreshes: its forecast starts at the earliest.
    start = min(r["forecast_start"] for r in rows)
    budget = _money(budget) if budget is not None else None
    pct = (total / budget * 100).quantize(TENTH, rounding=ROUND_HALF_UP) if budget else None
    over = budget is not None and total > budget
    return {"scope": scope, "name": name, "account_ids": sorted(ids), "accounts": sorted(members),
            "month_start": month_start.isoformat(), "forecast_start": start.isoformat(),
            "forecast_end": max(r["forecast_end"] for r in rows).isoformat(),
            "forecast_usd": total, "month_to_date_usd": mtd if start > month_start else None,
            "budget_usd": budget, "forecast_pct": pct, "over_budget": over,
            "over_by_usd": total - budget if over and budget is not None else None}


def forecast_entries(db: Database, day: dt.date, collected: set[str], project_budgets: Mapping[str, Decimal],
                     account_budgets: Mapping[str, Decimal]) -> list[dict[str, Any]]:
    """The facts document's ``forecasts``: the report month's forecasts, the organization's first, then projects
    and accounts by name. ``collected``: the accounts whose cost was ever collected (``Store.cost_collected``)."""
    month_start = first_of_month(day)
    rows = stored_forecasts(db, month_start)
    by_account = {r["account_id"]: r for r in rows if r["account_id"] in collected and r["account"] is not None}
    out = [_entry("organization", ORGANIZATION, [], [], [r], None, month_start)
           for r in rows if r["account_id"] == ORGANIZATION]
    projects: dict[str, list[tuple[str, str]]] = {}
    for account_id, name, project in db.execute("SELECT id, name, project FROM accounts").fetchall():
        if project:
            projects.setdefault(project, []).append((account_id, name))
    for project, members in sorted(projects.items()):
        if all(account_id in by_account for account_id, _ in members):
            out.append(_entry("project", project, [a for a, _ in members], [n for _, n in members],
                              [by_account[a] for a, _ in members], project_budgets.get(project), month_start))
    for r in sorted(by_account.values(), key=lambda r: r["account"]):
        out.append(_entry("account", r["account"], [r["account_id"]], [r["account"]], [r],
                          account_budgets.get(r["account"]), month_start))
    return out


def forecast_facts(data: Mapping[str, Any], month: Span) -> Iterator[Fact]:
    """One fact per entry of ``data["forecasts"]`` (see the module's docstring); ``month``: the report's month."""
    for e in data.get("forecasts") or ():
        whole = Span("forecast", month.first, month.last)
        start = dt.date.fromisoformat(e["forecast_start"])
        included = Span("month_to_date", month.first, start - dt.timedelta(days=1))
        values = [Value("forecast", e["forecast_usd"], "usd", (whole,))]
        if e["month_to_date_usd"] is not None:
            values.append(Value("month_to_date", e["month_to_date_usd"], "usd", (included,)))
        if e["budget_usd"] is not None:
            values.append(Value("budget", e["budget_usd"], "usd", (month,)))
        if e["forecast_pct"] is not None:
            values.append(Value("forecast_pct_of_budget", e["forecast_pct"], "pct", (whole,)))
        if e["over_by_usd"] is not None:
            values.append(Value("forecast_over_by", e["over_by_usd"], "usd", (whole,)))
        state = NO_BUDGET if e["budget_usd"] is None else (OVER if e["over_budget"] else WITHIN)
        fact_id, entity = {"organization": ("forecast:organization", {"scope": ORGANIZATION}),
                           "project": (f"forecast:{e['name']}", {"project": e["name"]}),
                           "account": (f"forecast:account:{e['name']}",
                                       {"account": e["name"], "account_id": (e["account_ids"] or [""])[0]})}[e["scope"]]
        yield Fact(fact_id, "forecast", "budgets", entity, tuple(values), state=state, actionable=state == OVER,
                   spans=(whole,), extra={"account_ids": tuple(e["account_ids"]), "members": tuple(e["accounts"])},
                   row=e)


def forecast_lines(facts: Sequence[Fact], t: Mapping[str, str], link: Callable[[Fact], str],
                   usd: Callable[[Decimal], str]) -> list[str]:
    """The deterministic summary's: a line per forecast over its budget; those within theirs and the organization's
    folded into one line. A project's or account's forecast without a budget is a fact the model may cite, not a line
    of the budgets section (the demo's per-account forecasts would make it a list of every account)."""
    lines, folded = [], []
    for f in facts:
        e = f.row
        month = dt.date.fromisoformat(e["month_start"])
        words = {"month_name": MONTH_NAMES[month.month - 1], "month": e["month_start"][:7],
                 "kind": t[e["scope"]], "who": t[ORGANIZATION] if e["scope"] == "organization" else f"`{e['name']}`",
                 "forecast": usd(e["forecast_usd"]), "budget": usd(e["budget_usd"]) if e["budget_usd"] else "",
                 "pct": e["forecast_pct"]}
        if f.state == OVER:
            lines.append(t["forecast_over"].format(**words, over=t["over"]) + link(f))
        elif f.state == WITHIN or e["scope"] == "organization":
            folded.append((f, words, t["forecast_item" if f.state == WITHIN else "forecast_item_no_budget"]))
    if folded:
        first, words, _ = folded[0]  # one line, one link (the first one's panel): not a link per account
        lines.append(t["forecast_folded"].format(**words, items=" · ".join(item.format(**w) for _, w, item in folded))
                     + link(first))
    return lines
