"""Payer mode (``collectors.cost.mode: payer``) against a Cost Explorer stand-in that interprets
GetCostAndUsage, over real HTTP: the same series as per-account mode, the cost of accounts outside the fleet,
the requests it is billed for, and failures. STS (per-account mode's AssumeRole) is moto's server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App
from exporter.collectors.cost_payer import PayerCostCollector, page_limit
from exporter.config import CostSettings
from exporter.model import CostRecord
from exporter.periods import first_of_month, previous_month_start
from tests.aws_helpers import config_for
from aws_ops_demo.cost_explorer import CostData, CostExplorerStandIn

D = dt.date
FLEET = (1, 2, 3, 4, 5)
IDLE = f"{4:012d}"  # an account of the fleet without any cost
OUTSIDE = (f"{98:012d}", f"{99:012d}")  # linked accounts the management account sees, not served
SERVICES = [f"Service {i:02d}" for i in range(9)] + ["Amazon Elastic Compute Cloud - Compute", "Tax"]
BUDGETS = {"projects": {"proj-0": 1000, "proj-1": 2500.5}}


def ids(numbers=FLEET) -> list[str]:
    return [f"{n:012d}" for n in numbers]


@pytest.fixture
def ce(aws, monkeypatch) -> Iterator[CostExplorerStandIn]:
    """The stand-in (the fleet, two accounts outside it, one idle account), ~13 groups a page so periods split
    over pages; STS and everything else from moto."""
    stand_in = CostExplorerStandIn(CostData(ids() + list(OUTSIDE), SERVICES, idle=frozenset({IDLE})),
                                   today=D(2026, 6, 15), page_size=13)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        yield stand_in


def build(mode: str, numbers=FLEET, as_of: dt.date | None = None, **cost) -> App:
    config = config_for(*numbers, collectors={"cost": {"enabled": True, "mode": mode, **cost}},
                        aws={"max_attempts": 1}, budgets=BUDGETS)
    return App.build(config, process_metrics=False, as_of=as_of)


def cost_samples(app: App) -> dict[tuple, float]:
    """Every sample of the cost families and of the cost collector's up, by (name, labels)."""
    out = {}
    for family in text_string_to_metric_families(app.exposition.metrics().decode()):
        for s in family.samples:
            if s.name.startswith("aws_cost_") or (s.name == "aws_exporter_collector_up"
                                                  and s.labels["collector"] == "cost"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def records(app: App, account_id: str) -> tuple:
    return app.holder.current.result("cost", account_id).records


def refresh(app: App, stand_in: CostExplorerStandIn, as_of: dt.date) -> list[dict]:
    """One refresh as of ``as_of`` (the stand-in's today too); the billed requests it made."""
    stand_in.today = as_of
    before = len(stand_in.requests)
    app.collect_once(as_of)
    return stand_in.billed(before)


def windows(requests: list[dict]) -> list[tuple[str, str, str]]:
    """(granularity, start, end) of each query, its pages left out."""
    return [(r["Granularity"], r["TimePeriod"]["Start"], r["TimePeriod"]["End"])
            for r in requests if "NextPageToken" not in r]


# ------------------------------------------------------------------------------------------- stand-in


def test_the_stand_in_pages_groups_across_periods_and_honours_the_filter():
    stand_in = CostExplorerStandIn(CostData(ids((1, 2, 3)), SERVICES, idle=frozenset({ids((3,))[0]})),
                                   today=D(2026, 6, 15), estimated_days=2, page_size=7)
    request = {"TimePeriod": {"Start": "2026-05-30", "End": "2026-06-15"}, "Granularity": "DAILY",
               "Metrics": ["AmortizedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                                         {"Type": "DIMENSION", "Key": "SERVICE"}]}
    answer = stand_in.pages(request)
    pages = [answer.page(n) for n in range(len(answer))]
    groups = [(r["TimePeriod"]["Start"], tuple(g["Keys"])) for p in pages for r in p["ResultsByTime"] for g in r["Groups"]]
    assert all(sum(len(r["Groups"]) for r in p["ResultsByTime"]) <= 7 for p in pages)
    assert len(groups) == len(set(groups)) > 7 * 10 and _split_periods(answer)
    assert {k[0] for _, k in groups} == set(ids((1, 2)))  # the idle account has no group at all
    assert [p.get("NextPageToken") is None for p in pages] == [False] * (len(pages) - 1) + [True]
    days = {r["TimePeriod"]["Start"]: r["Estimated"] for p in pages for r in p["ResultsByTime"]}
    assert len(days) == 16 and [d for d, e in days.items() if e] == ["2026-06-13", "2026-06-14"]
    monthly = stand_in.pages({**request, "Granularity": "MONTHLY", "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
                              "Filter": {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ids()[0]]}}})
    results = [r for n in range(len(monthly)) for r in monthly.page(n)["ResultsByTime"]]
    assert sorted({(r["TimePeriod"]["Start"], r["TimePeriod"]["End"], r["Estimated"]) for r in results}) == [
        ("2026-05-30", "2026-06-01", False), ("2026-06-01", "2026-06-15", True)]
    may = sum(Decimal(g["Metrics"]["AmortizedCost"]["Amount"]) for r in results for g in r["Groups"]
              if r["TimePeriod"]["Start"] == "2026-05-30")
    assert may == Decimal(sum(stand_in.data.total("AmortizedCost", ids()[0], s, D(2026, 5, 30), D(2026, 6, 1)) or 0
                              for s in SERVICES)).scaleb(-10)


# ------------------------------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("as_of", [D(2026, 3, 1), D(2026, 2, 28), D(2026, 6, 15)])
def test_payer_mode_gives_every_series_per_account_mode_gives(ce, as_of):
    per_account, payer = build("per_account", as_of=as_of), build("payer", as_of=as_of)
    refresh(per_account, ce, as_of)
    payer_requests = refresh(payer, ce, as_of)

    expected = cost_samples(per_account)
    assert cost_samples(payer) == expected
    names = {name for name, _ in expected}
    assert names >= {"aws_cost_usd", "aws_cost_month_to_date_usd", "aws_cost_daily_baseline_usd",
                     "aws_cost_period_start_timestamp_seconds", "aws_cost_estimated", "aws_cost_budget_usd",
                     "aws_exporter_collector_up"}
    assert {v for (name, _), v in expected.items() if name == "aws_exporter_collector_up"} == {1.0}
    for account_id in ids():  # the records themselves: exact Decimals, periods, Estimated flags
        assert records(payer, account_id) == records(per_account, account_id)
    assert records(payer, IDLE) == ()
    # Periods did split over pages: the same TimePeriod on two consecutive pages of the answer.
    assert len(payer_requests) > 2
    assert any(_split_periods(ce.pages({k: v for k, v in r.items() if k != "NextPageToken"}))
               for r in payer_requests)


def _split_periods(answer) -> bool:
    pages = [answer.page(n) for n in range(len(answer))]
    return any(a["ResultsByTime"][-1]["TimePeriod"] == b["ResultsByTime"][0]["TimePeriod"]
               for a, b in zip(pages, pages[1:]))


def test_refresh_after_refresh_the_kept_days_give_what_asking_again_gives(ce):
    """Day after day across a month's end (and the 1st), with estimated days turning final on the way."""
    per_account, payer = build("per_account"), build("payer")
    for as_of in [D(2026, 2, 26), D(2026, 2, 27), D(2026, 2, 27), D(2026, 2, 28), D(2026, 3, 1), D(2026, 3, 2),
                  D(2026, 3, 5)]:
        refresh(per_account, ce, as_of)
        refresh(payer, ce, as_of)
        assert cost_samples(payer) == cost_samples(per_account), as_of
        for account_id in ids():
            assert records(payer, account_id) == records(per_account, account_id), (as_of, account_id)


def test_history_days_that_hold_last_month_need_no_monthly_request_in_payer_mode_either(ce):
    as_of = D(2026, 6, 15)
    per_account, payer = build("per_account", history_days=62), build("payer", history_days=62)
    refresh(per_account, ce, as_of)
    asked = windows(refresh(payer, ce, as_of))
    assert asked == [("DAILY", "2026-04-14", "2026-06-15")]
    assert cost_samples(payer) == cost_samples(per_account)
    assert windows(refresh(payer, ce, as_of)) == [("DAILY", "2026-06-12", "2026-06-15")]  # the estimated days
    assert cost_samples(payer) == cost_samples(per_account)


# ------------------------------------------------------------------------------------------- unmapped


def _exact(stand_in: CostExplorerStandIn, accounts, start: dt.date, end: dt.date) -> Decimal:
    total = 0
    for account in accounts:
        for service in SERVICES:
            total += stand_in.data.total("AmortizedCost", account, service, start, end) or 0
    return Decimal(total).scaleb(-10)


@pytest.mark.parametrize("as_of", [D(2026, 3, 1), D(2026, 6, 15)])
def test_cost_of_accounts_outside_the_fleet_is_on_no_account_and_summed_as_unmapped(ce, as_of):
    app = build("payer", as_of=as_of)
    refresh(app, ce, as_of)
    text = app.exposition.metrics().decode()
    assert all(outside not in text for outside in OUTSIDE)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    unmapped = {s.labels["granularity"]: s.value for s in families["aws_exporter_cost_unmapped_usd"].samples}
    yesterday, last_month = as_of - dt.timedelta(days=1), previous_month_start(as_of)
    daily = _exact(ce, OUTSIDE, yesterday, as_of)
    monthly = _exact(ce, OUTSIDE, last_month, first_of_month(as_of))
    assert daily > 0 and monthly > 0
    assert unmapped == {"daily": float(daily), "monthly": float(monthly)}
    run = app.holder.current.collectors["cost"].run
    assert [(u.granularity, u.period_start, u.period_end, u.amount, u.accounts) for u in run.unmapped] == [
        ("daily", yesterday, as_of, daily, 2), ("monthly", last_month, first_of_month(as_of), monthly, 2)]
    # The fleet's own cost is exactly what each account shows: nothing counted twice, nothing lost.
    fleet_monthly = sum((r.amount for a in ids() for r in records(app, a)
                         if r.granularity == "monthly" and r.period_start == last_month), Decimal(0))
    assert fleet_monthly + monthly == _exact(ce, ids() + list(OUTSIDE), last_month, first_of_month(as_of))


def test_per_account_mode_has_no_unmapped_cost(ce):
    app = build("per_account")
    refresh(app, ce, D(2026, 6, 15))
    families = {f.name: f for f in text_string_to_metric_families(app.exposition.metrics().decode())}
    assert families["aws_exporter_cost_unmapped_usd"].samples == []


def test_discovered_fleet_with_an_excluded_account(aws, monkeypatch):
    """Organization discovery serves the ACTIVE accounts but one excluded; payer mode asks the management
    account (the exporter's own identity), maps the answer back, and counts the excluded one as unmapped."""
    orgs = boto3.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    created = [orgs.create_account(AccountName=f"member-{n}", Email=f"m{n}@example.com")["CreateAccountStatus"]
               for n in range(3)]
    members = [c["AccountId"] for c in created]
    listed = [a["Id"] for a in orgs.list_accounts()["Accounts"]]
    as_of = D(2026, 6, 15)
    stand_in = CostExplorerStandIn(CostData(listed, SERVICES), today=as_of, page_size=50)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        config = config_for(collectors={"cost": {"enabled": True, "mode": "payer"}}, accounts=[],
                            organization={"enabled": True, "exclude_accounts": [members[0]]})
        app = App.build(config, process_metrics=False, as_of=as_of)
        app.collect_once(as_of)
    served = {a.id for a in app.runner.accounts}
    assert served == set(listed) - {members[0]}
    up = {s.labels["account"]: s.value for f in text_string_to_metric_families(app.exposition.metrics().decode())
          if f.name == "aws_exporter_collector_up" for s in f.samples}
    assert len(up) == len(served) and set(up.values()) == {1.0}
    run = app.holder.current.collectors["cost"].run
    assert run.unmapped[0].amount == _exact(stand_in, [members[0]], as_of - dt.timedelta(days=1), as_of)
    assert run.unmapped[0].accounts == 1
    assert all(r.get("Filter") is None and len(r["GroupBy"]) == 2 for r in stand_in.requests)


# ------------------------------------------------------------------------------------------- requests


@pytest.mark.parametrize("accounts", [3, 30])
def test_the_first_pass_is_one_query_set_for_the_whole_fleet(aws, monkeypatch, accounts):
    numbers = tuple(range(1, accounts + 1))
    as_of = D(2026, 6, 15)
    stand_in = CostExplorerStandIn(CostData(ids(numbers), SERVICES), today=as_of, page_size=100_000)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        app = build("payer", numbers, as_of=as_of)
        asked = refresh(app, stand_in, as_of)
        assert windows(asked) == [("DAILY", "2026-05-31", "2026-06-15"), ("MONTHLY", "2026-05-01", "2026-06-15")]
        assert len(asked) == 2 == app.clients.stats.requests_for("ce", "GetCostAndUsage")
        assert all(r["GroupBy"] == [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                    {"Type": "DIMENSION", "Key": "SERVICE"}] and "Filter" not in r for r in asked)
        # With pages: only the pages grow (as the groups do), never the query set.
        stand_in.page_size = 100
        again = refresh(build("payer", numbers, as_of=as_of), stand_in, as_of)
        daily, monthly = (stand_in.pages(q) for q in asked)
        assert len(again) == len(daily) + len(monthly)
        assert len(windows(again)) == 2
    assert app.clients.stats.requests_for("sts") == 0  # the exporter's own identity: no role assumed


def test_steady_state_asks_only_for_what_may_still_change(ce):
    ce.estimated_days = 2
    app, as_of = build("payer"), D(2026, 6, 15)
    first = refresh(app, ce, as_of)
    assert windows(first) == [("DAILY", "2026-05-31", "2026-06-15"), ("MONTHLY", "2026-05-01", "2026-06-15")]
    values = cost_samples(app)

    # Same day again: DAILY from the first estimated day, MONTHLY for the month to date (May is final).
    second = refresh(app, ce, as_of)
    assert windows(second) == [("DAILY", "2026-06-13", "2026-06-15"), ("MONTHLY", "2026-06-01", "2026-06-15")]
    assert cost_samples(app) == values

    # Next day: the day that turned final is asked once more (it was estimated), nothing before it.
    third = refresh(app, ce, as_of + dt.timedelta(days=1))
    assert windows(third) == [("DAILY", "2026-06-13", "2026-06-16"), ("MONTHLY", "2026-06-01", "2026-06-16")]
    fourth = refresh(app, ce, as_of + dt.timedelta(days=1))
    assert windows(fourth) == [("DAILY", "2026-06-14", "2026-06-16"), ("MONTHLY", "2026-06-01", "2026-06-16")]


def test_estimated_history_days_beyond_refetch_estimated_days_are_not_asked_again(ce):
    """Days kept only for the reporter's history: a still-estimated one older than refetch_estimated_days is
    left as it is; yesterday and its baseline window are asked again while estimated, as in per-account mode."""
    ce.estimated_days = 40  # every day of the window still estimated
    app, as_of = build("payer", history_days=30, refetch_estimated_days=5), D(2026, 6, 15)
    assert windows(refresh(app, ce, as_of))[0] == ("DAILY", "2026-05-16", "2026-06-15")
    assert windows(refresh(app, ce, as_of))[0] == ("DAILY", "2026-05-31", "2026-06-15")  # baseline: 14 + 1 days


def test_a_final_day_is_never_asked_for_again(ce):
    app, final_days = build("payer"), set()
    for as_of in [D(2026, 6, 27), D(2026, 6, 28), D(2026, 6, 28), D(2026, 6, 30), D(2026, 7, 1), D(2026, 7, 2)]:
        for request in refresh(app, ce, as_of):
            if request["Granularity"] == "DAILY":
                start = D.fromisoformat(request["TimePeriod"]["Start"])
                assert not {d for d in final_days if d >= start}, (as_of, request["TimePeriod"])
        # what this refresh learnt was final
        final_days |= {as_of - dt.timedelta(days=n) for n in range(ce.estimated_days + 1, 16)}


def test_on_the_1st_with_last_month_final_a_second_refresh_asks_nothing(ce):
    ce.estimated_days = 0  # the stand-in marks only today (and this month) estimated
    per_account, payer, as_of = build("per_account"), build("payer"), D(2026, 7, 1)
    refresh(per_account, ce, as_of)
    assert windows(refresh(payer, ce, as_of)) == [("DAILY", "2026-06-16", "2026-07-01"),
                                                  ("MONTHLY", "2026-06-01", "2026-07-01")]
    assert refresh(payer, ce, as_of) == []  # every day and June final; the month to date is empty
    assert cost_samples(payer) == cost_samples(per_account)
    assert app_up(payer) == {1.0}


def app_up(app: App) -> set[float]:
    return {v for (name, _), v in cost_samples(app).items() if name == "aws_exporter_collector_up"}


def test_the_page_limit_grows_with_the_fleet_and_stops_a_runaway(aws):
    settings = CostSettings()
    stand_in = CostExplorerStandIn(CostData(ids((1, 2)), SERVICES), today=D(2026, 6, 15), page_size=1)
    with stand_in.serve() as endpoint:
        client = boto3.client("ce", region_name="us-east-1", endpoint_url=endpoint)
        collector = PayerCostCollector(settings, lambda: client)
        daily = collector.plan(D(2026, 6, 15))[0]
        assert page_limit(daily, 1) == 100 + 2 * 15 and page_limit(daily, 1000) == 100 + 2 * 1000 * 15
        account = config_for(1).accounts[0]
        with pytest.raises(RuntimeError, match="more than 160 pages for 2 linked accounts"):
            collector.collect_fleet([account], D(2026, 6, 15), {})  # 2 × 11 services × 15 days > 160
        assert len(stand_in.requests) == 160
    assert collector.fleet_wide is True
    with pytest.raises(NotImplementedError):
        collector.collect_account(account, D(2026, 6, 15), None)


# ------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("kind,after,error", [("500", 0, "InternalServerError"), ("denied", 0, "AccessDenied"),
                                              # botocore 1.43 raises on the short body, 1.44 parses it to {}:
                                              # either way, a MalformedResponse
                                              ("truncated", 0, "MalformedResponse: GetCostAndUsage: "),
                                              ("denied", 3, "AccessDenied")])
def test_a_failed_request_fails_every_account_and_keeps_the_last_good_values(ce, kind, after, error):
    app, as_of = build("payer"), D(2026, 6, 15)
    refresh(app, ce, as_of)
    good = cost_samples(app)
    kept = {a: records(app, a) for a in ids()}

    ce.fail(kind, after=after)  # after=3: the DAILY answer's 4th page fails
    refresh(app, ce, as_of + dt.timedelta(days=1))
    down = cost_samples(app)
    assert {k: v for k, v in down.items() if k[0] == "aws_exporter_collector_up"} == {
        k: 0.0 for k in good if k[0] == "aws_exporter_collector_up"}
    assert {k: v for k, v in down.items() if k[0] != "aws_exporter_collector_up"} == {
        k: v for k, v in good.items() if k[0] != "aws_exporter_collector_up"}
    snapshot = app.holder.current
    assert all(snapshot.result("cost", a).records == kept[a] for a in ids())
    errors = error if isinstance(error, tuple) else (error,)
    assert all(any(e in snapshot.result("cost", a).error for e in errors) for a in ids())
    assert snapshot.collectors["cost"].run.unmapped == ()  # a failed pass saw nothing beyond the fleet

    # Healed: nothing half-learnt from the failed pass; the same series as per-account mode.
    ce.heal()
    per_account = build("per_account")
    refresh(per_account, ce, as_of + dt.timedelta(days=1))
    refresh(app, ce, as_of + dt.timedelta(days=1))
    assert cost_samples(app) == cost_samples(per_account)


def test_payer_mode_assumes_the_organization_role_once(ce, monkeypatch):
    config = config_for(*FLEET, collectors={"cost": {"enabled": True, "mode": "payer"}},
                        organization={"role_arn": "arn:aws:iam::000000000099:role/org-cost-reader"})
    app = App.build(config, process_metrics=False)
    refresh(app, ce, D(2026, 6, 15))
    refresh(app, ce, D(2026, 6, 15))
    assert app.clients.stats.requests_for("sts", "AssumeRole") == 1
    assert app_up(app) == {1.0}
    assert records(app, ids()[0]) and all(isinstance(r, CostRecord) for r in records(app, ids()[0]))
