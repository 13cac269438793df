"""The cost split by record type (``CostDetail.signals.record_types``, ``aws_cost_record_type_usd``: Cost
Explorer's RECORD_TYPE — Usage, Credit, Refund, Tax, Support fees…) in the reporter's history, facts, claims check
and text. Every cost figure of the report (``aws_cost_usd``, the ``total:*`` facts) includes every record type;
this split says what of it is usage and what credits, refunds, tax or fees, so neither is passed off as the other.

**History**: table ``cost_record_types``, natural key account_id + record_type + granularity (``monthly``: last
month; ``month_to_date``) + period_start; period_end, the amount as the exact decimal string the snapshot carried,
estimated, and the Cost Explorer metric of the account's cost records. A refresh whose ``record_types`` signal
worked (status ok) is the whole truth for the periods it carries: its rows are upserted, the account's other
record types of those periods deleted, and a record type of last month it does not carry for a month to date of
at least one day is a real $0 (the exporter's exposition says 0 as well). A refresh whose request failed, or
without the signal, leaves the rows as they are.

**Facts** (kind ``record_type``, section totals), for the report's day ``D``: last month ([1st of last month,
1st of D's month)) and the month to date ([1st of D's month, D], what the exporter asked as of D + 1; on the last
day of a month that is the month's ``monthly`` row), matched by their exact days, never by granularity alone, so a
split of another day's month to date is never shown as this one's. Only in the report's metric. Ids
``record_type:last_month:Credit`` / ``record_type:month_to_date:Tax`` for the fleet — only when every account
with cost in the period has its split for it (a partial split would not be the fleet's) — and
``record_type:account:data-prod:last_month:Credit`` for an account with a record type other than Usage that is not
$0 (the :data:`MAX_ACCOUNTS` with the biggest ones). A record type other than Usage gets a line when it is not $0
in one of the two periods; credits and refunds keep their negative sign (``direction`` −1). The fleet's totals
say ``record_types: all``; ``total:last_month`` and ``total:month_to_date``, with a split, carry the Usage record
type's amount as the value ``usage`` beside ``cost``.

**Claims** (:func:`mislabelled`, one more check of :func:`exporter.reporter.claims.check`), for each dollar figure
of a claim that cites a total with a split or a record type fact, and the record type words (usage, credits,
refunds, tax, support, fees, discounts; 사용량, 크레딧, 환불, 세금 …) each bound to a figure of its clause (the one
right after it, within a few words, else the nearest):

* a figure a record type word is bound to must be a value of that record type (a ``record_type`` fact of it, or
  a total's ``usage``): "usage −$200.00" for the credit, "usage $12,345.67" for the all-record-types total, or
  "credits $45.67" for the tax are dropped. "usage" of a figure of a fact without a split (a spike, a total
  with no split collected) is not judged: nothing says what of it is usage;
* a figure that is only a record type's amount (a credit's, or the Usage-only amount) must say which record type
  it is: "last month cost $12,500.00" (the usage, stated as the total) or "a charge of $200.00" (a credit) are
  dropped;
* a credit's amount called a rise or a cost increase fails the direction check like any negative value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from exporter.model import MONTH_TO_DATE, MONTHLY, RECORD_TYPES, CostDetail, CostRecord, Snapshot
from exporter.periods import first_of_month, previous_month_start
from exporter.reporter.claimtext import Figure, Reading, clause_of, nearest_figure
from exporter.reporter.factlist import Fact, Span, Value
from exporter.reporter.rows import amount_text
from exporter.reporter.schema import RECORD_TYPES_PK

PK = list(RECORD_TYPES_PK)
USAGE = "Usage"
PERIODS = ("last_month", "month_to_date")
MAX_ACCOUNTS = 5  # accounts with their own record type lines: the biggest credits, tax or fees (the post stays short)


# ------------------------------------------------------------------------------------------------- history

def store_record_types(db: Database, snapshot: Snapshot) -> int:
    """The snapshot's record type split, inside the caller's transaction; returns how many rows were written."""
    written = 0
    for account_id, result in (snapshot.collectors["cost"].accounts.items() if "cost" in snapshot.collectors else ()):
        detail = result.detail
        if not isinstance(detail, CostDetail) or detail.signals is None or result.last_success is None:
            continue
        status = detail.signals.status_of(RECORD_TYPES)
        if status is None or not status.ok:
            continue  # off, or its request failed: the rows of an earlier refresh stay
        metric = next((r.metric for r in result.records if isinstance(r, CostRecord)), "")
        rows = {(r.record_type, r.granularity): {
            "account_id": account_id, "record_type": r.record_type, "granularity": r.granularity,
            "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
            "amount": amount_text(r.amount), "estimated": int(r.estimated), "metric": metric}
            for r in detail.signals.record_types if r.amount.is_finite()}
        mtd = detail.month_to_date
        if mtd.days > 0 and rows:  # last month's record types absent from a month to date: a real $0
            for record_type, granularity in list(rows):
                if granularity == MONTHLY and (record_type, MONTH_TO_DATE) not in rows:
                    rows[(record_type, MONTH_TO_DATE)] = {
                        "account_id": account_id, "record_type": record_type, "granularity": MONTH_TO_DATE,
                        "period_start": mtd.start.isoformat(), "period_end": mtd.end.isoformat(), "amount": "0",
                        "estimated": 0, "metric": metric}
        if not rows:
            continue
        db["cost_record_types"].upsert_all(list(rows.values()), pk=PK)
        for granularity, start in {(r["granularity"], r["period_start"]) for r in rows.values()}:
            kept = [t for t, g in rows if g == granularity]
            db.execute(f"DELETE FROM cost_record_types WHERE account_id = ? AND granularity = ? AND period_start = ? "
                       f"AND record_type NOT IN ({', '.join('?' * len(kept))})",
                       [account_id, granularity, start, *kept])
        written += len(rows)
    return written


def _periods(day: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    """Each period's [start, end) as the exporter asked it for the report's day."""
    month_start = first_of_month(day)
    return {"last_month": (previous_month_start(day), month_start),
            "month_to_date": (month_start, day + dt.timedelta(days=1))}


def record_type_entries(db: Database, day: dt.date, metric: str,
                        account_totals: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The facts document's ``record_types``: per period (``last_month``, ``month_to_date``) its days, whether any
    amount is an estimate, the fleet's record types (record type → exact Decimal; None without a complete split)
    and the accounts' record types other than Usage that are not $0 in one of the two periods."""
    names = dict(db.execute("SELECT id, name FROM accounts").fetchall())
    projects = dict(db.execute("SELECT id, project FROM accounts").fetchall())
    out: dict[str, Any] = {"periods": {}, "fleet": {}, "estimated": {}, "accounts": []}
    split: dict[str, dict[str, dict[str, Decimal]]] = {}  # period → account id → record type → amount
    for period, (start, end) in _periods(day).items():
        rows = db.execute(
            "SELECT account_id, record_type, amount, estimated FROM cost_record_types WHERE period_start = ? "
            "AND period_end = ? AND metric IN (?, '') ORDER BY granularity = 'monthly'",
            [start.isoformat(), end.isoformat(), metric]).fetchall()
        by_account: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for account_id, record_type, amount, estimated in rows:
            by_account[account_id][record_type] = Decimal(amount)
            out["estimated"][period] = bool(out["estimated"].get(period) or estimated)
        split[period] = by_account
        out["periods"][period] = {"start": start.isoformat(), "end": (end - dt.timedelta(days=1)).isoformat()}
        with_cost = {name for name, v in account_totals.items() if v.get(period)}
        covered = {names.get(a, a) for a in by_account}
        fleet: dict[str, Decimal] = defaultdict(Decimal)
        for types in by_account.values():
            for record_type, amount in types.items():
                fleet[record_type] += amount
        out["fleet"][period] = dict(sorted(fleet.items())) if by_account and with_cost <= covered else None
    def weight(account_id: str) -> tuple[Decimal, str]:
        return (-sum((abs(v) for p in PERIODS for t, v in split[p].get(account_id, {}).items() if t != USAGE),
                     Decimal(0)), names.get(account_id, account_id))

    listed = sorted(set(split["last_month"]) | set(split["month_to_date"]), key=weight)
    for account_id in [a for a in listed if weight(a)[0]][:MAX_ACCOUNTS]:
        types = {t for p in PERIODS for t, v in split[p].get(account_id, {}).items() if t != USAGE and v}
        for period in PERIODS:
            amounts = split[period].get(account_id)
            for record_type in sorted(types):
                if amounts is not None:
                    out["accounts"].append({
                        "account": names.get(account_id, account_id), "account_id": account_id,
                        "project": projects.get(account_id, ""), "period": period, "record_type": record_type,
                        "usd": amounts.get(record_type, Decimal(0))})
    return out


# ------------------------------------------------------------------------------------------------- facts

def _spans(data: Mapping[str, Any]) -> dict[str, Span]:
    periods = (data.get("record_types") or {}).get("periods") or {}
    return {p: Span(p, dt.date.fromisoformat(v["start"]), dt.date.fromisoformat(v["end"])) for p, v in periods.items()}


def _sign(amount: Decimal) -> int:
    return 0 if not amount else (1 if amount > 0 else -1)


def record_type_facts(data: Mapping[str, Any], month: Span | None = None) -> Iterator[Fact]:
    """The facts of kind ``record_type`` (a hook of :func:`exporter.reporter.factlist.items`)."""
    split = data.get("record_types") or {}
    spans = _spans(data)
    estimated = split.get("estimated") or {}
    fleet = split.get("fleet") or {}
    shown = {t for types in fleet.values() if types for t, v in types.items() if t != USAGE and v}
    for period in PERIODS:
        types = fleet.get(period)
        for record_type in sorted(shown):
            if types is None:
                continue
            amount = types.get(record_type, Decimal(0))
            yield Fact(f"record_type:{period}:{record_type}", "record_type", "totals",
                       {"scope": "fleet", "record_type": record_type},
                       (Value("amount", amount, "usd", (spans[period],)),),
                       state="estimated" if estimated.get(period) else "", direction=_sign(amount),
                       spans=(spans[period],), row={"period": period, "record_type": record_type, "usd": amount})
    for a in split.get("accounts") or ():
        period = a["period"]
        yield Fact(f"record_type:account:{a['account']}:{period}:{a['record_type']}", "record_type", "totals",
                   {"account": a["account"], "account_id": a["account_id"], "project": a["project"],
                    "record_type": a["record_type"]},
                   (Value("amount", a["usd"], "usd", (spans[period],)),),
                   state="estimated" if estimated.get(period) else "", direction=_sign(a["usd"]),
                   spans=(spans[period],), row=a)


def annotate_totals(items: Sequence[Fact], data: Mapping[str, Any]) -> tuple[Fact, ...]:
    """The fleet's totals: every record type (``record_types: all``); ``total:last_month`` and
    ``total:month_to_date``, with a split, the Usage record type's amount as the value ``usage``."""
    fleet = (data.get("record_types") or {}).get("fleet") or {}
    spans = _spans(data)
    out = []
    for f in items:
        period = f.id.removeprefix("total:")
        if f.id == "total:yesterday":
            f = replace(f, entity={**f.entity, "record_types": "all"})
        elif f.kind == "total" and period in PERIODS:
            usage = (fleet.get(period) or {}).get(USAGE) if fleet.get(period) is not None else None
            values = f.values if usage is None else f.values + (Value("usage", usage, "usd", (spans[period],)),)
            f = replace(f, entity={**f.entity, "record_types": "all"}, values=values)
        out.append(f)
    return tuple(out)


# ------------------------------------------------------------------------------------------------- claims

# Record type classes and the words that name them (English, Korean): a record type is of each class its name holds
# (DiscountedUsage: discount and usage); one of none (SavingsPlanNegation) is named by its own words.
WORDS: Mapping[str, str] = {
    "credit": r"\bcredit(?:s|ed)?\b|크레딧",
    "refund": r"\brefund(?:s|ed)?\b|환불",
    "tax": r"\btax(?:es)?\b|세금|부가세",
    "support": r"\bsupport\b|지원 요금|서포트 요금",
    "discount": r"\bdiscounts?\b|할인",
    "fee": r"\bfees?\b|수수료",
    "usage": r"\busage\b(?! types?)|사용량|사용 요금|사용료",
}
WORD_RES = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in WORDS.items()}


CAMEL_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def record_classes(record_type: str) -> frozenset[str]:
    lowered = record_type.lower()
    return frozenset(name for name in WORDS if name in lowered) or frozenset(
        w.lower() for w in CAMEL_RE.findall(record_type) if len(w) > 2)


def _typed(fact: Fact, value: Value) -> frozenset[str]:
    """The record type classes a value is the amount of; none for a figure of every record type together."""
    if fact.kind == "record_type":
        return record_classes(fact.entity["record_type"])
    if fact.kind == "total" and value.name == "usage":
        return frozenset({"usage"})
    return frozenset()


def _split(fact: Fact) -> bool:
    return fact.kind == "record_type" or (fact.kind == "total" and any(v.name == "usage" for v in fact.values))


FOLLOWS = 24  # "credits of about -$120", "사용량은 $465.00": a word names the figure that follows it closely


def _named_figure(reading: Reading, start: int, end: int) -> Figure | None:
    """The figure a record type word names: the one right after it in its clause, else the nearest in its clause."""
    low, high = clause_of(reading, start)
    after = [f for f in reading.figures if end <= f.start < high and f.start - end <= FOLLOWS]
    return after[0] if after else nearest_figure(reading, start, end, whole_claim=False)


Candidates = Callable[[Figure, list[Fact]], list[tuple[Fact, Value]]]


def mislabelled(reading: Reading, cited: list[Fact], candidates: Candidates) -> str | None:
    """Why a claim passes a record type off as another, or the all-record-types total as usage (None if not)."""
    if not any(_split(f) for f in cited):
        return None
    lowered = reading.text.lower()
    classes = dict(WORD_RES)
    for f in cited:
        for name in (record_classes(f.entity["record_type"]) if f.kind == "record_type" else ()):
            classes.setdefault(name, re.compile(rf"\b{re.escape(name)}s?\b", re.IGNORECASE))
    bound: dict[int, set[str]] = defaultdict(set)
    for name, pattern in classes.items():
        for m in pattern.finditer(lowered):
            figure = _named_figure(reading, m.start(), m.end())
            if figure is not None and figure.unit == "usd":
                bound[figure.start].add(name)
    for figure in reading.figures:
        if figure.unit != "usd":
            continue
        found = candidates(figure, cited)
        typed = set().union(*(_typed(f, v) for f, v in found))
        plain = [f for f, v in found if not _typed(f, v)]
        words = bound.get(figure.start, set())
        if words:
            if typed & words or (words == {"usage"} and any(not _split(f) for f in plain)):
                continue
            return f"calls {figure.text!r} {' / '.join(sorted(words))}, which it is not"
        if typed and not plain:
            return f"states the {' / '.join(sorted(typed))} amount {figure.text!r} without saying it is that"
    return None


# ------------------------------------------------------------------------------------------------- text

def _named(record_type: str, t: Mapping[str, str]) -> str:
    """Usage, Credit, Refund, Tax, Support… in the report's language; any other record type as AWS names it."""
    return t.get(f"record_type_{record_type.lower()}", record_type)


def record_type_lines(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], data: Mapping[str, Any],
                      link: Callable[[Fact], str], usd: Callable[..., str]) -> list[str]:
    """The totals section's lines: which metric the figures are in, last month's and the month to date's split
    (with the totals' links), and each account's record types other than Usage."""
    split = data.get("record_types") or {}
    fleet = split.get("fleet") or {}
    totals = {f.id.removeprefix("total:"): f for f in kinds.get("total", [])}
    lines = []
    for period in PERIODS:
        types = fleet.get(period)
        if types is None:
            continue
        parts = [f"{_named(USAGE, t)} {usd(types.get(USAGE, Decimal(0)))}"]
        parts += [f"{_named(r.entity['record_type'], t)} {usd(r.values[0].amount)}"
                  for r in kinds.get("record_type", []) if r.entity.get("scope") == "fleet" and r.row["period"] == period]
        total = totals.get(period)
        amount = data["totals"]["fleet"][period]
        lines.append(t["record_types_split"].format(period=t[f"record_types_{period}"], total=usd(amount, na=t["n/a"]),
                                                    metric=data.get("metric", ""), parts=", ".join(parts))
                     + (link(total) if total else ""))
    if not lines:
        lines.append(t["record_types_none"].format(metric=data.get("metric", "")))
    accounts: dict[str, dict[str, list[str]]] = {}
    for r in kinds.get("record_type", []):
        if r.entity.get("account"):
            accounts.setdefault(r.entity["account"], {}).setdefault(r.row["period"], []).append(
                f"{_named(r.entity['record_type'], t)} {usd(r.values[0].amount)}")
    lines += [f"`{name}`: " + " · ".join(f"{t['record_types_' + period].lower()} {', '.join(parts)}"
                                         for period, parts in periods.items()) for name, periods in accounts.items()]
    return lines

