"""Answers about context for bench/report_eval.py (kept apart from bench/report_answers.py, which is near its
size): the faithful claim about an open AWS Health event next to a spike or mover (a ``context_health`` fact) or
a CloudWatch series of it that moved (``context_cloudwatch``), and the lies: another account's event put next to
the cost as if it were the spiking account's, and a CloudWatch figure said to go the wrong way, or given to
another account or another series."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from exporter.reporter.factlist import Fact
from exporter.reporter.summary import Facts

Claims = list[tuple[list[str], str]]


def _values(f: Fact, places: int | None = None) -> tuple[str, str, str, bool]:
    """The day mean, the baseline mean (with "%" for a percentage) and the signed change, as a style writes them."""
    def shown(v: Decimal) -> str:
        return str(v if places is None else v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    day, base, change = (next(v for v in f.values if v.name == n) for n in ("day_mean", "baseline_mean", "change_pct"))
    unit = "%" if day.unit == "pct" else ""
    sign = "+" if change.amount > 0 else "-"
    return shown(day.amount) + unit, shown(base.amount) + unit, f"{sign}{shown(abs(change.amount))}%", change.amount > 0


def cloudwatch_claim(f: Fact, style: str) -> tuple[list[str], str]:
    e, day = f.entity, f.spans[0].first.isoformat()
    who, series = f"`{e['account']}` / `{e['service']}`", f"`{e['namespace']}` `{e['metric']}`"
    dm, bm, change, up = _values(f, 0 if style == "rounded" else None)
    texts = {
        "plain": f"{who}: CloudWatch {series} in `{e['region']}` {'rose' if up else 'fell'} to a mean of {dm} on {day}, "
                 f"from {bm} over the baseline ({change}).",
        "prose": f"Next to the `{e['service']}` cost in `{e['account']}`, CloudWatch {series} (`{e['region']}`) averaged "
                 f"{dm} on {day} against a baseline mean of {bm} ({change}).",
        "rounded": f"{who}: {series} was about {dm} on {day}, against the usual {bm} ({change}).",
        "combined": f"CloudWatch {series} in `{e['region']}` moved {change} next to the `{e['service']}` cost in "
                    f"`{e['account']}`: a mean of {dm} on {day} vs {bm} over the baseline.",
        "figures": f"{dm} on {day}, {bm} over the baseline mean, a change of {change}: CloudWatch {series} "
                   f"(`{e['region']}`) for {who}.",
        "korean": f"`{e['account']}` `{e['service']}`: CloudWatch {series} (`{e['region']}`) {day} 평균 {dm}, "
                  f"기준선 평균 {bm} 대비 {change} {'증가' if up else '감소'}.",
    }
    return ([f.id, f.extra["about"]] if style == "combined" else [f.id]), texts.get(style, texts["plain"])


def context_claim(f: Fact, style: str) -> tuple[list[str], str]:
    if f.kind == "context_cloudwatch":
        return cloudwatch_claim(f, style)
    e = f.entity
    who = f"`{e['account']}` / `{e['service']}`"
    if style == "korean":
        return [f.id], (f"{who}: AWS Health에 `{e['event_type_code']}` 이슈가 `{e['region']}`에서 진행 중입니다 "
                        "(원인이라고 단정할 수는 없습니다).")
    return [f.id], (f"{who}: AWS Health has `{e['event_type_code']}` open in `{e['region']}` at the same time, which may "
                    "or may not be related.")


def foreign_event_as_context(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """An open event of another account, cited beside a spike as the spiking account's own."""
    for spike in (f for f in facts.items if f.kind == "spike"):
        for event in (f for f in facts.items if f.kind == "health_open"):
            if event.entity["account"] == spike.entity["account"]:
                continue
            text = (f"`{spike.entity['account']}` / `{spike.entity['service']}` spiked while AWS Health has "
                    f"`{event.entity['event_type_code']}` open for `{spike.entity['account']}`.")
            yield "another account's Health event as context", claims + [([spike.id, event.id], text)], text
            return


FLIPS = {"rose": "fell", "fell": "rose", "증가": "감소", "감소": "증가"}


def cloudwatch_lies(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """A faithful CloudWatch claim next to a spike changed: the other direction (a direction word, or the change's sign), another
    account, or another series of the same account (its metric's name put in)."""
    accounts = sorted(facts.data["totals"]["accounts"])
    metrics = sorted({f.entity["metric"] for f in facts.items if f.kind == "context_cloudwatch"})
    for i, (ids, text) in enumerate(claims):
        fact = facts.item(ids[0])
        if fact is None or fact.kind != "context_cloudwatch" or not fact.extra["about"].startswith("spike:"):
            continue
        word = next((w for w in FLIPS if w in text), None)
        if word:
            lie = text.replace(word, FLIPS[word], 1)
        else:
            lie = re.sub(r"([+-])(?=[\d.]+%)", lambda m: "-" if m.group(1) == "+" else "+", text, count=1)
        yield "CloudWatch figure, wrong direction", claims[:i] + [(ids, lie)] + claims[i + 1:], lie
        account = fact.entity["account"]
        other = next(a for a in accounts if a != account)
        lie = text.replace(f"`{account}`", f"`{other}`")
        cited = ids + [f"total:account:{other}"] if n % 2 else ids
        yield "CloudWatch figure, another account", claims[:i] + [(cited, lie)] + claims[i + 1:], lie
        metric = fact.entity["metric"]
        for other_metric in (m for m in metrics if m != metric):
            lie = text.replace(f"`{metric}`", f"`{other_metric}`")
            yield "CloudWatch figure, another series", claims[:i] + [(ids, lie)] + claims[i + 1:], lie


def context_lies(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    yield from foreign_event_as_context(facts, claims, n)
    yield from cloudwatch_lies(facts, claims, n)


def anomaly_claim(f: Fact, style: str) -> tuple[list[str], str]:
    e = f.entity
    who = f"`{e['account']}`" + (f" / `{e['service']}`" if e["service"] else "")
    impact = f"${f.values[0].amount:,.2f}" if f.values else ""
    if style == "korean":
        return [f.id], f"Cost Anomaly Detection: {who}에 `{e['anomaly_id']}` 이상 비용이 진행 중입니다 (영향 {impact})."
    return [f.id], f"Cost Anomaly Detection has `{e['anomaly_id']}` open for {who}, impact {impact}."
