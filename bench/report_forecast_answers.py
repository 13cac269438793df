"""Answers about AWS's month-end forecast for bench/report_eval.py (kept apart from bench/report_answers.py, which is
near its size): the faithful claims about a ``forecast`` fact in each style, and the lie "forecast called month to
date" (the forecast stated as the month to date, or the month to date it includes stated as the forecast), made by
mutating them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from exporter.reporter.factlist import Fact
from exporter.reporter.forecasts import MONTH_NAMES, OVER
from exporter.reporter.summary import Facts

Claims = list[tuple[list[str], str]]
KIND = "forecast called month to date"


def _usd(v: Decimal, whole: bool = False) -> str:
    return f"${abs(v).quantize(Decimal(1), rounding=ROUND_HALF_UP):,}" if whole else f"${abs(v):,.2f}"


def _v(fact: Fact, name: str) -> Decimal | None:
    return next((v.amount for v in fact.values if v.name == name), None)


def _who(f: Fact, korean: bool) -> str:
    name = f.entity.get("project") or f.entity.get("account")
    return f"`{name}`" if name else ("조직" if korean else "the organization")


def _text(f: Fact, style: str) -> str:
    forecast, mtd, budget, pct, over_by = (_v(f, n) for n in ("forecast", "month_to_date", "budget",
                                                                "forecast_pct_of_budget", "forecast_over_by"))
    who, over = _who(f, style == "korean"), f.state == OVER
    month = f.spans[0].first
    name, ym = MONTH_NAMES[month.month - 1], month.isoformat()[:7]
    of_budget = f", {pct}% of its {_usd(budget)} budget" if budget is not None else ""
    if style == "korean":
        share = f", 예산 {_usd(budget)}의 {pct}%" if budget is not None else ""
        return f"AWS Cost Explorer 예측: {who} {ym} 월말 {_usd(forecast)}{share}" + ("로 예산 초과입니다." if over else ".")
    if style == "prose":
        including = f", including {_usd(mtd)} month to date" if mtd is not None else ""
        return (f"AWS Cost Explorer forecasts that {who} will end {name} at {_usd(forecast)}{including}"
                + (f", which is {pct}% of its {_usd(budget)} budget" if budget is not None else "")
                + (f" and over budget by {_usd(over_by)}." if over else "."))
    if style == "rounded":
        return (f"{who}: AWS forecasts about {_usd(forecast, True)} by month end"
                + (f" against a {_usd(budget, True)} budget" if budget is not None else "")
                + (", over budget." if over else "."))
    if style == "combined" and mtd is not None:
        return (f"{who} has {_usd(mtd)} month to date and the AWS Cost Explorer forecast is {_usd(forecast)} for "
                f"the month end{of_budget}" + (", over budget." if over else "."))
    if style == "figures":
        inside = ", ".join(x for x in (f"{pct}% of {_usd(budget)}" if budget is not None else "",
                                       "over budget" if over else "") if x)
        return (f"{_usd(forecast)} forecast for month end" + (f" ({inside})" if inside else "")
                + f": {who}, AWS Cost Explorer.")
    if over:
        return (f"{who} is forecast to end {name} at {_usd(forecast)}{of_budget} (AWS Cost Explorer forecast): "
                "over budget.")
    return f"The AWS Cost Explorer forecast for {who} is {_usd(forecast)} at month end{of_budget}."


def forecast_claims(facts: Facts, style: str) -> Claims:
    """What a careful model writes about the forecasts: every overrun; in the plain and Korean styles every other
    one too, in the others those with a budget (not in the rounded style, which keeps to what must be said)."""
    return [([f.id], _text(f, style)) for f in facts.items if f.kind == "forecast" and (
        f.actionable or style in ("plain", "korean") or (style != "rounded" and f.state != "no_budget"))]


def forecast_lies(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """Each forecast claim (the first two): its forecast called month to date, in its own words and in new ones, and
    the month to date it includes called the forecast."""
    done = 0
    for i, (ids, text) in enumerate(claims):
        f = facts.item(ids[0]) if len(ids) == 1 else None
        if f is None or f.kind != "forecast" or done == 2:
            continue
        done += 1
        korean = "예측" in text
        forecast, mtd = _v(f, "forecast"), _v(f, "month_to_date")
        who = _who(f, korean)
        shown = _usd(forecast, whole="about" in text)
        said = text.replace(shown, f"이번 달 누계 {shown}" if korean else f"{shown} month to date", 1)
        yield KIND, claims[:i] + [(ids, said)] + claims[i + 1:], said
        said = (f"{who} 이번 달 누계 {_usd(forecast)}입니다." if korean else
                f"{who} has spent {_usd(forecast)} month to date.")
        yield KIND, claims[:i] + [(ids, said)] + claims[i + 1:], said
        if mtd is None or mtd == forecast:
            continue
        said = text.replace(shown, _usd(mtd, whole="about" in text), 1)
        yield KIND, claims[:i] + [(ids, said)] + claims[i + 1:], said
        said = (f"AWS Cost Explorer 예측: {who} 월말 {_usd(mtd)}." if korean else
                f"The AWS Cost Explorer forecast for {who} is {_usd(mtd)} at month end.")
        yield KIND, claims + [(ids, said)], said
