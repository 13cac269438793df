"""Answers about context for bench/report_eval.py (kept apart from bench/report_answers.py, which is near its
size): the faithful claim about an open AWS Health event next to a spike or mover (a ``context_health`` fact),
and the lie of another account's event put next to the cost as if it were the spiking account's."""

from __future__ import annotations

from collections.abc import Iterator

from exporter.reporter.factlist import Fact
from exporter.reporter.summary import Facts

Claims = list[tuple[list[str], str]]


def context_claim(f: Fact, style: str) -> tuple[list[str], str]:
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


def anomaly_claim(f: Fact, style: str) -> tuple[list[str], str]:
    e = f.entity
    who = f"`{e['account']}`" + (f" / `{e['service']}`" if e["service"] else "")
    impact = f"${f.values[0].amount:,.2f}" if f.values else ""
    if style == "korean":
        return [f.id], f"Cost Anomaly Detection: {who}에 `{e['anomaly_id']}` 이상 비용이 진행 중입니다 (영향 {impact})."
    return [f.id], f"Cost Anomaly Detection has `{e['anomaly_id']}` open for {who}, impact {impact}."
