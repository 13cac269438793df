"""AWS's month-end forecast in the report: the exporter's GetCostForecast totals through /snapshot into the reporter's
history (``cost_forecasts``), as facts of kind ``forecast`` (an overrun forecast is actionable), checked claims that
never pass the forecast off as the month to date (or the reverse), and the deterministic summary, in English and
Korean."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from sqlite_utils import Database

from bench.report_scenarios import SCENARIOS
from exporter.config.reporter import ReporterSettings, Retention
from exporter.model import (FORECAST, AccountInfo, AccountResult, CollectorRun, CostForecast, CostSignals, SignalStatus,
                            Snapshot, decode_snapshot, encode_snapshot)
from exporter.periods import cost_detail
from exporter.reporter import claims, guard, links, render
from exporter.reporter.compose import _linker
from exporter.reporter.forecasts import ORGANIZATION
from exporter.reporter.llm import system_prompt
from exporter.reporter.store import Store
from exporter.reporter.summary import build_facts
from tests.test_reporter_fakes import daily_cost

URL = "http://exporter:9780"
WEB_PROD, WEB_STAGING, DATA_PROD = "333333333333", "444444444444", "111111111111"
ACCOUNTS = [AccountInfo(WEB_PROD, "web-prod", "web"), AccountInfo(WEB_STAGING, "web-staging", "web"),
            AccountInfo(DATA_PROD, "data-prod", "data")]
SETTINGS = ReporterSettings(timezone="Asia/Seoul")


def forecast(as_of: dt.date, mtd: str, rest: str) -> CostForecast:
    first = as_of.replace(day=1)
    return CostForecast(month_start=first, forecast_start=as_of,
                        forecast_end=(first + dt.timedelta(days=32)).replace(day=1), month_to_date=Decimal(mtd),
                        forecast=Decimal(rest))


def cost_result(account_id: str, as_of: dt.date, found: CostForecast | None, ok: bool | None = True,
                records: tuple = ()) -> AccountResult:
    at = dt.datetime.combine(as_of, dt.time(0, 10), dt.timezone.utc)
    status = () if ok is None else (SignalStatus(signal=FORECAST, ok=ok, reason=None if ok else "ThrottlingException"),)
    detail = msgspec.structs.replace(cost_detail(as_of, 14), signals=CostSignals(forecast=found, status=status))
    return AccountResult(collector="cost", account_id=account_id, up=True, last_attempt=at, last_success=at,
                         as_of=as_of, detail=detail, records=records)


def publish(store: Store, *results: AccountResult, run: CollectorRun | None = None) -> None:
    snapshot = Snapshot.empty(ACCOUNTS).with_run(run, results)
    store.store_snapshot(decode_snapshot(encode_snapshot(snapshot)), URL)  # over the wire, as the sidecar reads it


def rows(store: Store) -> list[dict]:
    return list(store.db.query("SELECT * FROM cost_forecasts ORDER BY account_id, month_start"))


# ------------------------------------------------------------------------------------------------- store

def test_a_forecast_is_stored_exactly_upserted_by_a_later_refresh_and_kept_when_the_signal_failed():
    store = Store(Database(memory=True))
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 16), forecast(dt.date(2026, 11, 16), "659.0012", "690.40")))
    assert rows(store) == [{"account_id": WEB_PROD, "month_start": "2026-11-01", "forecast_start": "2026-11-16",
                            "forecast_end": "2026-12-01", "month_to_date_usd": "659.0012", "forecast_usd": "690.40"}]
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 17), forecast(dt.date(2026, 11, 17), "700", "650")))
    assert [(r["forecast_start"], r["month_to_date_usd"], r["forecast_usd"]) for r in rows(store)] == [
        ("2026-11-17", "700", "650")]  # the month's row, replaced: one row per account and month
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 18), None, ok=False))  # the request failed
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 18), None, ok=None))  # the signal off
    assert [(r["forecast_start"], r["forecast_usd"]) for r in rows(store)] == [("2026-11-17", "650")]


def test_the_next_months_forecast_does_not_replace_this_months_and_payer_modes_organization_forecast_is_kept_apart():
    store = Store(Database(memory=True))
    org = CollectorRun(collector="cost", started=dt.datetime(2026, 12, 1, 0, 10, tzinfo=dt.timezone.utc),
                       duration_seconds=1.0, accounts_ok=1, accounts_failed=0,
                       signals=CostSignals(forecast=forecast(dt.date(2026, 11, 30), "98000.10", "3400.00"),
                                           status=(SignalStatus(signal=FORECAST, ok=True),)))
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 30), forecast(dt.date(2026, 11, 30), "1200", "40")), run=org)
    publish(store, cost_result(WEB_PROD, dt.date(2026, 12, 1), forecast(dt.date(2026, 12, 1), "0", "1300")))
    assert [(r["account_id"], r["month_start"], r["forecast_usd"]) for r in rows(store)] == [
        (WEB_PROD, "2026-11-01", "40"), (WEB_PROD, "2026-12-01", "1300"), (ORGANIZATION, "2026-11-01", "3400.00")]
    failed = msgspec.structs.replace(org, signals=CostSignals(status=(SignalStatus(signal=FORECAST, ok=False),)))
    publish(store, cost_result(WEB_PROD, dt.date(2026, 12, 1), None, ok=False), run=failed)
    assert len(rows(store)) == 3


def test_retention_deletes_the_forecasts_of_months_that_ended_before_the_cost_retention():
    store = Store(Database(memory=True))
    publish(store, cost_result(WEB_PROD, dt.date(2026, 9, 10), forecast(dt.date(2026, 9, 10), "100", "200")),
            cost_result(WEB_STAGING, dt.date(2026, 11, 10), forecast(dt.date(2026, 11, 10), "1", "2")))
    deleted = store.apply_retention(Retention(cost_days=30), dt.date(2026, 11, 20))
    assert deleted["cost_forecasts"] == 1 and [r["account_id"] for r in rows(store)] == [WEB_STAGING]


# ------------------------------------------------------------------------------------------------- facts

def facts_of(name: str):
    scenario = SCENARIOS[name]()
    return build_facts(scenario.store, scenario.day, scenario.now, SETTINGS.summary, scenario.project_budgets,
                       scenario.account_budgets, tz=SETTINGS.tz)


def values(fact) -> dict[str, tuple[Decimal, str]]:
    return {v.name: (v.amount, " + ".join(f"{s.kind} {s.label()}" for s in v.spans)) for v in fact.values}


def test_a_forecast_over_its_budget_is_an_actionable_fact_within_one_is_not_and_one_without_a_budget_says_so():
    facts = facts_of("overrun")  # 2026-11-20; forecast as of 2026-11-21
    web = facts.item("forecast:web")
    assert (web.kind, web.section, web.state, web.actionable, web.metric) == (
        "forecast", "budgets", "forecast_over_budget", True, "AmortizedCost")
    assert values(web) == {
        "forecast": (Decimal("1307.50"), "forecast 2026-11-01..2026-11-30"),
        "month_to_date": (Decimal("895.00"), "month_to_date 2026-11-01..2026-11-20"),
        "budget": (Decimal("800.00"), "month 2026-11-01..2026-11-30"),
        "forecast_pct_of_budget": (Decimal("163.4"), "forecast 2026-11-01..2026-11-30"),
        "forecast_over_by": (Decimal("507.50"), "forecast 2026-11-01..2026-11-30")}
    assert web.extra["members"] == ("web-prod", "web-staging")
    data_prod = facts.item("forecast:account:data-prod")
    assert (data_prod.state, data_prod.actionable, values(data_prod)["forecast_pct_of_budget"][0]) == (
        "forecast_within_budget", False, Decimal("80.8"))
    web_prod = facts.item("forecast:account:web-prod")
    assert (web_prod.state, web_prod.actionable) == ("no_budget", False)
    assert set(values(web_prod)) == {"forecast", "month_to_date"}
    assert facts.item("forecast:data") is None  # `data-staging` has no forecast: no sum over part of a project
    assert facts.item("budget:web").state == "over_budget"  # the reporter's own projection is still its own fact


def _store(day: dt.date, forecasts: dict[str, CostForecast],
           collected: tuple[str, ...] = (WEB_PROD, WEB_STAGING)) -> Store:
    store = Store(Database(memory=True))
    results = [cost_result(a, day + dt.timedelta(days=1), f, records=(daily_cost("Amazon EC2", day, "10.00"),)
                           if a in collected else ()) for a, f in forecasts.items()]
    snapshot = Snapshot.empty(ACCOUNTS).with_run(None, results)
    if set(forecasts) - set(collected):  # an account whose cost was never collected: no success, no cost row
        snapshot = snapshot.with_run(None, [msgspec.structs.replace(r, up=False, last_success=None)
                                            for r in results if r.account_id not in collected])
    at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 10), dt.timezone.utc)
    store.store_snapshot(snapshot, URL, at)
    return store


def test_on_the_last_day_of_a_month_the_months_own_forecast_is_used_not_the_next_ones():
    day = dt.date(2026, 11, 30)
    store = _store(day, {WEB_PROD: forecast(day, "1190.00", "40.00"), WEB_STAGING: forecast(day, "36.25", "1.25")})
    publish(store, cost_result(WEB_PROD, dt.date(2026, 12, 1), forecast(dt.date(2026, 12, 1), "0", "1300")),
            cost_result(WEB_STAGING, dt.date(2026, 12, 1), forecast(dt.date(2026, 12, 1), "0", "37.50")))
    facts = build_facts(store, day, dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.timezone.utc), SETTINGS.summary,
                        {"web": Decimal("1200")}, tz=SETTINGS.tz)
    web = facts.item("forecast:web")
    assert values(web)["forecast"] == (Decimal("1267.50"), "forecast 2026-11-01..2026-11-30")
    assert values(web)["month_to_date"] == (Decimal("1226.25"), "month_to_date 2026-11-01..2026-11-29")
    assert web.state == "forecast_over_budget" and values(web)["forecast_pct_of_budget"][0] == Decimal("105.6")


def test_on_the_1st_a_forecast_made_that_day_includes_no_month_to_date_and_one_made_the_next_day_includes_the_1st():
    facts = facts_of("first_of_month")  # 2026-12-01; forecasts as of 2026-12-02
    staging = facts.item("forecast:account:web-staging")
    assert values(staging)["month_to_date"] == (Decimal("0.00"), "month_to_date 2026-12-01")  # a real $0
    assert values(staging)["forecast_pct_of_budget"][0] == Decimal("37.5")
    day = dt.date(2026, 12, 1)
    store = _store(day, {WEB_PROD: forecast(day, "0", "1300.00"), WEB_STAGING: forecast(day, "0", "37.50")})
    facts = build_facts(store, day, dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.timezone.utc), SETTINGS.summary,
                        {"web": Decimal("2000")}, tz=SETTINGS.tz)
    web = facts.item("forecast:web")
    assert values(web) == {"forecast": (Decimal("1337.50"), "forecast 2026-12-01..2026-12-31"),
                           "budget": (Decimal("2000.00"), "month 2026-12-01..2026-12-31"),
                           "forecast_pct_of_budget": (Decimal("66.9"), "forecast 2026-12-01..2026-12-31")}


def test_a_forecast_of_an_account_whose_cost_was_never_collected_is_no_figure_and_its_budget_says_no_data():
    day = dt.date(2026, 11, 15)
    store = _store(day, {WEB_PROD: forecast(day, "0", "0"), WEB_STAGING: forecast(day, "5.00", "5.00")},
                   collected=(WEB_STAGING,))
    facts = build_facts(store, day, dt.datetime(2026, 11, 16, 0, 30, tzinfo=dt.timezone.utc), SETTINGS.summary,
                        {"web": Decimal("500")}, {"web-prod": Decimal("20000")}, tz=SETTINGS.tz)
    assert facts.item("forecast:account:web-prod") is None and facts.item("forecast:web") is None
    assert facts.item("forecast:account:web-staging") is not None
    assert facts.item("budget:account:web-prod").state == "no_data"
    text = render.deterministic_text(facts, "en", "test")
    assert "$0.00 of $20,000.00" not in text and "`web-prod`: no data" in text


def test_payer_modes_organization_forecast_is_a_fact_of_its_own():
    store = Store(Database(memory=True))
    run = CollectorRun(collector="cost", started=dt.datetime(2026, 11, 16, tzinfo=dt.timezone.utc),
                       duration_seconds=1.0, accounts_ok=3, accounts_failed=0,
                       signals=CostSignals(forecast=forecast(dt.date(2026, 11, 16), "50000.00", "48012.70"),
                                           status=(SignalStatus(signal=FORECAST, ok=True),)))
    publish(store, cost_result(WEB_PROD, dt.date(2026, 11, 16), None, ok=None), run=run)
    facts = build_facts(store, dt.date(2026, 11, 15), dt.datetime(2026, 11, 16, 0, 30, tzinfo=dt.timezone.utc),
                        SETTINGS.summary, tz=SETTINGS.tz)
    org = facts.item("forecast:organization")
    assert (org.entity, org.state, org.actionable) == ({"scope": "organization"}, "no_budget", False)
    assert values(org)["forecast"][0] == Decimal("98012.70")
    line = "AWS Cost Explorer forecast for the end of November: organization $98,012.70"
    assert line in render.deterministic_text(facts, "en", "test").splitlines()


# ------------------------------------------------------------------------------------------------- claims

WEB = "forecast:web"


@pytest.mark.parametrize("ids, text, problem", [
    ((WEB,), "`web` is forecast to end November at $1,307.50, 163.4% of its $800.00 budget (AWS Cost Explorer "
             "forecast): over budget.", None),
    ((WEB,), "AWS Cost Explorer forecasts that `web` will end November at $1,307.50, including $895.00 month to date.",
     None),
    ((WEB,), "AWS Cost Explorer 예측: `web` 2026-11 월말 $1,307.50, 예산 $800.00의 163.4%로 예산 초과입니다.", None),
    ((WEB,), "`web` has spent $1,307.50 month to date.", "'$1,307.50' is not a figure for 'month to date'"),
    ((WEB,), "`web` 이번 달 누계 $1,307.50입니다.", "'$1,307.50' is not a figure for '이번 달 누계'"),
    ((WEB,), "The AWS Cost Explorer forecast for `web` is $895.00 at month end.",
     "'$895.00' is not a figure for 'forecast', 'month end'"),
    ((WEB,), "AWS Cost Explorer forecasts that `web` will end November at $895.00.",
     "'$895.00' is not a figure for 'forecasts', 'will end'"),
    ((WEB,), "`web` is projected at $1,307.50 by month end.", "'$1,307.50' is not a figure for 'projected', 'month end'"),
    (("forecast:account:data-prod",), "`data-prod` is forecast over budget at $2,019.40.",
     "says over budget, against the cited facts"),
    (("budget:web",), "`web` is forecast at $1,307.50.", "figure '$1,307.50' is no usd value of the cited facts"),
    (("budget:web", WEB), "AWS Cost Explorer forecasts `web` at $1,342.50.",  # the reporter's projection, as AWS's
     "'$1,342.50' is not a figure for 'forecasts'"),
    (("budget:web", WEB), "`web` is projected at $1,342.50 and AWS Cost Explorer forecasts $1,307.50 by month end.",
     None),
])
def test_a_claim_about_a_forecast_is_checked_against_its_period(ids, text, problem):
    assert claims.check(claims.Claim(ids, text), facts_of("overrun")) == problem


def test_the_model_is_told_what_a_forecast_fact_is():
    prompt = system_prompt("en")
    assert 'A fact of kind "forecast" is AWS Cost Explorer\'s own month-end forecast' in prompt
    assert "never call the forecast month to date" in prompt


def test_an_overrun_forecast_no_claim_cites_makes_the_answer_fall_back():
    facts = facts_of("overrun")
    answer = ('{"claims": [{"facts": ["budget:web"], "text": "`web` is over budget: projected $1,342.50 against '
              '$800.00 (167.8%), $542.50 over."}]}')
    review = claims.review(answer, facts)
    assert review.fallback == "actionable_missing" and review.missing == (WEB,)


# ------------------------------------------------------------------------------------------------- text

GRAFANA = "http://grafana.example:3000"


@pytest.mark.parametrize("language, over, folded", [
    ("en", "project `web` forecast to end November at $1,307.50, 163.4% of its $800.00 budget "
           "(AWS Cost Explorer forecast) — over budget",
     "AWS Cost Explorer forecast for the end of November: `data-prod` $2,019.40 (80.8% of $2,500.00)"),
    ("ko", "프로젝트 `web`: 2026-11 월말 예측 $1,307.50, 예산 $800.00의 163.4% (AWS Cost Explorer 예측) — 예산 초과",
     "AWS Cost Explorer 2026-11 월말 예측: `data-prod` $2,019.40 (예산 $2,500.00의 80.8%)"),
])
def test_the_deterministic_summary_has_a_line_per_overrun_forecast_and_folds_the_others(language, over, folded):
    facts = facts_of("overrun")
    text = render.deterministic_text(facts, language, "test")
    lines = text.splitlines()
    assert over in lines and folded in lines
    budgets = lines.index(next(line for line in lines if line.startswith("*") and ("Budgets" in line or "예산" in line)))
    assert budgets < lines.index(over) < lines.index(folded)  # in the budgets section, after the projections
    assert guard.check(text, facts).ok
    assert "`web-prod` $1,270.00" not in text  # a forecast without a budget: a fact, not a line
    link, _ = _linker(facts, "AmortizedCost", GRAFANA)
    linked = render.deterministic_text(facts, language, "test", link)
    line = next(x for x in linked.splitlines() if x.startswith(over))
    assert "viewPanel=30" in line and "var-project=web" in line and "endDate=2026-11-30" in line
    pairs = links.for_fact(facts.item(WEB), facts.day, "AmortizedCost", None)
    assert [label for label, _ in pairs] == ["Cost Explorer"] and "333333333333" in pairs[0][1]
