"""The cost split by record type in the report (exporter/reporter/recordtypes.py): the exporter's
``CostDetail.signals.record_types`` through /snapshot into ``cost_record_types``, the facts (kind ``record_type``;
the totals say they include every record type and carry the Usage amount), the claims check (a credit never passed
off as usage, the all-record-types total never called usage) and the deterministic text in English and Korean."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec
import pytest
from sqlite_utils import Database

from exporter.config.reporter import ReporterSettings
from exporter.model import (MONTH_TO_DATE, MONTHLY, RECORD_TYPES, AccountResult, CostRecord, CostSignals,
                            RecordTypeCost, SignalStatus, decode_snapshot, encode_snapshot)
from exporter.periods import cost_detail, first_of_month, previous_month_start
from exporter.reporter import claims, guard, render
from exporter.reporter.store import Store
from exporter.reporter.summary import build_facts
from tests.test_reporter_fakes import daily_cost, snapshot_of

DATA, WEB = "111111111111", "333333333333"
ACCOUNTS = [(DATA, "data-prod", "data"), (WEB, "web-prod", "web")]
DAILY = {DATA: Decimal("10.00"), WEB: Decimal("5.00")}  # Amazon EC2, every day
URL = "http://exporter:9780"
SETTINGS = ReporterSettings(timezone="UTC")


def _at(as_of: dt.date) -> dt.datetime:
    return dt.datetime.combine(as_of, dt.time(0, 10), dt.timezone.utc)


def _costs(account_id: str, as_of: dt.date, metric: str = "AmortizedCost") -> list[CostRecord]:
    first, day, out = previous_month_start(as_of - dt.timedelta(days=1)), as_of - dt.timedelta(days=1), []
    while first <= day:
        out.append(daily_cost("Amazon EC2", first, str(DAILY[account_id]), metric=metric))
        first += dt.timedelta(days=1)
    return out


def split(as_of: dt.date, monthly: Mapping[str, str], month_to_date: Mapping[str, str] | None = None
          ) -> tuple[RecordTypeCost, ...]:
    """Record types as the exporter parses them as of ``as_of``: last month, and the month to date (none on the 1st)."""
    last, this = previous_month_start(as_of), first_of_month(as_of)
    out = [RecordTypeCost(t, MONTHLY, last, this, Decimal(v)) for t, v in monthly.items()]
    out += [RecordTypeCost(t, MONTH_TO_DATE, this, as_of, Decimal(v)) for t, v in (month_to_date or {}).items()]
    return tuple(out)


def snapshot(as_of: dt.date, record_types: Mapping[str, tuple[RecordTypeCost, ...]], ok: bool | None = True,
             metric: str = "AmortizedCost", accounts: Iterable[str] = (DATA, WEB)):
    results = []
    for account_id in accounts:
        status = () if ok is None else (SignalStatus(signal=RECORD_TYPES, ok=ok),)
        signals = CostSignals(record_types=record_types.get(account_id, ()), status=status)
        results.append(AccountResult(
            collector="cost", account_id=account_id, up=True, last_attempt=_at(as_of), last_success=_at(as_of),
            as_of=as_of, records=tuple(_costs(account_id, as_of, metric)),
            detail=msgspec.structs.replace(cost_detail(as_of, 14), signals=signals)))
    return decode_snapshot(encode_snapshot(snapshot_of(*results, accounts=ACCOUNTS)))  # over the wire


NOV_16 = dt.date(2026, 11, 16)
# data-prod: October $310.00 = usage $420.00 + credits -$120.00 + tax $10.00; November 1–15 $150.00.
SPLIT = {DATA: split(NOV_16, {"Usage": "420.00", "Credit": "-120.00", "Tax": "10.00"},
                     {"Usage": "175.00", "Credit": "-30.00", "Tax": "5.00"}),
         WEB: split(NOV_16, {"Usage": "155.00"}, {"Usage": "75.00"})}


def _store(*snapshots) -> Store:
    store = Store(Database(memory=True))
    for s in snapshots:
        store.store_snapshot(s, URL, s.taken_at or _at(NOV_16))
    return store


def _rows(store: Store) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    return {(r["account_id"], r["record_type"], r["granularity"], r["period_start"]): (r["period_end"], r["amount"])
            for r in store.db["cost_record_types"].rows}


def _facts(store: Store, day: dt.date, metric: str = "AmortizedCost"):
    return build_facts(store, day, _at(day + dt.timedelta(days=1)), SETTINGS.summary, metric=metric)


# ------------------------------------------------------------------------------------------------- store

def test_the_split_is_stored_exactly_upserted_and_a_record_type_restated_away_is_deleted():
    store = _store(snapshot(NOV_16, SPLIT))
    rows = _rows(store)
    assert rows[(DATA, "Credit", "monthly", "2026-10-01")] == ("2026-11-01", "-120.00")
    assert rows[(DATA, "Tax", "month_to_date", "2026-11-01")] == ("2026-11-16", "5.00")
    assert len(rows) == 8
    later = {DATA: split(NOV_16, {"Usage": "420.00", "Credit": "-120.005"}, {"Usage": "175.00", "Credit": "-31.00",
                                                                              "Tax": "5.00"}), WEB: SPLIT[WEB]}
    store.store_snapshot(snapshot(NOV_16, later), URL, _at(NOV_16) + dt.timedelta(hours=6))
    rows = _rows(store)
    assert rows[(DATA, "Credit", "monthly", "2026-10-01")] == ("2026-11-01", "-120.005")
    assert rows[(DATA, "Credit", "month_to_date", "2026-11-01")] == ("2026-11-16", "-31.00")
    assert (DATA, "Tax", "monthly", "2026-10-01") not in rows  # Cost Explorer no longer has October's tax
    assert len(rows) == 7


def test_a_file_of_the_schema_before_the_split_gets_the_table_and_keeps_its_rows():
    import inspect

    from exporter.reporter.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
    db = Database(memory=True)
    before = next(i for i, m in enumerate(MIGRATIONS) if "cost_record_types" in inspect.getsource(m))  # its number − 1
    migrate(db, target=before)
    db["accounts"].insert({"id": DATA, "name": "data-prod", "project": "data"})
    assert "cost_record_types" not in db.table_names()
    store = Store(db)
    assert schema_version(db) == SCHEMA_VERSION and store.accounts()[0]["name"] == "data-prod"
    store.store_snapshot(snapshot(NOV_16, SPLIT), URL, _at(NOV_16))
    assert len(_rows(store)) == 8


@pytest.mark.parametrize("ok", [False, None], ids=["request failed", "signal off"])
def test_a_refresh_whose_record_types_failed_or_were_not_asked_keeps_the_rows(ok):
    store = _store(snapshot(NOV_16, SPLIT))
    before = _rows(store)
    store.store_snapshot(snapshot(NOV_16 + dt.timedelta(days=1), {}, ok=ok), URL, _at(NOV_16 + dt.timedelta(days=1)))
    assert _rows(store) == before


def test_a_record_type_of_last_month_absent_from_the_month_to_date_is_a_real_zero():
    dec_2 = dt.date(2026, 12, 2)
    store = _store(snapshot(dec_2, {DATA: split(dec_2, {"Usage": "400.00", "Credit": "-90.00"}, {"Usage": "10.00"})},
                            accounts=[DATA]))
    assert _rows(store)[(DATA, "Credit", "month_to_date", "2026-12-01")] == ("2026-12-02", "0")


# ------------------------------------------------------------------------------------------------- facts

def _value(fact, name: str) -> Decimal | None:
    return next((v.amount for v in fact.values if v.name == name), None)


def test_the_fleet_and_each_account_with_credits_or_tax_get_record_type_facts_and_the_totals_say_all_types():
    facts = _facts(_store(snapshot(NOV_16, SPLIT)), dt.date(2026, 11, 15))
    credit = facts.item("record_type:last_month:Credit")
    assert credit.kind == "record_type" and credit.section == "totals" and credit.metric == "AmortizedCost"
    assert credit.values[0].amount == Decimal("-120.00") and credit.direction == -1
    assert [s.label() for s in credit.values[0].spans] == ["2026-10-01..2026-10-31"]
    tax = facts.item("record_type:month_to_date:Tax")
    assert tax.values[0].amount == Decimal("5.00") and tax.values[0].spans[0].label() == "2026-11-01..2026-11-15"
    assert facts.item("record_type:last_month:Usage") is None  # usage is on the totals
    assert facts.item("record_type:account:data-prod:last_month:Credit").values[0].amount == Decimal("-120.00")
    assert facts.item("record_type:account:web-prod:last_month:Usage") is None  # only usage: no line
    last, mtd = facts.item("total:last_month"), facts.item("total:month_to_date")
    assert (_value(last, "cost"), _value(last, "usage")) == (Decimal("465.00"), Decimal("575.00"))
    assert (_value(mtd, "cost"), _value(mtd, "usage")) == (Decimal("225.00"), Decimal("250.00"))
    assert last.entity["record_types"] == "all" and last.prompt()["record_types"] == "all"


def test_on_the_last_day_of_a_month_its_month_to_date_is_the_months_monthly_row():
    dec_1 = dt.date(2026, 12, 1)
    november = {DATA: split(dec_1, {"Usage": "350.00", "Credit": "-50.00"}), WEB: split(dec_1, {"Usage": "150.00"})}
    store = _store(snapshot(NOV_16, SPLIT), snapshot(dec_1, november))
    facts = _facts(store, dt.date(2026, 11, 30))
    assert facts.item("record_type:month_to_date:Credit").values[0].amount == Decimal("-50.00")
    assert facts.item("record_type:last_month:Credit").values[0].amount == Decimal("-120.00")  # October, kept
    assert _value(facts.item("total:month_to_date"), "usage") == Decimal("500.00")
    assert _value(facts.item("total:month_to_date"), "cost") == Decimal("450.00")
    # November's split has no tax (October's had): a real $0, not November 1–15's stored $5.00.
    assert facts.item("record_type:month_to_date:Tax").values[0].amount == 0


def test_on_the_1st_a_month_to_date_credit_not_yet_booked_is_zero_and_a_day_without_a_split_has_none():
    dec_2 = dt.date(2026, 12, 2)
    rt = {DATA: split(dec_2, {"Usage": "350.00", "Credit": "-50.00"}, {"Usage": "10.00"}),
          WEB: split(dec_2, {"Usage": "150.00"}, {"Usage": "5.00"})}
    store = _store(snapshot(dec_2, rt))
    facts = _facts(store, dt.date(2026, 12, 1))
    zero = facts.item("record_type:month_to_date:Credit")
    assert zero.values[0].amount == 0 and zero.direction == 0 and zero.values[0].spans[0].label() == "2026-12-01"
    assert _value(facts.item("total:month_to_date"), "usage") == Decimal("15.00")
    # The same 1st reported a day later: the stored split is of [Dec 1, Dec 2) only, no longer the month to date.
    later = _facts(store, dt.date(2026, 12, 2))
    assert later.item("record_type:month_to_date:Credit") is None
    assert _value(later.item("total:month_to_date"), "usage") is None


def test_a_partial_split_is_not_the_fleets_and_another_metric_is_none():
    partial = _store(snapshot(NOV_16, {DATA: SPLIT[DATA]}, accounts=[DATA]),
                     snapshot(NOV_16, {}, ok=None, accounts=[WEB]))
    facts = _facts(partial, dt.date(2026, 11, 15))
    assert facts.item("record_type:last_month:Credit") is None
    assert _value(facts.item("total:last_month"), "usage") is None
    assert facts.item("record_type:account:data-prod:last_month:Credit") is not None
    other = _facts(_store(snapshot(NOV_16, SPLIT, metric="UnblendedCost")), dt.date(2026, 11, 15))
    assert not [f for f in other.items if f.kind == "record_type"]


# ------------------------------------------------------------------------------------------------- claims

@pytest.fixture(scope="module")
def nov_15():
    return _facts(_store(snapshot(NOV_16, SPLIT)), dt.date(2026, 11, 15))


LAST, MTD = "total:last_month", "total:month_to_date"
CREDIT, TAX = "record_type:last_month:Credit", "record_type:last_month:Tax"


@pytest.mark.parametrize("ids, text", [
    ((LAST, CREDIT, TAX),
     "Last month's $465.00 covers every record type: usage $575.00, credits -$120.00, tax $10.00."),
    ((MTD, "record_type:month_to_date:Credit"), "Month to date $225.00, of which usage $250.00 and credits -$30.00."),
    ((LAST, CREDIT), "Last month came to $465.00 after credits of $120.00."),
    ((LAST,), "The fleet spent $465.00 last month, of which usage was $575.00."),
    ((CREDIT,), "Credits took $120 off last month's bill."),
    (("record_type:month_to_date:Credit",), "Month to date, credits are -$30.00."),
    ((LAST, CREDIT, TAX), "지난달 $465.00은 모든 요금 유형 합계입니다: 사용량 $575.00, 크레딧 -$120.00, 세금 $10.00."),
    (("record_type:account:data-prod:last_month:Credit",), "`data-prod` had credits of -$120.00 last month."),
])
def test_a_faithful_claim_about_record_types_is_kept(nov_15, ids, text):
    assert claims.check(claims.Claim(ids, text), nov_15) is None


@pytest.mark.parametrize("ids, text, problem", [
    ((LAST, CREDIT), "Last month's $465.00 included usage of -$120.00.", "calls '-$120.00' usage"),
    ((LAST,), "Usage was $465.00 last month.", "calls '$465.00' usage"),
    ((LAST,), "지난달 사용량은 $465.00입니다.", "calls '$465.00' usage"),
    ((LAST,), "The fleet spent $575.00 last month.", "states the usage amount '$575.00'"),
    ((CREDIT,), "Last month had a charge of $120.00.", "states the credit amount '$120.00'"),
    ((CREDIT,), "Credits rose to $120.00 last month.", "says $120.00 is up"),
    ((LAST, CREDIT, TAX), "Last month: tax $120.00.", "calls '$120.00' tax"),
    ((LAST, TAX), "Last month $465.00, credits $10.00.", "calls '$10.00' credit"),
])
def test_a_credit_passed_off_as_usage_or_the_total_called_usage_is_dropped(nov_15, ids, text, problem):
    assert problem in (claims.check(claims.Claim(ids, text), nov_15) or "")


def test_usage_said_of_a_figure_without_a_split_is_not_judged():
    facts = _facts(_store(snapshot(NOV_16, {}, ok=None)), dt.date(2026, 11, 15))
    assert claims.check(claims.Claim((LAST,), "Usage was $465.00 last month."), facts) is None


# ------------------------------------------------------------------------------------------------- text

@pytest.mark.parametrize("language, lines", [
    ("en", ["Last month $465.00 (AmortizedCost), all record types: usage $575.00, credits -$120.00, tax $10.00",
            "Month to date $225.00 (AmortizedCost), all record types: usage $250.00, credits -$30.00, tax $5.00",
            "`data-prod`: last month credits -$120.00, tax $10.00 · month to date credits -$30.00, tax $5.00"]),
    ("ko", ["지난달 $465.00 (AmortizedCost), 모든 요금 유형 합계: 사용량 $575.00, 크레딧 -$120.00, 세금 $10.00",
            "이번 달 누계 $225.00 (AmortizedCost), 모든 요금 유형 합계: 사용량 $250.00, 크레딧 -$30.00, 세금 $5.00",
            "`data-prod`: 지난달 크레딧 -$120.00, 세금 $10.00 · 이번 달 누계 크레딧 -$30.00, 세금 $5.00"]),
])
def test_the_deterministic_summary_shows_the_split_and_the_metric(nov_15, language, lines):
    text = render.deterministic_text(nov_15, language, "test")
    for line in lines:
        assert line in text.splitlines()
    assert guard.check(text, nov_15).ok


def test_without_a_split_the_summary_says_the_metric_and_that_every_record_type_is_in():
    facts = _facts(_store(snapshot(NOV_16, {}, ok=None)), dt.date(2026, 11, 15))
    assert ("Amounts are AmortizedCost, every record type included (usage, credits, refunds, tax, fees); no split by "
            "record type collected") in render.deterministic_text(facts, "en", "test").splitlines()
    assert "요금 유형별 내역은 수집되지 않음" in render.deterministic_text(facts, "ko", "test")


def test_the_split_lines_carry_the_totals_links(nov_15):
    text = render.deterministic_text(nov_15, "en", "test", link=lambda f: f" <{f.id}>")
    assert any(line.startswith("Last month $465.00") and line.endswith("<total:last_month>")
               for line in text.splitlines())


def test_support_fees_and_a_record_type_of_no_known_class_are_named_by_their_words():
    rt = {DATA: split(NOV_16, {"Usage": "331.00", "Support": "29.00", "SavingsPlanNegation": "-50.00"}),
          WEB: SPLIT[WEB]}
    facts = _facts(_store(snapshot(NOV_16, rt)), dt.date(2026, 11, 15))
    support, negation = "record_type:last_month:Support", "record_type:last_month:SavingsPlanNegation"
    for ids, text, problem in (
            ((support,), "Support fees were $29.00 last month.", None),
            ((negation,), "The Savings Plan negation was -$50.00 last month.", None),
            ((support,), "Usage of $29.00 last month.", "calls '$29.00' usage"),
            ((negation,), "Credits of -$50.00 last month.", "calls '-$50.00' credit")):
        assert (claims.check(claims.Claim(ids, text), facts) or "").startswith(problem or ""), text
        assert (claims.check(claims.Claim(ids, text), facts) is None) == (problem is None), text
    assert ("Last month $465.00 (AmortizedCost), all record types: usage $486.00, SavingsPlanNegation -$50.00, "
            "support fees $29.00") in render.deterministic_text(facts, "en", "test").splitlines()


def test_only_the_accounts_with_the_biggest_credits_tax_or_fees_get_their_own_lines(monkeypatch):
    from exporter.reporter import recordtypes
    rt = {DATA: SPLIT[DATA], WEB: split(NOV_16, {"Usage": "150.00", "Tax": "5.00"}, {"Usage": "75.00"})}
    store = _store(snapshot(NOV_16, rt))
    assert {f.entity.get("account") for f in _facts(store, dt.date(2026, 11, 15)).items
            if f.kind == "record_type"} == {None, "data-prod", "web-prod"}
    monkeypatch.setattr(recordtypes, "MAX_ACCOUNTS", 1)
    assert {f.entity.get("account") for f in _facts(store, dt.date(2026, 11, 15)).items
            if f.kind == "record_type"} == {None, "data-prod"}
