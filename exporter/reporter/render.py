"""Text built from facts without a model: the deterministic summary (English or Korean) and the sparkline block.

Names are written in `backticks`, exactly as in the facts, amounts as ``$1,234.56``, the same way
the LLM is asked to write them, so the grounding guard reads both the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exporter.reporter.summary import Facts

LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "AWS cost summary for {day}",
        "deterministic": "_Deterministic summary (no AI): {reason}._",
        "no_data": "No cost data stored for {day} yet.",
        "fleet": "Fleet: {day_usd} on the day · month to date {mtd} ({days} of {days_total} days with data) · last month {last}",
        "projects": "By project",
        "top_services": "Top services",
        "dod": "Day-over-day movers",
        "wow": "Week-over-week movers",
        "mom": "Month-over-month movers (month to date vs the same days last month)",
        "spikes": "Spikes against the {n}-day baseline",
        "spike": "{who}: {usd} vs a mean of {mean} ({times}×)",
        "new_spike": "{who}: {usd}, new (no cost in the baseline)",
        "budgets": "Budgets (projected month end)",
        "budget": "{kind} {who}: {projected} of {budget} ({pct}%){over}",
        "over": " — over budget",
        "health": "AWS Health: {open} open, {upcoming} upcoming",
        "freshness": "Data: last pull {pull} ({age} h ago)",
        "never": "never",
        "failing": "Failing collectors: {items}",
        "exporter_failing": "Exporter {who}: last pull failed ({error}, {count} since the last success); "
                            "last successful pull {last} ({age} h ago)",
        "exporter_stale": "Exporter {who}: no pull for a while; last successful pull {last} ({age} h ago)",
        "sparklines": "Last {n} days",
        "n/a": "n/a",
        "project": "project",
        "account": "account",
    },
    "ko": {
        "title": "{day} AWS 비용 요약",
        "deterministic": "_AI 없이 생성된 정형 요약: {reason}._",
        "no_data": "{day}의 비용 데이터가 아직 없습니다.",
        "fleet": "전체: 당일 {day_usd} · 이번 달 누계 {mtd} ({days_total}일 중 {days}일 데이터) · 지난달 {last}",
        "projects": "프로젝트별",
        "top_services": "상위 서비스",
        "dod": "전일 대비 변동",
        "wow": "전주 대비 변동",
        "mom": "전월 대비 변동 (이번 달 누계 vs 지난달 같은 기간)",
        "spikes": "{n}일 기준선 대비 급증",
        "spike": "{who}: {usd} (평균 {mean}의 {times}배)",
        "new_spike": "{who}: {usd} (신규: 기준선 기간에 비용 없음)",
        "budgets": "예산 (월말 예상)",
        "budget": "{kind} {who}: 예상 {projected} / 예산 {budget} ({pct}%){over}",
        "over": " — 예산 초과",
        "health": "AWS Health: 진행 중 {open}건, 예정 {upcoming}건",
        "freshness": "데이터: 마지막 수집 {pull} ({age}시간 전)",
        "never": "없음",
        "failing": "실패한 수집기: {items}",
        "exporter_failing": "익스포터 {who}: 마지막 수집 실패 ({error}, 마지막 성공 이후 {count}회); "
                            "마지막 성공 수집 {last} ({age}시간 전)",
        "exporter_stale": "익스포터 {who}: 한동안 수집 없음; 마지막 성공 수집 {last} ({age}시간 전)",
        "sparklines": "최근 {n}일",
        "n/a": "없음",
        "project": "프로젝트",
        "account": "계정",
    },
}


REASONS: Mapping[str, Mapping[str, str]] = {
    "en": {"llm_not_configured": "no LLM configured", "llm_failed": "the AI gateway gave no answer ({detail})",
           "guard_rejected": "the AI text failed the fact check"},
    "ko": {"llm_not_configured": "LLM이 설정되지 않음", "llm_failed": "AI 게이트웨이 응답 없음 ({detail})",
           "guard_rejected": "AI 요약이 사실 검증을 통과하지 못함"},
}


def reason_text(key: str, language: str, detail: str = "") -> str:
    """Why the deterministic text is posted. Never quotes the model's text (it may hold the invented figure)."""
    return REASONS.get(language, REASONS["en"])[key].format(detail=detail)


def usd(value: Decimal | None, signed: bool = False, na: str = "n/a") -> str:
    if value is None:
        return na
    sign = "+" if signed and value > 0 else ("-" if value < 0 else "")
    return f"{sign}${abs(value):,.2f}"


def pct(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{'+' if signed and value > 0 else ''}{value}%"


def _movers(items: list[dict[str, Any]]) -> list[str]:
    # No percentage from zero: "+$50.00: $0.00 → $50.00" says it all.
    return [f"{m['rank']}. `{m['account']}` / `{m['service']}` {usd(m['change_usd'], signed=True)}"
            + (f" ({pct(m['change_pct'], signed=True)})" if m["change_pct"] is not None else "")
            + f": {usd(m['previous_usd'])} → {usd(m['current_usd'])}"
            for m in items]


def _spike(s: Mapping[str, Any], t: Mapping[str, str]) -> str:
    who = f"`{s['account']}` / `{s['service']}`"
    if s.get("new"):
        return t["new_spike"].format(who=who, usd=usd(s["usd"]))
    return t["spike"].format(who=who, usd=usd(s["usd"]), mean=usd(s["baseline_mean_usd"]), times=s["times_baseline"])


def _exporter(e: Mapping[str, Any], t: Mapping[str, str]) -> str:
    age = e["last_success_age_hours"]
    return t[f"exporter_{e['state']}"].format(
        who=f"`{e['exporter']}`", error=f"`{e['last_error']}`", count=e["failed_pulls_since_success"],
        last=e["last_success"] or t["never"], age=t["n/a"] if age is None else age)


def deterministic_text(facts: Facts, language: str, reason: str) -> str:
    t = LABELS.get(language, LABELS["en"])
    d = facts.data
    lines = [t["deterministic"].format(reason=reason)]
    fleet = d["totals"]["fleet"]
    if fleet["day"] is None:
        lines.append(t["no_data"].format(day=d["day"]))
    lines.append(t["fleet"].format(day_usd=usd(fleet["day"], na=t["n/a"]), mtd=usd(fleet["month_to_date"], na=t["n/a"]),
                                   days=d["month_to_date_days_with_data"], days_total=d["days_elapsed_in_month"],
                                   last=usd(fleet["last_month"], na=t["n/a"])))
    if d["totals"]["projects"]:
        lines.append(f"*{t['projects']}*: " + " · ".join(
            f"`{name}` {usd(v['day'])}" for name, v in d["totals"]["projects"].items()))
    if d["top_services"]:
        lines.append(f"*{t['top_services']}*: " + " · ".join(
            f"{s['rank']}. `{s['service']}` {usd(s['usd'])} ({pct(s['share_pct'])})" for s in d["top_services"]))
    for key, label in (("day_over_day", "dod"), ("week_over_week", "wow"), ("month_over_month", "mom")):
        if d["movers"][key]:
            lines.append(f"*{t[label]}*")
            lines.extend(_movers(d["movers"][key]))
    if d["spikes"]:
        lines.append(f"*{t['spikes'].format(n=d['baseline_days'])}*")
        lines.extend(_spike(s, t) for s in d["spikes"])
    if d["budgets"]:
        lines.append(f"*{t['budgets']}*")
        lines.extend(t["budget"].format(kind=t[b["kind"]], who=f"`{b['name']}`", projected=usd(b["projected_usd"]),
                                        budget=usd(b["budget_usd"]), pct=b["projected_pct"],
                                        over=t["over"] if b["over_budget"] else "")
                     for b in d["budgets"])
    health = d["health"]
    if health["open"] or health["upcoming"]:
        lines.append(t["health"].format(open=len(health["open"]), upcoming=len(health["upcoming"])))
        for e in health["open"] + health["upcoming"]:
            lines.append(f"• `{e['account']}` `{e['service']}` `{e['event_type_code']}` `{e['region']}` "
                         f"{e['start_time'] or ''}".rstrip())
    fresh = d["freshness"]
    lines.append(t["freshness"].format(pull=fresh["last_pull"] or t["never"],
                                       age=fresh["last_pull_age_hours"] if fresh["last_pull_age_hours"] is not None
                                       else t["n/a"]))
    if fresh["failing_collectors"]:
        lines.append(t["failing"].format(items=", ".join(
            f"`{f['collector']}`/`{f['account']}`" for f in fresh["failing_collectors"])))
    lines.extend(_exporter(e, t) for e in fresh.get("failing_exporters") or ())
    return "\n".join(lines)


def title(facts: Facts, language: str) -> str:
    return LABELS.get(language, LABELS["en"])["title"].format(day=facts.data["day"])


def sparkline_block(facts: Facts, language: str) -> str:
    """Computed in Python and appended after the summary (model or not): the model never draws them."""
    lines = facts.data.get("sparklines") or []
    if not lines:
        return ""
    t = LABELS.get(language, LABELS["en"])
    return "\n".join([f"*{t['sparklines'].format(n=facts.data['sparkline_days'])}*"] +
                     [f"`{s['line']}` `{s['account']}` / `{s['service']}`" for s in lines])
