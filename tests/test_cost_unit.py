"""Cost Explorer query planning and parsing, from real-shaped responses (moto replays seeds blindly,
so what we ask for is proven here, against botocore's own model)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from exporter.collectors.cost import CostQuery, fetch_pages, months_from_days, parse_page, plan_queries
from exporter.config import CostSettings
from exporter.exposition.cost import view as view_of
from exporter.model import DAILY, MONTHLY, CostRecord
from exporter.periods import cost_detail
from tests.conftest import load_fixture

D = dt.date


def view(records, as_of: dt.date, baseline_days: int):
    """What the exposition makes of records collected as of ``as_of`` (the detail the collector records)."""
    return view_of(records, cost_detail(as_of, baseline_days))


def windows(as_of: dt.date, **kw) -> list[tuple[str, str, str]]:
    return [(q.granularity, q.start.isoformat(), q.end.isoformat())
            for q in plan_queries(as_of, CostSettings(**{k: v for k, v in kw.items() if k != "oldest"}), kw.get("oldest"))]


def test_two_requests_cover_yesterday_baseline_last_month_and_month_to_date():
    assert windows(D(2026, 11, 25)) == [
        ("DAILY", "2026-11-10", "2026-11-25"),    # 14 baseline days + yesterday
        ("MONTHLY", "2026-10-01", "2026-11-25"),  # last month + month to date
    ]


def test_first_of_month_asks_only_for_last_month():
    assert windows(D(2026, 12, 1)) == [("DAILY", "2026-11-16", "2026-12-01"), ("MONTHLY", "2026-11-01", "2026-12-01")]
    assert windows(D(2027, 1, 1))[1] == ("MONTHLY", "2026-12-01", "2027-01-01")


def test_baseline_days_are_configurable():
    assert windows(D(2026, 3, 1), baseline_days=7)[0] == ("DAILY", "2026-02-21", "2026-03-01")


def test_history_days_lengthens_the_same_daily_request():
    assert windows(D(2026, 11, 25), history_days=45) == [
        ("DAILY", "2026-10-11", "2026-11-25"), ("MONTHLY", "2026-10-01", "2026-11-25")]
    assert windows(D(2026, 11, 25), history_days=3)[0][1] == "2026-11-10"  # never shorter than the baseline


def test_a_daily_window_that_holds_last_month_makes_the_monthly_request_unnecessary():
    assert windows(D(2026, 11, 25), history_days=55) == [("DAILY", "2026-10-01", "2026-11-25")]
    assert windows(D(2026, 11, 25), history_days=54)[1][0] == "MONTHLY"  # one day short of October 1st
    # 62 days of history always reach the 1st of last month (at most 61 days before): one request a refresh.
    day = D(2026, 1, 1)
    while day < D(2028, 1, 1):
        assert len(windows(day, history_days=62)) == 1, day
        day += dt.timedelta(days=1)


def _day(service: str, day: dt.date, amount: str, estimated: bool = False) -> CostRecord:
    return CostRecord(service, DAILY, day, day + dt.timedelta(days=1), Decimal(amount), "USD", "AmortizedCost",
                      estimated)


def test_last_month_and_month_to_date_are_the_sums_of_the_days_when_only_daily_is_asked_for():
    as_of = D(2026, 11, 25)
    days = [_day("EC2", D(2026, 10, 1) + dt.timedelta(days=i), "10.01") for i in range(55)]
    days += [_day("S3", D(2026, 10, 31), "0.0000001"), _day("S3", D(2026, 11, 24), "2", estimated=True)]
    months = {(r.service, r.period_start): r for r in months_from_days(days, as_of)}
    assert months[("EC2", D(2026, 10, 1))].amount == Decimal("310.31")  # 31 × 10.01, exact
    assert months[("EC2", D(2026, 11, 1))].amount == Decimal("240.24")  # the 1st to the 24th
    assert months[("S3", D(2026, 10, 1))].amount == Decimal("0.0000001")
    assert months[("S3", D(2026, 11, 1))].estimated and not months[("EC2", D(2026, 10, 1))].estimated
    got = view(days + list(months_from_days(days, as_of)), as_of, 14)
    assert got.monthly == {"EC2": Decimal("310.31"), "S3": Decimal("0.0000001")}
    assert got.month_to_date == {"EC2": Decimal("240.24"), "S3": Decimal("2")}
    assert got.periods["month_to_date"] == (D(2026, 11, 1), True)


def test_month_to_date_on_the_2nd_is_not_mistaken_for_a_day():
    """On the 2nd, MONTHLY's month to date is [1st, 2nd): one day long, like a DAILY period."""
    as_of = D(2026, 3, 2)
    monthly = {"ResultsByTime": [
        {"TimePeriod": {"Start": "2026-02-01", "End": "2026-03-01"}, "Estimated": False,
         "Groups": [{"Keys": ["EC2"], "Metrics": {"AmortizedCost": {"Amount": "280", "Unit": "USD"}}}]},
        {"TimePeriod": {"Start": "2026-03-01", "End": "2026-03-02"}, "Estimated": True,
         "Groups": [{"Keys": ["EC2"], "Metrics": {"AmortizedCost": {"Amount": "11", "Unit": "USD"}}}]}]}
    records = parse_page(monthly, "AmortizedCost", MONTHLY) + (_day("EC2", D(2026, 3, 1), "10.5"),)
    got = view(records, as_of, 14)
    assert got.daily == {"EC2": Decimal("10.5")} and got.month_to_date == {"EC2": Decimal("11")}
    assert got.monthly == {"EC2": Decimal("280")}


def test_a_day_still_estimated_is_fetched_again_within_the_refetch_limit():
    assert windows(D(2026, 11, 25), oldest=D(2026, 11, 2))[0] == ("DAILY", "2026-11-02", "2026-11-25")
    # Older than refetch_estimated_days: not worth the bigger request any more.
    assert windows(D(2026, 11, 25), oldest=D(2026, 8, 1), refetch_estimated_days=62)[0][1] == "2026-11-10"


def test_request_is_valid_for_the_real_service_model_and_follows_pages():
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    query = CostQuery("DAILY", D(2026, 11, 23), D(2026, 11, 25), "AmortizedCost")
    page1, page2 = load_fixture("ce", "GetCostAndUsage.daily.page1.json"), load_fixture("ce", "GetCostAndUsage.daily.page2.json")
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", page1, query.request())
        stub.add_response("get_cost_and_usage", page2, query.request(page1["NextPageToken"]))
        pages = list(fetch_pages(client, query))
        stub.assert_no_pending_responses()
    assert len(pages) == 2
    assert query.request()["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}]


def test_each_request_is_filtered_to_its_account():
    """From an Organizations management account Cost Explorer answers for every member account; the
    LINKED_ACCOUNT filter keeps each configured account's figures its own (the real model validates it)."""
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    queries = plan_queries(D(2026, 11, 25), CostSettings(), account_id="123456789012")
    with Stubber(client) as stub:
        for query in queries:
            stub.add_response("get_cost_and_usage", {"ResultsByTime": []}, query.request())
            list(fetch_pages(client, query))
        stub.assert_no_pending_responses()
    assert [q.request()["Filter"] for q in queries] == [
        {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["123456789012"]}}] * 2


def test_a_repeated_page_token_stops_at_once():
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    query = CostQuery("DAILY", D(2026, 11, 23), D(2026, 11, 25), "AmortizedCost")
    page1 = load_fixture("ce", "GetCostAndUsage.daily.page1.json")
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", page1, query.request())
        stub.add_response("get_cost_and_usage", page1, query.request(page1["NextPageToken"]))
        with pytest.raises(RuntimeError, match="already given"):
            list(fetch_pages(client, query))
        stub.assert_no_pending_responses()  # two requests, not MAX_PAGES


def test_runaway_pagination_stops_before_spending_more():
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    query = CostQuery("DAILY", D(2026, 11, 23), D(2026, 11, 25), "AmortizedCost")
    with Stubber(client) as stub:
        for n in range(3):
            stub.add_response("get_cost_and_usage", {**load_fixture("ce", "GetCostAndUsage.daily.page1.json"),
                                                     "NextPageToken": f"page-{n + 2}"})
        with pytest.raises(RuntimeError, match="more than 3 pages"):
            list(fetch_pages(client, query, max_pages=3))


def test_amounts_stay_exact_decimals():
    records = parse_page(load_fixture("ce", "GetCostAndUsage.daily.page1.json"), "AmortizedCost", DAILY)
    kms = next(r for r in records if r.service == "AWS Key Management Service")
    assert kms.amount == Decimal("0.0000001234") and str(kms.amount) == "1.234E-7"
    assert format(kms.amount, "f") == "0.0000001234"
    assert kms == CostRecord("AWS Key Management Service", DAILY, D(2026, 11, 23), D(2026, 11, 24),
                             Decimal("0.0000001234"), "USD", "AmortizedCost", False)


def test_monthly_periods_and_estimated_flags_are_parsed():
    records = parse_page(load_fixture("ce", "GetCostAndUsage.monthly.json"), "AmortizedCost", MONTHLY)
    assert {(r.granularity, r.period_start, r.period_end, r.estimated) for r in records} == {
        (MONTHLY, D(2026, 10, 1), D(2026, 11, 1), False), (MONTHLY, D(2026, 11, 1), D(2026, 11, 25), True)}


def test_a_different_metric_is_ignored_rather_than_misread():
    assert parse_page(load_fixture("ce", "GetCostAndUsage.monthly.json"), "UnblendedCost", MONTHLY) == ()


def _daily(service: str, day: dt.date, amount: str) -> CostRecord:
    return CostRecord(service, DAILY, day, day + dt.timedelta(days=1), Decimal(amount), "USD", "AmortizedCost", False)


def test_view_picks_yesterday_last_month_month_to_date_and_a_baseline_with_missing_days_as_zero():
    as_of = D(2026, 11, 25)
    records = [_daily("EC2", D(2026, 11, 24), "100"), _daily("EC2", D(2026, 11, 23), "28"),
               _daily("EC2", D(2026, 11, 10), "14"), _daily("EC2", D(2026, 11, 9), "999"),  # outside the baseline
               _daily("S3", D(2026, 11, 20), "7"),
               CostRecord("EC2", MONTHLY, D(2026, 10, 1), D(2026, 11, 1), Decimal("3000"), "USD", "AmortizedCost", False),
               CostRecord("EC2", MONTHLY, D(2026, 11, 1), D(2026, 11, 25), Decimal("2400"), "USD", "AmortizedCost", True)]
    v = view(records, as_of, baseline_days=14)
    assert v.daily == {"EC2": Decimal("100")}
    assert v.baseline == {"EC2": Decimal("42") / 14, "S3": Decimal("0.5")}
    assert v.monthly == {"EC2": Decimal("3000")}
    assert v.month_to_date == {"EC2": Decimal("2400")}
    assert v.periods["month_to_date"] == (D(2026, 11, 1), True)


def test_view_on_the_first_of_a_month_has_a_month_to_date_of_zero_for_every_known_service():
    records = [CostRecord("EC2", MONTHLY, D(2026, 11, 1), D(2026, 12, 1), Decimal("3000"), "USD", "AmortizedCost", True),
               CostRecord("S3", DAILY, D(2026, 11, 30), D(2026, 12, 1), Decimal("2"), "USD", "AmortizedCost", True)]
    v = view(records, D(2026, 12, 1), 14)
    assert v.monthly == {"EC2": Decimal("3000")} and v.daily == {"S3": Decimal("2")}
    assert v.month_to_date == {"EC2": Decimal(0), "S3": Decimal(0)}
    # the period starts today: days elapsed (yesterday's start - this start + 1 day) is 0
    assert v.periods["month_to_date"] == (D(2026, 12, 1), False)


def test_a_refresh_after_one_that_saw_an_estimated_day_asks_for_that_day_again():
    from exporter.collectors.cost import CostCollector
    from exporter.model import AccountResult
    from tests.aws_helpers import config_for

    account = config_for(1).accounts[0]
    stale = CostRecord("EC2", DAILY, D(2026, 11, 2), D(2026, 11, 3), Decimal("9"), "USD", "AmortizedCost", True)
    previous = AccountResult(collector="cost", account_id=account.id, records=(stale,), up=True)
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    collector = CostCollector(CostSettings(), client_for=lambda *_: client)
    restated = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-02", "End": "2026-11-03"}, "Total": {},
                                   "Groups": [{"Keys": ["EC2"], "Metrics": {"AmortizedCost": {"Amount": "9.75", "Unit": "USD"}}}],
                                   "Estimated": False}]}
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", restated,
                          CostQuery("DAILY", D(2026, 11, 2), D(2026, 11, 25), "AmortizedCost", "000000000001").request())
        stub.add_response("get_cost_and_usage", {"ResultsByTime": []},
                          CostQuery("MONTHLY", D(2026, 10, 1), D(2026, 11, 25), "AmortizedCost", "000000000001").request())
        collected = collector.collect_account(account, D(2026, 11, 25), previous)
        stub.assert_no_pending_responses()
    assert collected.records == (CostRecord("EC2", DAILY, D(2026, 11, 2), D(2026, 11, 3), Decimal("9.75"), "USD",
                                            "AmortizedCost", False),)


def test_an_account_without_cost_yesterday_still_reports_the_periods_it_covers():
    """Its month to date (a fee on the 1st) must count in month-end projections, which take the days elapsed
    from the daily period start: an account with no cost yesterday still has yesterday as that period."""
    as_of = D(2026, 11, 25)
    fee = CostRecord("Savings Plans", MONTHLY, D(2026, 11, 1), as_of, Decimal("9000"), "USD", "AmortizedCost", False)
    got = view([fee], as_of, 14)
    assert got.daily == {} and got.month_to_date == {"Savings Plans": Decimal("9000")}
    assert got.periods == {"daily": (D(2026, 11, 24), False), "monthly": (D(2026, 10, 1), False),
                           "month_to_date": (D(2026, 11, 1), False)}
    assert view([], D(2026, 12, 1), 14).periods["month_to_date"] == (D(2026, 12, 1), False)  # empty on the 1st
