"""The cost signals beside the cost (spike drivers, record types, open anomalies, the month-end forecast) against the
interpreting Cost Explorer stand-in over real HTTP, in both modes: the same series per account, the requests they
cost, pinned days (the 1st, the last day of a month) and failures that never fail the account's cost."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest

from aws_ops_demo.cost_data import RECORD_TYPE, USAGE_TYPE, CostData
from aws_ops_demo.cost_explorer import CostExplorerStandIn
from exporter.app import App
from exporter.collectors.cost_drivers import find_spikes
from exporter.config.model import DriverSettings
from exporter.model import CostDetail, CostRecord
from exporter.periods import cost_detail, first_of_month, next_month_start, previous_month_start
from tests.aws_helpers import config_for
from tests.test_cost_payer import BUDGETS, FLEET, IDLE, OUTSIDE, SERVICES, cost_samples, ids, refresh

D = dt.date
# The stand-in's amounts are below $5 a service-day: thresholds that make spikes of its noise.
DRIVERS = {"spike_ratio": 2, "spike_min_usd": "0.05"}
SIGNALS = {"drivers": DRIVERS, "record_types": {"enabled": True}, "anomalies": {"enabled": True},
           "forecast": {"enabled": True, "per_account": True}}
SERVED = ids()


def anomalies(today: dt.date) -> list[dict]:
    """GetAnomalies' objects: two open (one named by its monitor's dimension only), one dismissed, one ended
    days ago, one of an account outside the fleet."""
    def anomaly(n: int, account: str | None, end: dt.date, impact: float, **extra) -> dict:
        cause = {"Service": "Service 01", "Region": "us-east-1", "UsageType": "USE1-Serv01-Usage"}
        if account:
            cause["LinkedAccount"] = account
        return {"AnomalyId": f"anomaly-{n}", "AnomalyStartDate": (end - dt.timedelta(days=2)).isoformat(),
                "AnomalyEndDate": end.isoformat(), "MonitorArn": "arn:aws:ce::000000000099:anomalymonitor/m",
                "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.8}, "RootCauses": [cause],
                "Impact": {"MaxImpact": impact / 2, "TotalImpact": impact}, **extra}
    yesterday = today - dt.timedelta(days=1)
    return [anomaly(1, SERVED[0], yesterday, 12.25),
            {**anomaly(2, None, yesterday, 3.5), "DimensionValue": SERVED[4], "RootCauses": []},
            anomaly(3, SERVED[1], yesterday, 40.0, Feedback="NO"),
            anomaly(4, SERVED[2], today - dt.timedelta(days=5), 99.0),
            anomaly(5, OUTSIDE[0], yesterday, 7.0)]


@pytest.fixture
def ce(aws, monkeypatch):
    stand_in = CostExplorerStandIn(CostData(SERVED + list(OUTSIDE), SERVICES, idle=frozenset({IDLE})),
                                   today=D(2026, 6, 15), page_size=13, anomalies=anomalies)
    with stand_in.serve() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", endpoint)
        yield stand_in


def build(mode: str, as_of: dt.date | None = None, **cost) -> App:
    config = config_for(*FLEET, collectors={"cost": {"enabled": True, "mode": mode, **cost}},
                        aws={"max_attempts": 1}, budgets=BUDGETS)
    return App.build(config, process_metrics=False, as_of=as_of)


def signals(app: App, account_id: str):
    detail = app.holder.current.result("cost", account_id).detail
    assert isinstance(detail, CostDetail)
    return detail.signals


def signal_up(app: App) -> dict[tuple[str, str], float]:
    from tests.test_exporter_moto import samples
    return {(dict(k)["signal"], dict(k)["account"]): v
            for k, v in samples(app.exposition.metrics(), "aws_exporter_cost_signal_up").items()}


def is_driver_request(operation: str, body: dict) -> bool:
    return operation == "GetCostAndUsage" and any(g["Key"] == USAGE_TYPE for g in body.get("GroupBy", ()))


def driver_requests(stand_in: CostExplorerStandIn, since: int = 0) -> list[dict]:
    return [body for operation, body in stand_in.calls[since:] if is_driver_request(operation, body)]


# ------------------------------------------------------------------------------------------ stand-in


def test_the_stand_in_splits_by_usage_type_and_record_type_into_the_same_money():
    data = CostData(ids((1, 2)), SERVICES)
    stand_in = CostExplorerStandIn(data, today=D(2026, 6, 15))
    base = {"TimePeriod": {"Start": "2026-05-28", "End": "2026-06-15"}, "Metrics": ["AmortizedCost"]}

    def sums(request) -> dict[tuple, Decimal]:
        answer = stand_in.pages(request)
        out: dict[tuple, Decimal] = {}
        for n in range(len(answer)):
            for r in answer.page(n)["ResultsByTime"]:
                for g in r["Groups"]:
                    key = (r["TimePeriod"]["Start"], g["Keys"][0])
                    out[key] = out.get(key, Decimal(0)) + Decimal(g["Metrics"]["AmortizedCost"]["Amount"])
        return out

    for granularity in ("DAILY", "MONTHLY"):
        by_account = sums({**base, "Granularity": granularity,
                           "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]})
        for split in (USAGE_TYPE, RECORD_TYPE):
            grouped = sums({**base, "Granularity": granularity, "GroupBy": [
                {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": split}]})
            assert grouped == by_account, (granularity, split)
    # One account's one service, filtered with And: exactly its own days.
    answer = stand_in.pages({**base, "Granularity": "DAILY", "GroupBy": [{"Type": "DIMENSION", "Key": USAGE_TYPE}],
                             "Filter": {"And": [{"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ids()[0]]}},
                                                {"Dimensions": {"Key": "SERVICE", "Values": ["Service 03"]}}]}})
    day = answer.page(0)["ResultsByTime"][0]
    assert sum(Decimal(g["Metrics"]["AmortizedCost"]["Amount"]) for g in day["Groups"]) == \
        Decimal(data.total("AmortizedCost", ids()[0], "Service 03", D(2026, 5, 28), D(2026, 5, 29))).scaleb(-10)
    record_types = {k for r in (stand_in.pages({**base, "Granularity": "MONTHLY", "GroupBy": [
        {"Type": "DIMENSION", "Key": RECORD_TYPE}]}).page(0)["ResultsByTime"]) for g in r["Groups"] for k in g["Keys"]}
    assert record_types == {"Usage", "Credit", "Tax"}


def test_the_stand_in_refuses_a_forecast_as_cost_explorer_does(ce):
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("ce", region_name="us-east-1")
    request = {"Metric": "AMORTIZED_COST", "Granularity": "MONTHLY"}
    for start, end, code in [("2026-06-14", "2026-07-01", "ValidationException"),  # before today
                             ("2026-06-15", "2026-06-15", "ValidationException")]:  # empty window
        with pytest.raises(ClientError) as refused:
            client.get_cost_forecast(TimePeriod={"Start": start, "End": end}, **request)
        assert refused.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as no_history:
        client.get_cost_forecast(TimePeriod={"Start": "2026-06-15", "End": "2026-07-01"},
                                 Filter={"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [IDLE]}}, **request)
    assert no_history.value.response["Error"]["Code"] == "DataUnavailableException"
    answer = client.get_cost_forecast(TimePeriod={"Start": "2026-06-15", "End": "2026-07-01"}, **request)
    assert Decimal(answer["Total"]["Amount"]) > 0
    pages = [client.get_anomalies(DateInterval={"StartDate": "2026-06-13"}, MaxResults=2)]
    while pages[-1].get("NextPageToken"):
        pages.append(client.get_anomalies(DateInterval={"StartDate": "2026-06-13"}, MaxResults=2,
                                          NextPageToken=pages[-1]["NextPageToken"]))
    assert [a["AnomalyId"] for p in pages for a in p["Anomalies"]] == ["anomaly-1", "anomaly-2", "anomaly-3",
                                                                       "anomaly-5"]  # anomaly-4 ended on the 10th


# ------------------------------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("as_of", [D(2026, 3, 1), D(2026, 2, 28), D(2026, 6, 15)])
def test_payer_mode_gives_every_signal_series_per_account_mode_gives(ce, as_of):
    per_account, payer = build("per_account", as_of, **SIGNALS), build("payer", as_of, **SIGNALS)
    refresh(per_account, ce, as_of)
    refresh(payer, ce, as_of)
    expected = cost_samples(per_account)
    got = cost_samples(payer)
    organization = {k: v for k, v in got.items() if k[0] == "aws_cost_forecast_organization_month_usd"}
    assert {k: v for k, v in got.items() if k not in organization} == expected
    names = {name for name, _ in expected}
    assert {"aws_cost_spike_driver_usd", "aws_cost_record_type_usd", "aws_cost_anomaly_impact_usd",
            "aws_cost_forecast_month_usd"} <= names
    assert len(organization) == 1
    for account_id in SERVED:  # the model itself: exact decimals, the same spikes and drivers
        assert signals(payer, account_id).drivers == signals(per_account, account_id).drivers
        assert signals(payer, account_id).record_types == signals(per_account, account_id).record_types
    assert set(signal_up(payer).values()) == set(signal_up(per_account).values()) == {1.0}
    # Open anomalies only, each on the account it belongs to (the monitor's dimension when no root cause names one).
    impact = {(dict(k)["account_id"], dict(k)["anomaly_id"]): v for (name, k), v in expected.items()
              if name == "aws_cost_anomaly_impact_usd"}
    assert impact == {(SERVED[0], "anomaly-1"): 12.25, (SERVED[4], "anomaly-2"): 3.5}


def test_one_more_request_per_spiking_service_in_each_mode(ce):
    as_of = D(2026, 6, 15)
    per_account, payer = build("per_account", as_of, drivers=DRIVERS), build("payer", as_of, drivers=DRIVERS)
    before = len(ce.calls)
    refresh(per_account, ce, as_of)
    spiking = {a: [s.service for s in signals(per_account, a).drivers] for a in SERVED}
    assert sum(map(len, spiking.values())) >= 3 and sum(map(bool, spiking.values())) >= 2  # spikes in 2+ accounts
    assert all(len(s) <= 5 for s in spiking.values())  # max_spikes
    asked = driver_requests(ce, before)
    expected_filters = sorted((a, s) for a, services in spiking.items() for s in services)
    assert sorted((r["Filter"]["And"][0]["Dimensions"]["Values"][0], r["Filter"]["And"][1]["Dimensions"]["Values"][0])
                  for r in asked if "NextPageToken" not in r) == expected_filters
    baseline = cost_detail(as_of, 14).baseline
    assert {(r["Granularity"], r["TimePeriod"]["Start"], r["TimePeriod"]["End"]) for r in asked} == {
        ("DAILY", baseline.start.isoformat(), as_of.isoformat())}
    assert all(r["GroupBy"] == [{"Type": "DIMENSION", "Key": USAGE_TYPE}] for r in asked)

    before = len(ce.calls)
    refresh(payer, ce, as_of)
    asked = [r for r in driver_requests(ce, before) if "NextPageToken" not in r]
    by_service: dict[str, list[str]] = {}
    for account_id, services in spiking.items():
        for service in services:
            by_service.setdefault(service, []).append(account_id)
    assert {r["Filter"]["And"][1]["Dimensions"]["Values"][0]: r["Filter"]["And"][0]["Dimensions"]["Values"]
            for r in asked} == by_service
    assert len(asked) == len(by_service) < sum(map(len, spiking.values()))
    assert all(r["GroupBy"] == [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": USAGE_TYPE}]
               for r in asked)
    # Every page of every request is billed and counted.
    billed = sum(1 for operation, _ in ce.calls if operation == "GetCostAndUsage")
    assert per_account.clients.stats.requests_for("ce", "GetCostAndUsage") + \
        payer.clients.stats.requests_for("ce", "GetCostAndUsage") == billed


def test_drivers_are_the_usage_types_that_rose_most_exactly(ce):
    as_of = D(2026, 6, 15)
    app = build("per_account", as_of, drivers={**DRIVERS, "max_spikes": 1})
    refresh(app, ce, as_of)
    account_id = next(a for a in SERVED if signals(app, a).drivers)
    detail = app.holder.current.result("cost", account_id).detail
    (spike,) = detail.signals.drivers
    yesterday, baseline = detail.yesterday, detail.baseline

    def split(start: dt.date, end: dt.date) -> dict[str, int]:
        return ce.data.split(USAGE_TYPE, "AmortizedCost", account_id, spike.service, start, end)

    usage = {ut: (Decimal(split(yesterday.start, as_of).get(ut, 0)).scaleb(-10),
                  Decimal(split(baseline.start, baseline.end).get(ut, 0)).scaleb(-10) / 14)
             for ut in split(baseline.start, as_of)}
    rose = sorted(((d - m, ut) for ut, (d, m) in usage.items() if d > m), key=lambda x: (-x[0], x[1]))[:5]
    assert [(d.usage_type, d.yesterday, d.baseline_mean) for d in spike.drivers] == [
        (ut, usage[ut][0], usage[ut][1]) for _, ut in rose]
    # The spike is the biggest of the account's (max_spikes: 1).
    records = [r for r in app.holder.current.result("cost", account_id).records if isinstance(r, CostRecord)]
    assert spike.service == find_spikes(records, detail, DriverSettings(spike_min_usd=Decimal("0.05")))[0].service


def test_a_spike_is_the_reporters_definition():
    detail = cost_detail(D(2026, 6, 15), 14)

    def days(service: str, baseline: str, yesterday: str) -> list[CostRecord]:
        out = [CostRecord(service, "daily", detail.yesterday.start, detail.yesterday.end, Decimal(yesterday), "USD",
                          "AmortizedCost", True)]
        if baseline:
            out += [CostRecord(service, "daily", d, d + dt.timedelta(days=1), Decimal(baseline), "USD",
                               "AmortizedCost", False)
                    for d in (detail.baseline.start + dt.timedelta(days=i) for i in range(14))]
        return out

    records = (days("doubled", "10", "20") + days("doubled, $9 over", "9", "18") + days("new", "", "10")
               + days("new, too small", "", "9.99") + days("credits", "-5", "20") + days("huge", "100", "1000"))
    settings = DriverSettings(spike_ratio=Decimal(2), spike_min_usd=Decimal(10), max_spikes=3)
    assert [s.service for s in find_spikes(records, detail, settings)] == ["huge", "doubled", "new"]


# ------------------------------------------------------------------------------------------ forecast


@pytest.mark.parametrize("as_of", [D(2026, 3, 1), D(2026, 2, 28), D(2026, 6, 15)])
def test_the_forecast_is_the_month_to_date_plus_the_rest_of_the_month(ce, as_of):
    app = build("per_account", as_of, drivers={"enabled": False}, forecast={"enabled": True})
    before = len(ce.calls)
    refresh(app, ce, as_of)
    asked = [body for operation, body in ce.calls[before:] if operation == "GetCostForecast"]
    assert [r["TimePeriod"] for r in asked] == [
        {"Start": as_of.isoformat(), "End": next_month_start(as_of).isoformat()}] * (len(FLEET) - 1)  # + the idle one
    for account_id in SERVED:
        forecast = signals(app, account_id).forecast
        if account_id == IDLE:  # no history: AWS has nothing to forecast from; not a failure
            assert forecast is None and signals(app, account_id).status_of("forecast").ok
            continue
        records = app.holder.current.result("cost", account_id).records
        mtd = sum((r.amount for r in records if r.granularity == "monthly" and r.period_start == first_of_month(as_of)
                   and r.period_end == as_of), Decimal(0))
        assert forecast.month_to_date == mtd and (mtd == 0) == (as_of.day == 1)
        assert (forecast.forecast_start, forecast.forecast_end) == (as_of, next_month_start(as_of))
        assert forecast.month_total == mtd + forecast.forecast > mtd
    assert all(v == 1.0 for v in signal_up(app).values())


def test_payer_mode_forecasts_the_organization_once(ce):
    as_of = D(2026, 6, 15)
    app = build("payer", as_of, drivers={"enabled": False}, forecast={"enabled": True})
    before = len(ce.calls)
    refresh(app, ce, as_of)
    asked = [body for operation, body in ce.calls[before:] if operation == "GetCostForecast"]
    assert len(asked) == 1 and "Filter" not in asked[0]
    run = app.holder.current.collectors["cost"].run
    # Every linked account's month to date (those outside the fleet too) plus the organization's forecast.
    mtd = sum((Decimal(ce.data.total("AmortizedCost", a, s, first_of_month(as_of), as_of) or 0).scaleb(-10)
               for a in SERVED + list(OUTSIDE) for s in SERVICES), Decimal(0))
    assert run.signals.forecast.month_to_date == mtd
    samples = cost_samples(app)
    assert {k: v for k, v in samples.items() if k[0].startswith("aws_cost_forecast")} == {
        ("aws_cost_forecast_organization_month_usd", ()): float(run.signals.forecast.month_total)}
    assert all(signals(app, a).forecast is None for a in SERVED)  # per-account forecasts are opt-in


# ------------------------------------------------------------------------------------------ failures


def test_a_failed_driver_request_never_fails_the_cost_and_keeps_the_days_drivers(ce, caplog):
    as_of = D(2026, 6, 15)
    app = build("per_account", as_of, drivers=DRIVERS)
    ce.fail("500", when=is_driver_request)
    with caplog.at_level(logging.WARNING, logger="exporter.collectors.cost_signals"):
        refresh(app, ce, as_of)
    up = signal_up(app)
    spiking = [a for a in SERVED if signals(app, a).drivers]
    assert spiking and {up[("drivers", f"acct-{int(a)}")] for a in spiking} == {0.0}
    assert all(not s.asked and s.drivers == () for a in spiking for s in signals(app, a).drivers)
    assert all(r.up for r in app.holder.current.for_collector("cost"))
    failed = [r for r in caplog.records if "event=cost_signal_failed signal=drivers" in r.getMessage()]
    assert len(failed) == sum(len(signals(app, a).drivers) for a in spiking) and not any(r.exc_info for r in failed)

    ce.heal()
    refresh(app, ce, as_of)
    good = {a: signals(app, a).drivers for a in spiking}
    assert all(s.asked and s.drivers for a in spiking for s in good[a])
    ce.fail("denied", when=is_driver_request)
    refresh(app, ce, as_of)  # the same day: the drivers asked earlier today are kept
    assert {a: signals(app, a).drivers for a in spiking} == good
    assert {signal_up(app)[("drivers", f"acct-{int(a)}")] for a in spiking} == {0.0}
    refresh(app, ce, as_of + dt.timedelta(days=1))  # the next day: another yesterday, nothing kept
    assert all(not s.asked for a in SERVED for s in signals(app, a).drivers)


@pytest.mark.parametrize("mode", ["per_account", "payer"])
@pytest.mark.parametrize("operation,signal", [("GetAnomalies", "anomalies"), ("GetCostForecast", "forecast"),
                                              ("GetCostAndUsage", "record_types")])
def test_a_failed_signal_is_a_value_and_the_others_still_come(ce, mode, operation, signal):
    as_of = D(2026, 6, 15)
    app = build(mode, as_of, **SIGNALS)
    refresh(app, ce, as_of)
    good = {a: signals(app, a) for a in SERVED}
    ce.fail("500",
            when=lambda op, body: op == operation and (signal != "record_types" or any(
                g["Key"] == RECORD_TYPE for g in body.get("GroupBy", ()))))
    refresh(app, ce, as_of)
    up = signal_up(app)
    assert {k for k, v in up.items() if v == 0.0} == {(signal, f"acct-{n}") for n in FLEET}
    assert all(r.up for r in app.holder.current.for_collector("cost"))
    for a in SERVED:  # the same day: the failed signal keeps this morning's values, the others are fresh
        assert signals(app, a) .drivers == good[a].drivers
        assert getattr(signals(app, a), signal) == getattr(good[a], signal)
    ce.heal()
    app_next_day = as_of + dt.timedelta(days=1)
    ce.fail("500", when=lambda op, body: op == operation and (signal != "record_types" or any(
        g["Key"] == RECORD_TYPE for g in body.get("GroupBy", ()))))
    refresh(app, ce, app_next_day)
    empty = None if signal == "forecast" else ()
    assert all(getattr(signals(app, a), signal) == empty for a in SERVED)


# ------------------------------------------------------------------------------------------ record types


@pytest.mark.parametrize("as_of", [D(2026, 3, 1), D(2026, 6, 15)])
def test_record_types_split_the_same_money_as_aws_cost_usd(ce, as_of):
    app = build("per_account", as_of, drivers={"enabled": False}, record_types={"enabled": True})
    refresh(app, ce, as_of)
    samples = cost_samples(app)
    for n, account_id in zip(FLEET, SERVED):
        if account_id == IDLE:
            continue
        split = signals(app, account_id).record_types
        records = app.holder.current.result("cost", account_id).records
        last_month = [r.amount for r in records if r.granularity == "monthly"
                      and r.period_start == previous_month_start(as_of)]
        assert sum(r.amount for r in split if r.granularity == "monthly") == sum(last_month)
        by_type = {dict(k)["record_type"]: v for (name, k), v in samples.items() if name == "aws_cost_record_type_usd"
                   and dict(k)["account"] == f"acct-{n}" and dict(k)["granularity"] == "month_to_date"}
        if as_of.day == 1:  # no complete day yet: $0 for each record type, as aws_cost_month_to_date_usd
            assert set(by_type.values()) == {0.0} and {"Usage", "Tax"} <= set(by_type)
        else:
            assert by_type["Usage"] > 0


# ------------------------------------------------------------------------------------------ dry run


def test_each_cost_collector_says_what_a_refresh_will_ask(ce):
    as_of = D(2026, 6, 15)
    per_account, payer = build("per_account", as_of, **SIGNALS), build("payer", as_of, **SIGNALS)
    plan = {(p.signal, p.operation): (p.requests, p.at_most)
            for p in per_account.collectors[0].planned_requests(as_of, accounts=5)}
    assert plan == {("cost", "GetCostAndUsage"): (10, False), ("drivers", "GetCostAndUsage"): (25, True),
                    ("record_types", "GetCostAndUsage"): (5, False), ("anomalies", "GetAnomalies"): (5, False),
                    ("forecast", "GetCostForecast"): (5, False)}
    plan = {(p.signal, p.operation): (p.requests, p.at_most) for p in payer.collectors[0].planned_requests(as_of, 5)}
    assert plan == {("cost", "GetCostAndUsage"): (2, False), ("drivers", "GetCostAndUsage"): (25, True),
                    ("record_types", "GetCostAndUsage"): (1, False), ("anomalies", "GetAnomalies"): (1, False),
                    ("forecast", "GetCostForecast"): (6, False)}
    # Declared, so their counters start at 0.
    requests = {op for (service, op) in payer.clients.stats.view().requests if service == "ce"}
    assert requests == {"GetCostAndUsage", "GetAnomalies", "GetCostForecast"}
