"""Record types for bench/report_eval.py (kept apart from bench/report_answers.py and report_scenarios.py, which are
near their size): the spike day's cost split by record type as the exporter collects it (credits and tax in
`data-prod`, tax in `web-prod`, a refund in `web-staging`, usage the rest of each account's total), the faithful
claims that say what of the totals is usage, and the lie "credits passed off as usage" made by mutating them (a
credit called usage, the Usage-only amount stated as the total, the all-record-types total called usage, a
credit stated as a charge or a rise)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal

import msgspec

from exporter.model import (MONTH_TO_DATE, MONTHLY, RECORD_TYPES, CostDetail, CostRecord, CostSignals, RecordTypeCost,
                            SignalStatus)
from exporter.periods import cost_detail, first_of_month, previous_month_start
from exporter.reporter.factlist import Fact
from exporter.reporter.summary import Facts

Claims = list[tuple[list[str], str]]
KIND = "credits passed off as usage"
# account id → record type → (last month, month to date); Usage is the rest of the account's cost.
OTHERS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "111111111111": {"Credit": ("-120.00", "-30.00"), "Tax": ("12.34", "6.17")},
    "333333333333": {"Tax": ("8.00", "4.00")},
    "444444444444": {"Refund": ("-5.00", "0")},
}


def record_type_details(day: dt.date, costs: Mapping[str, list[CostRecord]]) -> dict[str, CostDetail]:
    """Per account, the cost detail of a refresh as of ``day`` + 1 with its record types (signal ok)."""
    as_of = day + dt.timedelta(days=1)
    last, this = previous_month_start(as_of), first_of_month(as_of)
    out = {}
    for account_id, records in costs.items():
        totals = {g: sum((r.amount for r in records if start <= r.period_start < end), Decimal(0))
                  for g, start, end in ((MONTHLY, last, this), (MONTH_TO_DATE, this, as_of))}
        split = []
        for granularity, start, end, i in ((MONTHLY, last, this, 0), (MONTH_TO_DATE, this, as_of, 1)):
            others = {t: Decimal(v[i]) for t, v in OTHERS.get(account_id, {}).items()}
            others["Usage"] = totals[granularity] - sum(others.values(), Decimal(0))
            split += [RecordTypeCost(t, granularity, start, end, amount) for t, amount in sorted(others.items())]
        signals = CostSignals(record_types=tuple(split), status=(SignalStatus(signal=RECORD_TYPES, ok=True),))
        out[account_id] = msgspec.structs.replace(cost_detail(as_of, 14), signals=signals)
    return out


def _usd(v: Decimal, whole: bool = False) -> str:
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v).quantize(Decimal(1)):,}" if whole else f"{sign}${abs(v):,.2f}"


EN = {"credit": "credits", "refund": "refunds", "tax": "tax"}
KO = {"credit": "크레딧", "refund": "환불", "tax": "세금"}


def _split(facts: Facts, period: str) -> tuple[Fact | None, list[Fact], Decimal | None]:
    total = facts.item(f"total:{period}")
    types = [f for f in facts.items if f.kind == "record_type" and f.entity.get("scope") == "fleet"
             and f.id.startswith(f"record_type:{period}:") and f.values[0].amount]
    usage = next((v.amount for v in total.values if v.name == "usage"), None) if total else None
    return total, types, usage


def record_type_claims(facts: Facts, style: str) -> Claims:
    """What a careful model says of the split: for last month (and, in some styles, the month to date) the total,
    all record types together, its usage, and the other record types."""
    out: Claims = []
    for period in ("last_month", "month_to_date") if style in ("plain", "combined", "korean") else ("last_month",):
        total, types, usage = _split(facts, period)
        if total is None or usage is None or not types:
            continue
        cost = next(v.amount for v in total.values if v.name == "cost")
        words = KO if style == "korean" else EN
        named = [(words.get(f.entity["record_type"].lower(), f.entity["record_type"].lower()), f.values[0].amount)
                 for f in types]
        when = {"last_month": ("Last month", "last month", "지난달"),
                "month_to_date": ("Month to date", "month to date", "이번 달 누계")}[period]
        parts = ", ".join(f"{w} {_usd(a)}" for w, a in named)
        text = {
            "plain": f"{when[0]}'s {_usd(cost)} covers every record type: usage {_usd(usage)}, {parts}.",
            "prose": f"Of {when[1]}'s {_usd(cost)}, all record types together, usage was {_usd(usage)}; "
                     + " and ".join(f"{w} of {_usd(a)}" for w, a in named) + " make up the rest.",
            "rounded": f"{when[0]}'s bill of about {_usd(cost, True)} includes "
                       + " and ".join(f"{w} of about {_usd(a, True)}" for w, a in named) + ".",
            "combined": f"{when[0]} {_usd(cost)} in all (usage {_usd(usage)}, {parts}).",
            "figures": f"{_usd(usage)} usage, " + ", ".join(f"{_usd(a)} {w}" for w, a in named)
                       + f": {_usd(cost)} {when[1]}, all record types.",
            "korean": f"{when[2]} {_usd(cost)}은 모든 요금 유형 합계입니다: 사용량 {_usd(usage)}, {parts}.",
        }.get(style) or ""
        out.append(([f.id for f in types] + [total.id], text))
    return out


def credits_as_usage(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """The lie: a credit called usage or a charge or a rise, the usage stated as the total, the total called usage."""
    total, types, usage = _split(facts, "last_month")
    credit = next((f for f in types if f.values[0].amount < 0), None)
    if total is None or usage is None or credit is None:
        return
    cost = next(v.amount for v in total.values if v.name == "cost")
    korean = any("비용" in text for _, text in claims)
    i = next((i for i, (ids, _) in enumerate(claims) if credit.id in ids), None)
    if i is not None:
        word = {"Credit": "크레딧" if korean else "credits", "Refund": "환불" if korean else "refunds"}
        old = word[credit.entity["record_type"]]
        if old in claims[i][1]:
            text = claims[i][1].replace(old, "사용량" if korean else "usage", 1)
            yield (KIND, claims[:i] + [(claims[i][0], text)] + claims[i + 1:], text)
    t = next((i for i, (ids, text) in enumerate(claims) if ids[0].startswith("total:") and _usd(cost) in text), None)
    if t is not None:
        text = claims[t][1].replace(_usd(cost), _usd(usage), 1)
        yield (KIND, claims[:t] + [(claims[t][0], text)] + claims[t + 1:], text)
    amount = _usd(abs(credit.values[0].amount))
    for ids, text in (
            ([total.id], f"지난달 사용량은 {_usd(cost)}입니다." if korean else f"Usage was {_usd(cost)} last month."),
            ([credit.id], f"지난달 추가 요금 {amount}이 발생했습니다." if korean
             else f"Last month had an extra charge of {amount}."),
            ([credit.id], f"지난달 크레딧이 {amount} 증가했습니다." if korean else f"Credits rose to {amount} last month.")):
        yield (KIND, claims + [(ids, text)], text)
