"""The summary's facts as a list the model can cite: each with a stable id and typed fields.

A :class:`Fact` has an ``id`` (``spike:data-prod:Amazon SageMaker``, ``budget:web``, ``total:yesterday``), a
``kind``, the report ``section`` it belongs to, its ``entity`` (account, account id, project, service, region,
event type code, collector, exporter), a ``state`` (``over_budget``, ``no_data``, ``open``, ``failing`` …),
whether an operator must act on it (``actionable``: spikes, overruns, open issues, failures), and its values,
each with a unit and the period it is about. The model's claims name these ids, and
:mod:`exporter.reporter.claims` checks every claim against the facts it names.

Ids are built from names, so the same thing has the same id every day. Sections, in report order: failures
and stale data, spikes (and the usage types that drove them: kind ``driver``; open AWS Health events of the same
account and service: kind ``context_health``; CloudWatch series of that account and service that moved: kind
``context_cloudwatch``), budgets (and AWS's month-end forecasts: kind ``forecast``, :mod:`exporter.reporter.forecasts`),
Health, totals,
movers, other (expected conditions, freshness).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from exporter.periods import days_in_month, first_of_month
from exporter.reporter.servicemap import health_matches

SECTIONS = ("failures", "spikes", "budgets", "health", "totals", "movers", "other")
COST_KINDS = frozenset({"spike", "driver", "budget", "forecast", "total", "top_service", "mover_week_over_week",
                        "mover_month_over_month", "record_type"})


@dataclass(frozen=True, slots=True)
class Span:
    """What a value is about: ``kind`` (day, week_ago, baseline, month_to_date, last_month,
    same_days_last_month, month, projected, forecast (AWS's, :mod:`exporter.reporter.forecasts`), week_over_week,
    month_over_month, now; mean: a CloudWatch mean of the day) and its days, both included."""

    kind: str
    first: dt.date
    last: dt.date

    def label(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first}..{self.last}"


@dataclass(frozen=True, slots=True)
class Value:
    name: str
    amount: Decimal
    unit: str  # usd | pct | ratio | days | count | hours | value (a CloudWatch statistic in its own unit)
    spans: tuple[Span, ...] = ()
    signed: bool = False  # a change: its sign is the direction


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    kind: str
    section: str
    entity: Mapping[str, str]
    values: tuple[Value, ...] = ()
    state: str = ""
    actionable: bool = False
    direction: int = 0  # +1 up, -1 down, 0 neither
    times: tuple[str, ...] = ()  # local ISO timestamps, to the minute
    metric: str = ""  # the Cost Explorer metric of its amounts (collectors.cost.metric), for a cost fact
    spans: tuple[Span, ...] = ()  # what the fact is about, beyond its values' periods
    extra: Mapping[str, Any] = field(default_factory=dict)  # what links and text need (ARN, account ids)
    row: Mapping[str, Any] = field(default_factory=dict)  # the facts document's entry it was made from

    def names(self) -> set[str]:
        return {v for v in self.entity.values() if v}

    def all_spans(self) -> tuple[Span, ...]:
        """What the fact is about, its values' periods, and the days of its times."""
        timed = tuple(Span("time", _d(t), _d(t)) for t in self.times)
        return self.spans + tuple(s for v in self.values for s in v.spans) + timed

    def prompt(self) -> dict[str, Any]:
        """The fact as the model reads it."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, **{k: v for k, v in self.entity.items() if v}}
        if self.metric:
            out["metric"] = self.metric
        if self.state:
            out["state"] = self.state
        if self.actionable:
            out["actionable"] = True
        if self.values:
            out["values"] = [{"name": v.name, "value": _number(v), "unit": UNIT_LABELS[v.unit],
                              **({"period": " + ".join(f"{s.kind} {s.label()}" for s in v.spans)} if v.spans else {})}
                             for v in self.values]
        if self.times:
            out["times"] = list(self.times)
        if self.spans:
            out["period"] = " + ".join(f"{s.kind} {s.label()}" for s in self.spans)
        return out


UNIT_LABELS = {"usd": "USD", "pct": "%", "ratio": "×", "days": "days", "count": "count", "hours": "hours",
               "value": "the CloudWatch statistic's own unit"}


def _number(value: Value) -> str:
    if value.signed and value.amount > 0:
        return f"+{value.amount}"
    return str(value.amount)


def _values(*items: tuple[str, Any, str, tuple[Span, ...]] | tuple[str, Any, str, tuple[Span, ...], bool]
            ) -> tuple[Value, ...]:
    out = []
    for item in items:
        name, amount, unit, spans = item[:4]
        if amount is None:
            continue
        out.append(Value(name, Decimal(amount), unit, spans, signed=bool(item[4]) if len(item) > 4 else False))
    return tuple(out)


def _sign(amount: Decimal | None) -> int:
    return 0 if not amount else (1 if amount > 0 else -1)


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


class _Spans:
    """The periods of one day's facts."""

    def __init__(self, data: Mapping[str, Any]):
        day = _d(data["day"])
        month_start = first_of_month(day)
        last_start = _d(data["last_month"] + "-01")
        compare = data["comparisons"]
        self.day = Span("day", day, day)
        self.week_ago = Span("week_ago", _d(compare["week_over_week"]["previous"]), _d(compare["week_over_week"]["previous"]))
        self.baseline = Span("baseline", _d(data["baseline"]["start"]), _d(data["baseline"]["end"]))
        self.month_to_date = Span("month_to_date", month_start, day)
        self.month = Span("month", month_start, month_start + dt.timedelta(days=days_in_month(day) - 1))
        self.projected = Span("projected", self.month.first, self.month.last)
        self.last_month = Span("last_month", last_start, month_start - dt.timedelta(days=1))
        previous = compare["month_over_month"]["previous"]
        self.same_days = Span("same_days_last_month", _d(previous[0]), _d(previous[1]))
        self.wow = Span("week_over_week", self.week_ago.first, day)
        self.mom = Span("month_over_month", last_start, day)


def _unique(fact_id: str, seen: set[str]) -> str:
    candidate, n = fact_id, 1
    while candidate in seen:
        n += 1
        candidate = f"{fact_id}#{n}"
    seen.add(candidate)
    return candidate


def items(data: Mapping[str, Any], *more: Callable[[Mapping[str, Any], Span], Iterable[Fact]]) -> tuple[Fact, ...]:
    """Every fact of a facts document (:func:`exporter.reporter.summary.build_facts`), in report order; ``more``
    makes the facts of modules built on this one (the forecasts) from the document and the report's month."""
    spans = _Spans(data)
    facts = list(_items(data, spans)) + [f for extra in more for f in extra(data, spans.month)]
    seen: set[str] = set()
    metric = data.get("metric", "")
    facts = [replace(f, id=_unique(f.id, seen), metric=metric if f.kind in COST_KINDS else "") for f in facts]
    if not any(f.actionable for f in facts):
        facts.append(Fact("quiet:yesterday", "quiet", "other", {}, state="nothing_to_act_on", spans=(spans.day,)))
    order = {name: i for i, name in enumerate(SECTIONS)}
    return tuple(sorted(facts, key=lambda f: order[f.section]))  # stable: the order within a section is kept


def _items(data: Mapping[str, Any], p: _Spans) -> Iterator[Fact]:
    fresh = data["freshness"]
    for e in fresh.get("failing_exporters") or ():
        yield Fact(f"exporter:{e['exporter']}", f"exporter_{e['state']}", "failures", {"exporter": e["exporter"]},
                   _values(("last_success_age", e["last_success_age_hours"], "hours", ()),
                           ("failed_pulls_since_success", e["failed_pulls_since_success"], "count", ())),
                   state=e["state"], actionable=True, times=tuple(t for t in (e["last_success"],) if t), row=e)
    for f in fresh["failing_collectors"]:
        yield Fact(f"collector:{f['collector']}:{f['account']}", "collector_failing", "failures",
                   {"collector": f["collector"], "account": f["account"], "account_id": f.get("account_id", "")},
                   state="failing", actionable=True, times=tuple(t for t in (f["last_success"],) if t), row=f)
    for s in data["spikes"]:
        new = s["new"]
        yield Fact(f"spike:{s['account']}:{s['service']}", "spike", "spikes",
                   {"account": s["account"], "account_id": s.get("account_id", ""), "project": s["project"],
                    "service": s["service"]},
                   _values(("cost", s["usd"], "usd", (p.day,)),
                           ("baseline_mean", s["baseline_mean_usd"], "usd", (p.baseline,)),
                           ("change", s["usd"] - s["baseline_mean_usd"], "usd", (p.day, p.baseline), True),
                           ("times_baseline", s["times_baseline"], "ratio", (p.day, p.baseline)),
                           ("baseline_days", data["baseline_days"], "days", (p.baseline,))),
                   state="new" if new else "spike", actionable=True, direction=1, spans=(p.day,), row=s)
    for d in data.get("drivers") or ():
        yield Fact(f"driver:{d['account']}:{d['service']}:{d['usage_type']}", "driver", "spikes",
                   {"account": d["account"], "account_id": d.get("account_id", ""), "service": d["service"],
                    "usage_type": d["usage_type"]},
                   _values(("cost", d["usd"], "usd", (p.day,)),
                           ("baseline_mean", d["baseline_mean_usd"], "usd", (p.baseline,)),
                           ("change", d["change_usd"], "usd", (p.day, p.baseline), True)),
                   direction=_sign(d["change_usd"]), spans=(p.day,), row=d)
    for a in data.get("anomalies") or ():
        span = Span("anomaly", _d(a["start"]), _d(a["end"] or a["start"])) if a["start"] else None
        yield Fact(f"anomaly:{a['account']}:{a['anomaly_id']}", "anomaly", "spikes",
                   {"account": a["account"], "account_id": a.get("account_id", ""), "service": a["service"],
                    "anomaly_id": a["anomaly_id"]},
                   _values(("impact", a["impact_usd"], "usd", (span,) if span else ())),
                   state="open", actionable=True, direction=1, spans=(span,) if span else (), row=a)
    for b in data["budgets"]:
        state = ("no_data" if b.get("no_data") else "over_budget" if b["over_budget"]
                 else "too_early" if b.get("too_early") else "within_budget")
        yield Fact(f"budget:{b['name']}" if b["kind"] == "project" else f"budget:account:{b['name']}", "budget",
                   "budgets", {b["kind"]: b["name"]},
                   _values(("budget", b["budget_usd"], "usd", (p.month,)),
                           ("month_to_date", b["month_to_date_usd"], "usd", (p.month_to_date,)),
                           ("month_to_date_pct_of_budget", b.get("month_to_date_pct") if b.get("too_early") else None,
                            "pct", (p.month_to_date,)),
                           ("projected", b["projected_usd"], "usd", (p.projected,)),
                           ("projected_pct_of_budget", b["projected_pct"], "pct", (p.projected,)),
                           ("over_by", b.get("over_by_usd"), "usd", (p.projected,)),
                           ("over_by_pct_of_budget", b.get("over_by_pct"), "pct", (p.projected,)),
                           ("days_elapsed", b.get("days_elapsed"), "days", (p.month_to_date,)),
                           ("days_in_month", b.get("days_in_month"), "days", (p.month,)),
                           ("days_needed_to_project", b.get("min_days") if b.get("too_early") else None, "days", ())),
                   state=state, actionable=state == "over_budget", spans=(p.month,),
                   extra={"account_ids": tuple(b.get("account_ids") or ()), "members": tuple(b.get("accounts") or ())},
                   row=b)
    for status, events in (("open", data["health"]["open"]), ("upcoming", data["health"]["upcoming"])):
        for e in events:
            spans = tuple(Span("event", _d(t), _d(t)) for t in (e["start_time"], e["end_time"]) if t)
            yield Fact(f"health:{e['account']}:{e['event_type_code']}:{e['region']}", f"health_{status}", "health",
                       {"account": e["account"], "account_id": e.get("account_id", ""), "service": e["service"] or "",
                        "event_type_code": e["event_type_code"] or "", "region": e["region"] or "",
                        "category": e["category"] or ""},
                       state=status, actionable=status == "open" and e["category"] == "issue",
                       times=tuple(t for t in (e["start_time"], e["end_time"]) if t), spans=spans,
                       extra={"arn": e.get("arn", ""), "description_ref": e.get("description_ref")}, row=e)
    if data["health"]["open"] or data["health"]["upcoming"]:
        yield Fact("health:counts", "health_counts", "health", {},
                   _values(("open", len(data["health"]["open"]), "count", ()),
                           ("upcoming", len(data["health"]["upcoming"]), "count", ())))
    yield from _totals(data, p)
    yield from _movers(data, p)
    yield from _context(data, p)
    for x in fresh.get("expected_conditions") or ():
        yield Fact(f"expected:{x['collector']}:{x['account']}", "expected_condition", "other",
                   {"collector": x["collector"], "account": x["account"], "account_id": x.get("account_id", "")},
                   state=x["reason"], row=x)
    if fresh["last_pull"]:
        yield Fact("pull:last", "last_pull", "other", {},
                   _values(("age", fresh["last_pull_age_hours"], "hours", ())),
                   times=(fresh["last_pull"],))


def _totals(data: Mapping[str, Any], p: _Spans) -> Iterator[Fact]:
    fleet = data["totals"]["fleet"]
    if data["freshness"]["estimated_on_day"]:
        yield Fact("estimate:yesterday", "estimate", "totals", {}, state="estimated", spans=(p.day,))
    yield Fact("total:yesterday", "total", "totals", {"scope": "fleet"},
               _values(("cost", fleet["day"], "usd", (p.day,))), state="" if fleet["day"] is not None else "no_data",
               spans=(p.day,))
    yield Fact("total:month_to_date", "total", "totals", {"scope": "fleet"},
               _values(("cost", fleet["month_to_date"], "usd", (p.month_to_date,)),
                       ("days_with_data", data["month_to_date_days_with_data"], "days", (p.month_to_date,)),
                       ("days_elapsed", data["days_elapsed_in_month"], "days", (p.month_to_date,))),
               spans=(p.month_to_date,))
    yield Fact("total:last_month", "total", "totals", {"scope": "fleet"},
               _values(("cost", fleet["last_month"], "usd", (p.last_month,))),
               state="" if fleet["last_month"] is not None else "no_data", spans=(p.last_month,))
    for level, key in (("project", "projects"), ("account", "accounts")):
        for name, v in data["totals"][key].items():
            yield Fact(f"total:{level}:{name}", "total", "totals", {level: name},
                       _values(("cost", v["day"], "usd", (p.day,)),
                               ("month_to_date", v["month_to_date"], "usd", (p.month_to_date,)),
                               ("last_month", v["last_month"], "usd", (p.last_month,))), row={"name": name, **v})
    for s in data["top_services"]:
        yield Fact(f"top_service:{s['service']}", "top_service", "totals", {"service": s["service"]},
                   _values(("cost", s["usd"], "usd", (p.day,)), ("share_of_day", s["share_pct"], "pct", (p.day,)),
                           ("rank", s["rank"], "count", ())), spans=(p.day,), row=s)


def _movers(data: Mapping[str, Any], p: _Spans) -> Iterator[Fact]:
    for key, short, current, previous, compare in (
            ("week_over_week", "wow", p.day, p.week_ago, p.wow),
            ("month_over_month", "mom", p.month_to_date, p.same_days, p.mom)):
        for m in data["movers"][key]:
            yield Fact(f"mover:{short}:{m['account']}:{m['service']}", f"mover_{key}", "movers",
                       {"account": m["account"], "account_id": m.get("account_id", ""), "project": m["project"],
                        "service": m["service"]},
                       _values(("current", m["current_usd"], "usd", (current,)),
                               ("previous", m["previous_usd"], "usd", (previous,)),
                               ("change", m["change_usd"], "usd", (compare, current, previous), True),
                               ("change_pct", m["change_pct"], "pct", (compare, current, previous), True),
                               ("rank", m["rank"], "count", ())),
                       direction=_sign(m["change_usd"]), spans=(compare,), row=m)


def context_items(data: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(section, fact id, row) of every spike and mover: what context sits next to."""
    items = [("spikes", f"spike:{s['account']}:{s['service']}", s) for s in data["spikes"]]
    return items + [("movers", f"mover:{short}:{m['account']}:{m['service']}", m)
                    for key, short in (("week_over_week", "wow"), ("month_over_month", "mom"))
                    for m in data["movers"][key]]


def context_period(about: str, data: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of what a spike or mover (its fact id) is about, as Cost Explorer counts days:
    the day, or the month to date of a month-over-month mover."""
    day = _d(data["day"])
    first = first_of_month(day) if about.startswith("mover:mom:") else day
    return (dt.datetime.combine(first, dt.time(), dt.timezone.utc),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc))


def _open_during(event: Mapping[str, Any], period: tuple[dt.datetime, dt.datetime]) -> bool:
    """Whether a Health event was open at some time in ``period``: one that started after it (the report is written
    the next day) or ended before it explains nothing of it."""
    start, end = (dt.datetime.fromisoformat(event[k]) if event.get(k) else None for k in ("start_time", "end_time"))
    return (start is None or start < period[1]) and (end is None or end >= period[0])


def _context(data: Mapping[str, Any], p: _Spans) -> Iterator[Fact]:
    """An open AWS Health event of the same account and service (:mod:`exporter.reporter.servicemap`), open during
    the spike's or mover's period (:func:`context_period`), next to each spike and mover: ``context:spike:acct:Amazon SageMaker:health:AWS_SAGEMAKER_OPERATIONAL_ISSUE:us-east-1``; and
    the CloudWatch series of its account and service that moved (``data["context_cloudwatch"]``,
    :mod:`exporter.reporter.cwcontext`): ``context:spike:…:cloudwatch:AWS/SageMaker:GPUUtilization.Average{…}:us-east-1``."""
    for section, about, item in context_items(data):
        period = context_period(about, data)
        for e in data["health"]["open"]:
            if (e["account"] != item["account"] or not health_matches(e["service"], item["service"])
                    or not _open_during(e, period)):
                continue
            spans = tuple(Span("event", _d(t), _d(t)) for t in (e["start_time"], e["end_time"]) if t)
            yield Fact(f"context:{about}:health:{e['event_type_code']}:{e['region']}", "context_health", section,
                       {"account": e["account"], "account_id": e.get("account_id", ""), "service": item["service"],
                        "health_service": e["service"] or "", "event_type_code": e["event_type_code"] or "",
                        "region": e["region"] or "", "category": e["category"] or ""},
                       state="open", times=tuple(t for t in (e["start_time"], e["end_time"]) if t), spans=spans,
                       extra={"about": about, "arn": e.get("arn", "")}, row=e)
    for c in data.get("context_cloudwatch") or ():
        yield Fact(f"context:{c['about']}:cloudwatch:{c['namespace']}:{c['series']}:{c['region']}", "context_cloudwatch",
                   c["section"], {k: c[k] for k in ("account", "account_id", "service", "namespace", "metric", "series",
                                                    "dimensions", "region")},
                   _values(("day_mean", c["day_mean"], c["unit"], (p.day, Span("mean", p.day.first, p.day.last))),
                           ("baseline_mean", c["baseline_mean"], c["unit"], (p.baseline,)),
                           ("change_pct", c["change_pct"], "pct", (p.day, p.baseline), True)),
                   direction=_sign(c["change_pct"]), spans=(p.day,), extra={"about": c["about"]}, row=c)
