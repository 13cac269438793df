"""Text built from facts: the deterministic summary (no model), the post made of the model's checked claims,
and the sparkline block; English or Korean (:mod:`exporter.reporter.labels`).

Both posts follow the report order of :data:`exporter.reporter.factlist.SECTIONS`: failing or stale data
first, then spikes (with the usage types that drove them), budgets, AWS Health, totals, movers, and the rest.
Names are written in `backticks`, exactly as in the facts, amounts as ``$1,234.56``, times in
``reporter.timezone`` to the minute, the way the model is asked to write them, so the grounding guard reads
both the same way. ``link`` gives the text to put after an item (its Grafana panel and AWS console page:
:mod:`exporter.reporter.links`); the guard reads the text without it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from exporter.reporter.factlist import SECTIONS, Fact
from exporter.reporter.forecasts import forecast_lines
from exporter.reporter.labels import labels, reason_text
from exporter.reporter.recordtypes import record_type_lines
from exporter.reporter.summary import Facts

__all__ = ["claims_text", "deterministic_text", "reason_text", "sparkline_block", "title"]
Link = Callable[[Fact], str]


LINKS_AFTER, LINKS_BETWEEN = " — ", " · "  # how a line's links are written (exporter.reporter.compose)


def _no_link(fact: Fact) -> str:
    return ""


SUB_ITEMS = frozenset({"driver", "context_health", "context_cloudwatch"})  # lines under a spike or mover


def _unrepeated(text: str, previous: list[str], sub_item: bool) -> str:
    """A line's links (``text``: `` — [label](url) · …``, one group per fact); for a line under an item
    (``sub_item``: a driver, a context line) less the links the line before gave (``previous``, then set to this
    line's): a spike's drivers share one Grafana panel, and the reader needs it once. An item's own line keeps
    all its links (two accounts' lines on one public Health event both link it). Text in another form (a
    test's own ``link``) is kept as it is."""
    if not text.startswith(LINKS_AFTER):
        previous.clear()
        return text
    shown = list(dict.fromkeys(one for group in text.split(LINKS_AFTER)[1:] for one in group.split(LINKS_BETWEEN)))
    kept = [one for one in shown if not sub_item or one not in previous]
    previous[:] = shown
    return LINKS_AFTER + LINKS_BETWEEN.join(kept) if kept else ""


def _once(link: Link) -> Link:
    """``link`` for a text that asks for the links under an item once, in line order (the deterministic
    summary)."""
    previous: list[str] = []
    return lambda fact: _unrepeated(link(fact), previous, fact.kind in SUB_ITEMS)


def usd(value: Decimal | None, signed: bool = False, na: str = "n/a") -> str:
    if value is None:
        return na
    sign = "+" if signed and value > 0 else ("-" if value < 0 else "")
    return f"{sign}${abs(value):,.2f}"


def pct(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{'+' if signed and value > 0 else ''}{value}%"


def when(value: str | None, zone: str, na: str) -> str:
    """A facts time (ISO, to the minute, with its offset) as ``2026-11-15 12:35 KST``."""
    if not value:
        return na
    local = dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(zone) if zone != "UTC" else dt.timezone.utc)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _who(*names: str | None) -> str:
    return " / ".join(f"`{n}`" for n in names if n)


def _mover_lines(items: Sequence[Fact], kinds: Mapping[str, list[Fact]], t: Mapping[str, str], zone: str,
                 link: Link) -> list[str]:
    # No percentage from zero: "+$50.00: $0.00 → $50.00" says it all.
    out = []
    for f in items:
        m = f.row
        out.append(f"{m['rank']}. {_who(m['account'], m['service'])} {usd(m['change_usd'], signed=True)}"
                   + (f" ({pct(m['change_pct'], signed=True)})" if m["change_pct"] is not None else "")
                   + f": {usd(m['previous_usd'])} → {usd(m['current_usd'])}" + link(f))
        out.extend(_context_lines(kinds, f, t, zone, link))
    return out


def _by_kind(facts: Iterable[Fact]) -> dict[str, list[Fact]]:
    out: dict[str, list[Fact]] = {}
    for f in facts:
        out.setdefault(f.kind, []).append(f)
    return out


def _failures(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], zone: str, link: Link) -> list[str]:
    lines = []
    for f in kinds.get("exporter_failing", []) + kinds.get("exporter_stale", []):
        e = f.row
        last = (t["ago"].format(when=when(e["last_success"], zone, ""), age=e["last_success_age_hours"])
                if e["last_success"] else t["never"])
        lines.append(t[f"exporter_{e['state']}"].format(
            who=f"`{e['exporter']}`", error=f"`{e['last_error']}`", count=e["failed_pulls_since_success"],
            last=last) + link(f))
    for f in kinds.get("collector_failing", []):
        c = f.row
        lines.append(t["failing"].format(collector=f"`{c['collector']}`", who=f"`{c['account']}`",
                                         last=when(c["last_success"], zone, t["never"])) + link(f))
    return lines


def _spikes(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], day: str, zone: str, link: Link) -> list[str]:
    lines = []
    drivers = kinds.get("driver", [])
    for f in kinds.get("spike", []):
        s = f.row
        who = _who(s["account"], s["service"])
        if s.get("new"):
            lines.append(t["new_spike"].format(who=who, usd=usd(s["usd"]), day=day) + link(f))
        else:
            lines.append(t["spike"].format(who=who, usd=usd(s["usd"]), mean=usd(s["baseline_mean_usd"]),
                                           times=s["times_baseline"], day=day) + link(f))
        for d in drivers:
            r = d.row
            if (r["account"], r["service"]) == (s["account"], s["service"]):
                lines.append(t["driver"].format(usage=f"`{r['usage_type']}`", usd=usd(r["usd"]),
                                                mean=usd(r["baseline_mean_usd"]),
                                                change=usd(r["change_usd"], signed=True)) + link(d))
        lines.extend(_context_lines(kinds, f, t, zone, link))
    for f in kinds.get("anomaly", []):
        a = f.row
        period = a["start"] if not a["end"] or a["end"] == a["start"] else f"{a['start']}..{a['end']}"
        lines.append(t["anomaly"].format(who=_who(a["account"], a["service"]), id=f"`{a['anomaly_id']}`",
                                         usd=usd(a["impact_usd"]), period=period or t["n/a"]) + link(f))
    return lines


def _context_lines(kinds: Mapping[str, list[Fact]], item: Fact, t: Mapping[str, str], zone: str,
                   link: Link) -> list[str]:
    """The open Health events of the item's account and service (facts of kind ``context_health``), then the
    CloudWatch series of them that moved (``context_cloudwatch``)."""
    lines = [t["context_health"].format(service=f"`{c.entity['health_service']}`",
                                        code=f"`{c.entity['event_type_code']}`", region=f"`{c.entity['region']}`",
                                        start=when(c.row.get("start_time"), zone, t["n/a"])) + link(c)
             for c in kinds.get("context_health", []) if c.extra.get("about") == item.id]
    for c in (c for c in kinds.get("context_cloudwatch", []) if c.extra.get("about") == item.id):
        r = c.row
        shown = (lambda v: f"{v}%") if r["unit"] == "pct" else str
        lines.append(t["context_cloudwatch"].format(
            namespace=f"`{r['namespace']}`", metric=f"`{r['metric']}`", stat=r["stat"],
            dims=f" (`{r['dimensions']}`)" if r["dimensions"] else "", day=c.spans[0].first.isoformat(),
            mean=shown(r["day_mean"]), baseline=shown(r["baseline_mean"]), change=pct(r["change_pct"], signed=True),
            region=f"`{r['region']}`") + link(c))
    return lines


def _budgets(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], link: Link) -> list[str]:
    lines = []
    for f in kinds.get("budget", []):
        b = f.row
        if b.get("no_data"):
            lines.append(t["budget_no_data"].format(kind=t[b["kind"]], who=f"`{b['name']}`",
                                                    budget=usd(b["budget_usd"])) + link(f))
            continue
        if b.get("too_early"):
            lines.append(t["budget_spent_over" if b["over_budget"] else "budget_too_early"].format(
                kind=t[b["kind"]], who=f"`{b['name']}`", mtd=usd(b["month_to_date_usd"]), budget=usd(b["budget_usd"]),
                pct=b.get("month_to_date_pct"), days=b["days_elapsed"], min=b["min_days"]) + link(f))
            continue
        lines.append(t["budget"].format(kind=t[b["kind"]], who=f"`{b['name']}`", projected=usd(b["projected_usd"]),
                                        budget=usd(b["budget_usd"]), pct=b["projected_pct"],
                                        over=t["over"] if b["over_budget"] else "") + link(f))
    return lines + forecast_lines(kinds.get("forecast", []), t, link, usd)


def _health(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], data: Mapping[str, Any], zone: str,
            link: Link) -> list[str]:
    events = kinds.get("health_open", []) + kinds.get("health_upcoming", [])
    if not events:
        return []
    lines = [t["health"].format(open=len(data["health"]["open"]), upcoming=len(data["health"]["upcoming"]))]
    for f in events:
        e = f.row
        lines.append("• " + t["health_event_upcoming" if f.state == "upcoming" else "health_event"].format(
            status=t[f.state], who=f"`{e['account']}`", service=f"`{e['service']}`", code=f"`{e['event_type_code']}`",
            region=f"`{e['region']}`", start=when(e["start_time"], zone, t["n/a"])) + link(f))
    return lines


def _totals(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], d: Mapping[str, Any], link: Link) -> list[str]:
    lines = []
    fleet = d["totals"]["fleet"]
    if fleet["day"] is None:
        lines.append(t["no_data"].format(day=d["day"]))
    total = next((f for f in kinds.get("total", []) if f.id == "total:yesterday"), None)
    lines.append(t["fleet"].format(day=d["day"], day_usd=usd(fleet["day"], na=t["n/a"]),
                                   mtd=usd(fleet["month_to_date"], na=t["n/a"]),
                                   days=d["month_to_date_days_with_data"], days_total=d["days_elapsed_in_month"],
                                   last=usd(fleet["last_month"], na=t["n/a"]))
                 + (link(total) if total else ""))
    lines.extend(record_type_lines(kinds, t, d, link, usd))
    if kinds.get("estimate"):
        lines.append(t["estimated"].format(day=d["day"]))
    if d["totals"]["projects"]:
        lines.append(f"*{t['projects']}*: " + " · ".join(
            f"`{name}` {usd(v['day'])}" for name, v in d["totals"]["projects"].items()))
    if d["top_services"]:
        lines.append(f"*{t['top_services']}*: " + " · ".join(
            f"{s['rank']}. `{s['service']}` {usd(s['usd'])} ({pct(s['share_pct'])})" for s in d["top_services"]))
    return lines


def _movers(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], d: Mapping[str, Any], zone: str,
            link: Link) -> list[str]:
    lines = []
    compare = d["comparisons"]
    if kinds.get("mover_week_over_week"):
        lines.append(f"*{t['wow'].format(day=d['day'], previous=compare['week_over_week']['previous'])}*")
        lines.extend(_mover_lines(kinds["mover_week_over_week"], kinds, t, zone, link))
    if kinds.get("mover_month_over_month"):
        first, last = compare["month_over_month"]["previous"]
        lines.append(f"*{t['mom'].format(first=first, last=last)}*")
        lines.extend(_mover_lines(kinds["mover_month_over_month"], kinds, t, zone, link))
    return lines


def _other(kinds: Mapping[str, list[Fact]], t: Mapping[str, str], d: Mapping[str, Any], zone: str) -> list[str]:
    lines = [t[f"expected_{f.state}"].format(who=f"`{f.row['account']}`")
             for f in kinds.get("expected_condition", []) if f"expected_{f.state}" in t]
    fresh = d["freshness"]
    lines.append(t["freshness"].format(pull=when(fresh["last_pull"], zone, t["never"]),
                                       age=fresh["last_pull_age_hours"] if fresh["last_pull_age_hours"] is not None
                                       else t["n/a"]))
    return lines


def deterministic_text(facts: Facts, language: str, reason: str, link: Link = _no_link) -> str:
    t = labels(language)
    d = facts.data
    zone = d.get("timezone", "UTC")
    link = _once(link)
    lines = [t["deterministic"].format(reason=reason)]
    by_section = {name: _by_kind(f for f in facts.items if f.section == name) for name in SECTIONS}
    blocks = {
        "failures": _failures(by_section["failures"], t, zone, link),
        "spikes": _spikes(by_section["spikes"], t, d["day"], zone, link),
        "budgets": _budgets(by_section["budgets"], t, link),
        "health": _health(by_section["health"], t, d, zone, link),
        "totals": _totals(by_section["totals"], t, d, link),
        "movers": _movers(by_section["movers"], t, d, zone, link),
        "other": _other(by_section["other"], t, d, zone),
    }
    for name in SECTIONS:
        if blocks[name]:
            lines.append(f"*{_heading(name, t, d)}*")
            lines.extend(blocks[name])
    return "\n".join(lines)


def _heading(section: str, t: Mapping[str, str], data: Mapping[str, Any]) -> str:
    return t[f"section_{section}"].format(n=data.get("baseline_days", ""))


def claims_text(claims: Sequence[Any], dropped: int, facts: Facts, language: str, link: Link = _no_link) -> str:
    """The post made of the model's checked claims (``.facts``, ``.text``), each under the section of the most
    urgent fact it cites, with the links of the facts it cites."""
    t = labels(language)
    order = {name: i for i, name in enumerate(SECTIONS)}
    placed: dict[str, list[tuple[str, str]]] = {name: [] for name in SECTIONS}
    for claim in claims:
        cited = [f for f in (facts.item(i) for i in claim.facts) if f is not None]
        section = min((f.section for f in cited), key=order.__getitem__, default="other")
        placed[section].append((f"• {claim.text}", "".join(dict.fromkeys(s for s in map(link, cited) if s))))
    lines = [t["checked"].format(dropped=t["dropped"].format(n=dropped) if dropped else "")]
    previous: list[str] = []
    for name in SECTIONS:
        if placed[name]:
            lines.append(f"*{_heading(name, t, facts.data)}*")
            lines.extend(text + _unrepeated(suffix, previous, True) for text, suffix in placed[name])
    return "\n".join(lines)


def title(facts: Facts, language: str) -> str:
    return labels(language)["title"].format(day=facts.data["day"])


def sparkline_block(facts: Facts, language: str) -> str:
    """Computed in Python and appended after the summary (model or not): the model never draws them."""
    lines = facts.data.get("sparklines") or []
    if not lines:
        return ""
    t = labels(language)
    return "\n".join([f"*{t['sparklines'].format(n=facts.data['sparkline_days'])}*"] +
                     [f"`{s['line']}` `{s['account']}` / `{s['service']}`" for s in lines])
