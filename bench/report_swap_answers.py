"""Two more kinds of lie for bench/report_eval.py (kept apart from bench/report_answers.py, which is near its size),
each made by mutating a day's faithful answer:

* **figures swapped between co-cited facts**: a claim citing two facts that gives each one's figure to the other
  (a spike and its driver; the week-over-week and month-over-month movers of one service; two accounts' movers;
  the fleet's day and month to date), the review's probes among them;
* **a cause the facts do not give**: a spike, driver, budget, mover or total claim with a made-up reason added
  ("someone left a notebook running", "because of a new training job", "새 학습 작업 때문입니다");
* **context called the cause**: the Health event or CloudWatch series beside a spike said to have caused it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from exporter.reporter.factlist import Fact
from exporter.reporter.summary import Facts

Claims = list[tuple[list[str], str]]
SWAPPED = "figures swapped between co-cited facts"
CAUSE = "a cause the facts do not give"
CONTEXT = "context called the cause"


def _usd(v: Decimal) -> str:
    return f"${abs(v):,.2f}"


def _v(fact: Fact, name: str) -> Decimal:
    return next(v.amount for v in fact.values if v.name == name)


def _korean(claims: Claims) -> bool:
    return any("비용" in text for _, text in claims)


def _spike_driver(facts: Facts, korean: bool) -> Iterator[tuple[list[str], str]]:
    day = facts.data["day"]
    for d in (f for f in facts.items if f.kind == "driver"):
        a, s, u = d.entity["account"], d.entity["service"], d.entity["usage_type"]
        spike = facts.item(f"spike:{a}:{s}")
        if spike is None:
            continue
        ids = [spike.id, d.id]
        cost, dcost, change, dchange = _v(spike, "cost"), _v(d, "cost"), _v(spike, "change"), _v(d, "change")
        if korean:
            yield ids, (f"`{a}` `{s}` 비용이 {day}에 {_usd(dcost)}로 급증했고, 원인은 `{u}` {_usd(cost)}입니다.")
            yield ids, (f"`{a}` `{s}` 비용이 {day}에 {_usd(dchange)} 증가했으며, 원인은 `{u}`(+{_usd(change)})입니다.")
            continue
        # The review's probes, with the scenario's figures: the two amounts swapped, the two changes swapped.
        yield ids, f"`{a}` / `{s}` spiked to {_usd(dcost)} on {day}, driven by `{u}` at {_usd(cost)}."
        yield ids, f"`{a}` / `{s}` rose {_usd(dchange)} on {day}, driven by `{u}` (+{_usd(change)})."
        yield ids, (f"`{a}` / `{s}` reached {_usd(dcost)} on {day} (+{_usd(dchange)}), driven by `{u}` "
                    f"(+{_usd(change)}).")


def _movers(facts: Facts, korean: bool) -> Iterator[tuple[list[str], str]]:
    for wow in (f for f in facts.items if f.kind == "mover_week_over_week"):
        a, s = wow.entity["account"], wow.entity["service"]
        mom = facts.item(f"mover:mom:{a}:{s}")
        if mom is None or _v(wow, "change_pct") == _v(mom, "change_pct"):
            continue
        up = _v(mom, "change") > 0
        pct = f"{_v(wow, 'change_pct'):+}%"
        if korean:
            yield [wow.id, mom.id], (f"전월 대비 `{a}` `{s}` 비용이 {_usd(_v(mom, 'change'))} "
                                     f"({pct}) {'증가' if up else '감소'}했습니다.")
        else:  # the review's probe: the week-over-week percentage given to the month over month
            yield [wow.id, mom.id], (f"Month over month, `{a}` / `{s}` {'rose' if up else 'fell'} "
                                     f"{_usd(_v(mom, 'change'))} ({pct}).")
    moms = [f for f in facts.items if f.kind == "mover_month_over_month"]
    for one, two in zip(moms, moms[1:]):
        if _v(one, "change_pct") == _v(two, "change_pct"):
            continue
        p1, p2 = f"{_v(two, 'change_pct'):+}%", f"{_v(one, 'change_pct'):+}%"  # swapped
        w1, w2 = (f"`{f.entity['account']}` / `{f.entity['service']}`" for f in (one, two))
        text = (f"전월 대비 {w1} {p1}, {w2} {p2}." if korean else f"Month over month, {w1} moved {p1} and {w2} {p2}.")
        yield [one.id, two.id], text
        return


def _totals(facts: Facts, claims: Claims) -> Iterator[tuple[list[str], str]]:
    for ids, text in claims:
        if ids[:2] != ["total:yesterday", "total:month_to_date"]:
            continue
        day, mtd = (_usd(_v(facts.item(i), "cost")) for i in ids[:2])
        if day != mtd and day in text and mtd in text:
            yield ids, text.replace(day, "\0").replace(mtd, day).replace("\0", mtd)
        return


def swapped_figures(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """Each swap as one more claim of the faithful answer (the totals' swap in place of the faithful one)."""
    korean = _korean(claims)
    for ids, text in [*_spike_driver(facts, korean), *_movers(facts, korean)]:
        yield SWAPPED, claims + [(ids, text)], text
    for ids, text in _totals(facts, claims):
        at = next(i for i, (cited, _) in enumerate(claims) if cited == ids)
        yield SWAPPED, claims[:at] + [(ids, text)] + claims[at + 1:], text


CAUSES_EN = ("; someone left a notebook running.", " because of a new training job.",
             ", due to a misconfigured autoscaling group.")
CAUSES_KO = (" 누군가 노트북을 켜 두었기 때문입니다.", " 새 학습 작업으로 인해 증가했습니다.")
CAUSED = ("spike:", "driver:", "budget:", "mover:", "total:")


def made_up_causes(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """The first claim of each of spike, driver, budget, mover and total with a reason no fact gives appended (the
    review's two on the spike)."""
    causes = CAUSES_KO if _korean(claims) else CAUSES_EN
    for prefix in CAUSED:
        at = next((i for i, (ids, _) in enumerate(claims) if ids[0].startswith(prefix)), None)
        if at is None:
            continue
        ids, text = claims[at]
        for cause in (causes if prefix == "spike:" else causes[n % len(causes):][:1]):
            said = text.rstrip(".") + cause
            yield CAUSE, claims[:at] + [(ids, said)] + claims[at + 1:], said


def context_as_cause(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    """The first claim citing a Health event or a CloudWatch series beside a spike, that context called its cause."""
    korean = _korean(claims)
    for kind, key in (("context_health", "event_type_code"), ("context_cloudwatch", "metric")):
        for at, (ids, text) in enumerate(claims):
            fact = next((facts.item(i) for i in ids if facts.item(i) and facts.item(i).kind == kind), None)
            if fact is None:
                continue
            name = fact.entity[key]
            said = text.rstrip(".") + (f" `{name}` 때문입니다." if korean else f", caused by `{name}`.")
            yield CONTEXT, claims[:at] + [(ids, said)] + claims[at + 1:], said
            break


def swap_lies(facts: Facts, claims: Claims, n: int) -> Iterator[tuple[str, Claims, str]]:
    yield from swapped_figures(facts, claims, n)
    yield from made_up_causes(facts, claims, n)
    yield from context_as_cause(facts, claims, n)
