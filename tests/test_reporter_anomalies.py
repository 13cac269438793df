"""AWS's own signal in the report: the exporter's open Cost Anomaly Detection anomalies through /snapshot into the
reporter's history, as actionable facts (kind ``anomaly``) the model may cite and the deterministic summary shows,
in English and Korean."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from sqlite_utils import Database

from bench.report_scenarios import SCENARIOS
from exporter.config.reporter import ReporterSettings
from exporter.model import (ANOMALIES, AccountInfo, AccountResult, CostAnomaly, CostSignals, SignalStatus, Snapshot,
                            decode_snapshot, encode_snapshot)
from exporter.periods import cost_detail
from exporter.reporter import claims, guard, render
from exporter.reporter.store import Store
from exporter.reporter.summary import build_facts

AT = dt.datetime(2026, 3, 31, 6, tzinfo=dt.timezone.utc)
AS_OF = dt.date(2026, 3, 31)
DATA_PROD = "310987654321"
ANOMALY = CostAnomaly(anomaly_id="a1b2c3d4-0000-4000-8000-000000000001", service="Amazon SageMaker",
                      impact=Decimal("281.5512345678"), start=dt.date(2026, 3, 30), end=dt.date(2026, 3, 30))


def snapshot(anomalies: tuple[CostAnomaly, ...], status: bool | None = True) -> Snapshot:
    signals = CostSignals(anomalies=anomalies,
                          status=() if status is None else (SignalStatus(signal=ANOMALIES, ok=status),))
    detail = msgspec.structs.replace(cost_detail(AS_OF, 14), signals=signals)
    result = AccountResult(collector="cost", account_id=DATA_PROD, up=True, last_attempt=AT, last_success=AT,
                           as_of=AS_OF, detail=detail)
    return Snapshot.empty([AccountInfo(DATA_PROD, "data-prod", "data")]).with_run(None, [result])


def test_open_anomalies_survive_the_wire_and_the_store_exactly_and_a_later_refresh_replaces_them():
    store = Store(Database(memory=True))
    store.store_snapshot(decode_snapshot(encode_snapshot(snapshot((ANOMALY,)))), "http://exporter:9780")
    assert store.open_anomalies() == [{"account": "data-prod", "account_id": DATA_PROD, "anomaly_id": ANOMALY.anomaly_id,
                                       "service": "Amazon SageMaker", "impact_usd": Decimal("281.5512345678"),
                                       "start": "2026-03-30", "end": "2026-03-30"}]
    store.store_snapshot(snapshot((), status=None), "http://exporter:9780")  # the signal off: nothing said
    assert len(store.open_anomalies()) == 1
    store.store_snapshot(snapshot(()), "http://exporter:9780")  # asked, none open any more
    assert store.open_anomalies() == []


ID = "a1b2c3d4-0000-4000-8000-000000000002"
FACT = f"anomaly:data-prod:{ID}"


def _facts():
    scenario = SCENARIOS["spike"]()
    scenario.store.db["cost_anomalies"].insert({
        "account_id": "111111111111", "anomaly_id": ID, "service": "Amazon SageMaker", "impact_usd": "281.55",
        "start": "2026-11-15", "end": "2026-11-15"})
    settings = ReporterSettings(timezone="Asia/Seoul")
    return build_facts(scenario.store, scenario.day, scenario.now, settings.summary, scenario.project_budgets,
                       tz=settings.tz)


@pytest.mark.parametrize("language, line", [
    ("en", f"Cost Anomaly Detection, open: `data-prod` / `Amazon SageMaker` `{ID}`, impact $281.55 (2026-11-15)"),
    ("ko", f"Cost Anomaly Detection 진행 중: `data-prod` / `Amazon SageMaker` `{ID}`, 영향 $281.55 (2026-11-15)"),
])
def test_an_open_anomaly_is_an_actionable_fact_the_deterministic_summary_shows(language, line):
    facts = _facts()
    fact = facts.item(FACT)
    assert fact.actionable and fact.section == "spikes" and fact.prompt()["values"][0]["value"] == "281.55"
    text = render.deterministic_text(facts, language, "test")
    assert line in text.splitlines()
    assert guard.check(text, facts).ok


@pytest.mark.parametrize("ids, text, problem", [
    ((FACT,), f"Cost Anomaly Detection has `{ID}` open for `data-prod` / `Amazon SageMaker`, impact $281.55.", None),
    ((FACT,), f"Cost Anomaly Detection has `{ID}` open for `web-prod` / `Amazon SageMaker`, impact $281.55.",
     "names 'web-prod', which no cited fact it states is about"),
    ((FACT,), f"Cost Anomaly Detection has `{ID}` open for `data-prod`, impact $2,815.50.",
     "figure '2,815.50' is not in the facts"),
])
def test_a_claim_about_an_anomaly_is_checked_like_any_other(ids, text, problem):
    assert claims.check(claims.Claim(ids, text), _facts()) == problem
