"""CloudWatch through a monitoring account (``collectors.cloudwatch.monitoring_account: true``), over real HTTP.

One stand-in (aws_ops_demo/monitoring.py) answers STS, OAM and CloudWatch from the same
per-account datapoints, to an account's own role (per-account mode) and to the monitoring account (linked
accounts), so both modes read exactly the same data. The clock is fixed: the collectors, the stand-in's
"recently active" and the credentials' expiry all use NOW."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import build_collectors
from exporter.aws import AwsClients
from exporter.collectors.cloudwatch import CloudWatchCollector
from exporter.collectors.cloudwatch_monitoring import (Links, MonitoringAccountCollector, account_of_arn,
                                                       parse_attached_links)
from exporter.config import Config, parse
from exporter.exposition.render import Exposition
from exporter.fleet import infos
from exporter.model import Snapshot
from exporter.scheduler import Runner
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from tests.aws_helpers import serve
from aws_ops_demo.monitoring import CloudWatchMonitoringStandIn, Seed, endpoint_env, iter_queries
from tests.conftest import AWS_TEST_ENV, AWS_TEST_UNSET

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 2, 12, 7, 30, tzinfo=UTC)
MONITORING = "999999999999"
MONITORING_ROLE = f"arn:aws:iam::{MONITORING}:role/monitoring-reader"
OUTSIDER = "000000000099"  # linked to the sink, not in the fleet
CPU = {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": ["InstanceId"],
       "stats": ["Average", "Maximum"]}
QUEUE = {"namespace": "AWS/SQS", "metric": "ApproximateNumberOfMessagesVisible", "dimensions": ["QueueName"],
         "stats": ["Maximum"]}
ORDERS_DB = {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": {"DBInstanceIdentifier": "orders"},
             "stats": ["Minimum"]}
INGEST = {"namespace": "AWS/Lambda", "metric": "Invocations", "dimensions": {"FunctionName": "ingest"},
          "stats": ["Sum"]}


def acct(n: int) -> str:
    return f"{n:012d}"


def account(n: int, regions: tuple[str, ...] = ("us-east-1",), **extra: Any) -> dict[str, Any]:
    return {"id": acct(n), "name": f"acct-{n}", "project": f"proj-{n % 2}",
            "role_arn": f"arn:aws:iam::{acct(n)}:role/ops", "regions": list(regions), **extra}


def config(accounts: list[dict[str, Any]], monitoring: bool, **cloudwatch: Any) -> Config:
    return parse({"accounts": accounts, "collectors": {"cost": {"enabled": False}, "cloudwatch": {
        "enabled": True, "monitoring_account": monitoring, "queries": [CPU, QUEUE, ORDERS_DB], **cloudwatch}}})


@pytest.fixture
def seed() -> Seed:
    return Seed(MONITORING, NOW)


@pytest.fixture
def stand_in(seed: Seed, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudWatchMonitoringStandIn]:
    stand_in = CloudWatchMonitoringStandIn(seed, page_size=7, links_page_size=2)
    with serve(stand_in.handler()) as endpoint:
        for key in AWS_TEST_UNSET:
            monkeypatch.delenv(key, raising=False)
        for key, value in {**AWS_TEST_ENV, **endpoint_env(endpoint)}.items():
            monkeypatch.setenv(key, value)
        yield stand_in


@dataclass
class Pass:
    collector: Any
    clients: AwsClients
    holder: SnapshotHolder
    text: str

    def result(self, n: int):
        return self.holder.current.result("cloudwatch", acct(n))


def collect(cfg: Config, clients: AwsClients | None = None, collector: Any = None) -> Pass:
    """One CloudWatch pass of the collector ``exporter.app.build_collectors`` wires for ``cfg`` (clock: NOW)."""
    clients = clients or AwsClients(cfg.aws, ApiStats(), clock=lambda: NOW)
    if collector is None:
        [collector] = build_collectors(cfg, clients)
        collector.clock = lambda: NOW
    holder = SnapshotHolder(Snapshot.empty(infos(cfg.accounts)))
    exposition = Exposition({"cloudwatch": collector.interval_seconds}, clients.stats, process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    Runner(cfg.accounts, holder).run(collector, NOW.date())
    return Pass(collector, clients, holder, exposition.metrics().decode())


def cloudwatch_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the CloudWatch families, the cloudwatch collector's up and its billing counter."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            own = s.name.startswith(("aws_exporter_", "aws_account"))
            if (not own or (s.name == "aws_exporter_collector_up" and s.labels["collector"] == "cloudwatch")
                    or s.name == "aws_exporter_cloudwatch_metrics_requested_total"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series_of(text: str, account_name: str) -> set[str]:
    return {name for name, labels in cloudwatch_samples(text) if not name.startswith("aws_exporter_")
            and dict(labels).get("account") == account_name}


def put_fleet_data(seed: Seed, n: int, region: str, offset: float, owner: str | None = None) -> None:
    """Datapoints for account ``n`` (or ``owner``): discovered and fixed series, several per series (the newest
    in the window wins), one inside the delay, one in the override's later window, one too old to be recently
    active, one with more dimensions than the query names."""
    base = n * 100 + offset
    owner = owner or acct(n)
    for k in range(3):
        for minutes, bump in ((26, 0.0), (15, 1.0), (10, 2.0), (4, 3.0)):  # 11:41, 11:52, 11:57, 12:03
            at = NOW - dt.timedelta(minutes=minutes, seconds=30)
            seed.put(owner, region, "AWS/EC2", "CPUUtilization", {"InstanceId": f"i-{n}-{k}"}, at, base + k + bump)
            seed.put(owner, region, "AWS/EC2", "CPUUtilization", {"InstanceId": f"i-{n}-{k}"}, at, base + k - bump)
            seed.put(owner, region, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"q-{n}-{k}"},
                     at, base * 2 + k + bump)
    at = NOW - dt.timedelta(minutes=15)
    seed.put(owner, region, "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "orders"}, at, base * 1e6)
    seed.put(owner, region, "AWS/Lambda", "Invocations", {"FunctionName": "ingest"},
             NOW - dt.timedelta(minutes=4, seconds=30), base + 0.5)
    # More dimensions than the query names, and a series last seen 4 h ago: not discovered.
    seed.put(owner, region, "AWS/EC2", "CPUUtilization", {"InstanceId": f"i-{n}-0", "Role": "web"}, at, 1.0)
    seed.put(owner, region, "AWS/EC2", "CPUUtilization", {"InstanceId": f"i-{n}-old"}, NOW - dt.timedelta(hours=4),
             1.0)


# ------------------------------------------------------------------------------------- equivalence


EQUIVALENCE_FLEET = [
    account(1, ("us-east-1", "eu-west-1")),
    # Its own regions, window and queries: a CPU query with other stats, a fixed Lambda series.
    account(2, cloudwatch={"regions": ["eu-west-1", "us-east-1"], "period_seconds": 60, "delay_seconds": 120,
                           "queries": [{**CPU, "stats": ["Average"]}, INGEST]}),
    account(3),
    account(4, ("us-east-1", "eu-west-1"), cloudwatch={"enabled": False}),
    account(5, cloudwatch={"regions": ["eu-west-1"]}),
]


def seed_equivalence(seed: Seed) -> None:
    for n, regions in ((1, ("us-east-1", "eu-west-1")), (2, ("us-east-1", "eu-west-1")), (3, ("us-east-1",)),
                       (4, ("us-east-1",)), (5, ("eu-west-1", "us-east-1")), (99, ("us-east-1", "eu-west-1"))):
        for i, region in enumerate(regions):
            put_fleet_data(seed, n, region, offset=10.0 * i)
            seed.link(acct(n), region)
    put_fleet_data(seed, 0, "us-east-1", offset=0.5, owner=MONITORING)  # its own: not in the fleet, never read


def test_the_monitoring_account_gives_every_account_the_series_its_own_role_gives(seed, stand_in):
    seed_equivalence(seed)
    stand_in.results_page_size = 5  # GetMetricData NextToken pages, in both modes
    per_account = collect(config(EQUIVALENCE_FLEET, monitoring=False))
    assert isinstance(per_account.collector, CloudWatchCollector)
    assumed_per_account = sorted(stand_in.assumed)
    stand_in.clear()
    monitoring = collect(config(EQUIVALENCE_FLEET, monitoring=True))
    assert isinstance(monitoring.collector, MonitoringAccountCollector)

    expected = cloudwatch_samples(per_account.text)
    assert cloudwatch_samples(monitoring.text) == expected
    for n in (1, 2, 3, 4, 5):  # the same records and detail, in the same order
        before, after = per_account.result(n), monitoring.result(n)
        assert (after.up, after.records, after.detail, after.error) == (before.up, before.records, before.detail, None)

    # What the comparison covers: both regions, discovered and fixed series, the override's window and queries.
    assert assumed_per_account == [f"arn:aws:iam::{acct(n)}:role/ops" for n in (1, 2, 3, 5)]
    assert stand_in.assumed == []
    cpu = {(dict(k)["account"], dict(k)["region"], dict(k)["dimension_InstanceId"]): v
           for (name, k), v in expected.items() if name == "aws_ec2_cpuutilization_average"}
    assert cpu[("acct-1", "us-east-1", "i-1-2")] == 102.0  # 11:52's bucket, the newest before the delay
    assert cpu[("acct-1", "eu-west-1", "i-1-2")] == 112.0
    assert cpu[("acct-2", "eu-west-1", "i-2-0")] == 210.0  # its own window: 12:03's datapoints
    assert len(cpu) == 3 * (2 + 2 + 1 + 1)
    assert series_of(per_account.text, "acct-4") == set()  # opted out (up, with no series)
    assert {(dict(k)["account"], dict(k)["region"]): v for (name, k), v in expected.items()
            if name == "aws_lambda_invocations_sum"} == {("acct-2", "us-east-1"): 200.5, ("acct-2", "eu-west-1"): 210.5}
    assert expected[("aws_rds_free_storage_space_minimum", (
        ("account", "acct-5"), ("account_id", acct(5)), ("dimension_DBInstanceIdentifier", "orders"),
        ("project", "proj-1"), ("region", "eu-west-1")))] == 500e6
    windows = {dict(k)["account"]: v for (name, k), v in expected.items()
               if name == "aws_cloudwatch_window_end_timestamp_seconds"}
    assert windows["acct-2"] - windows["acct-1"] == 600  # 12:05 vs 11:55
    assert {dict(k)["account"]: v for (name, k), v in expected.items()
            if name == "aws_exporter_collector_up"} == {f"acct-{n}": 1.0 for n in range(1, 6)}


# ------------------------------------------------------------------------------ requests per refresh


def fleet_with_fixed_queries(accounts: int, queries: int) -> list[dict[str, Any]]:
    return [account(n, cloudwatch={"queries": [
        {"namespace": "Custom/Fleet", "metric": "Load", "dimensions": {"Node": f"n{q:02d}"}, "stats": ["Average"]}
        for q in range(queries)] + [QUEUE]}) for n in range(1, accounts + 1)]


@pytest.mark.parametrize(("accounts", "queries", "requests"), [(1, 40, 1), (12, 40, 1), (30, 40, 3), (1, 501, 2)])
@pytest.mark.parametrize("role", [None, MONITORING_ROLE])
def test_one_identity_one_client_per_region_and_getmetricdata_follows_the_queries_not_the_accounts(
        seed, stand_in, accounts, queries, requests, role):
    fleet = fleet_with_fixed_queries(accounts, queries)
    for n in range(1, accounts + 1):
        seed.link(acct(n), "us-east-1")
        seed.put(acct(n), "us-east-1", "Custom/Fleet", "Load", {"Node": "n00"}, NOW - dt.timedelta(minutes=15),
                 n + 0.25)
        seed.put(acct(n), "us-east-1", "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"q{n}"},
                 NOW - dt.timedelta(minutes=15), float(n))
    seed.denied_roles.update(a["role_arn"] for a in fleet)  # the member roles cannot be assumed at all
    cfg = config(fleet, monitoring=True, **({"monitoring_role_arn": role} if role else {}))
    first = collect(cfg)

    assert all(first.result(n).up for n in range(1, accounts + 1))
    assert stand_in.assumed == ([role] if role else [])  # never into a member account
    assert first.clients.stats.requests_for("sts") == (1 if role else 0)
    aws_calls = stand_in.calls("monitoring") + stand_in.calls("oam")
    assert len({r.access_key for r in aws_calls}) == 1 and {r.caller for r in aws_calls} == {MONITORING}
    main_sts = {("sts", "", "us-east-1")} if role else set()  # the client AssumeRole into the monitoring role uses
    assert set(first.clients._clients) == {("cloudwatch", role or "", "us-east-1"),
                                           ("oam", role or "", "us-east-1")} | main_sts

    calls = stand_in.calls("monitoring", "GetMetricData")
    assert len(calls) == math.ceil(accounts * (queries + 1) / 500) == requests
    assert first.clients.stats.requests_for("cloudwatch", "GetMetricData") == requests
    assert all(len(r.body["MetricDataQueries"]) <= 500 for r in calls)
    assert all(len({q["Id"] for q in r.body["MetricDataQueries"]}) == len(r.body["MetricDataQueries"]) for r in calls)
    asked = Counter(q["AccountId"] for q in iter_queries(calls))
    assert asked == {acct(n): queries + 1 for n in range(1, accounts + 1)}
    billed = {dict(k)["account"]: v for (name, k), v in cloudwatch_samples(first.text).items()
              if name == "aws_exporter_cloudwatch_metrics_requested_total"}
    assert billed == {f"acct-{n}": float(queries + 1) for n in range(1, accounts + 1)}  # per owning account
    loads = {dict(k)["account"]: v for (name, k), v in cloudwatch_samples(first.text).items()
             if name == "aws_custom_fleet_load_average"}
    assert loads == {f"acct-{n}": n + 0.25 for n in range(1, accounts + 1)}

    # One ListMetrics request set for every account (pages of 7 followed, split by OwningAccounts).
    listed = stand_in.calls("monitoring", "ListMetrics")
    assert {r.body.get("OwningAccount") for r in listed} == {acct(1) if accounts == 1 else None}
    assert all(r.body["IncludeLinkedAccounts"] for r in listed)
    assert len(listed) == math.ceil(accounts / 7)
    queue_family = "aws_sqs_approximate_number_of_messages_visible_maximum"
    queues = {dict(k)["account"]: dict(k)["dimension_QueueName"]
              for (name, k), _ in cloudwatch_samples(first.text).items() if name == queue_family}
    assert queues == {f"acct-{n}": f"q{n}" for n in range(1, accounts + 1)}


def test_the_discovery_cache_is_kept_per_owning_account(seed, stand_in):
    fleet = [account(1), account(3), account(6)]
    for n in (1, 3, 6):
        put_fleet_data(seed, n, "us-east-1", 0.0)
        seed.link(acct(n), "us-east-1")
    cfg = config(fleet[:2], monitoring=True, queries=[CPU])
    first = collect(cfg)
    first_pages = [r.body for r in stand_in.calls("monitoring", "ListMetrics") if "NextToken" not in r.body]
    assert [body.get("OwningAccount") for body in first_pages] == [None]  # one request set answers both accounts

    stand_in.clear()  # the fleet grows (discovery found account 6): only its answer is missing
    grown = collect(config(fleet, monitoring=True, queries=[CPU]), first.clients, first.collector)
    assert [r.body.get("OwningAccount") for r in stand_in.calls("monitoring", "ListMetrics")] == [acct(6)]  # 1 page
    assert series_of(grown.text, "acct-6") == {"aws_ec2_cpuutilization_average", "aws_ec2_cpuutilization_maximum",
                                               "aws_cloudwatch_window_end_timestamp_seconds"}
    kept = {k: v for k, v in cloudwatch_samples(first.text).items() if "metrics_requested" not in k[0]}
    assert kept.items() <= cloudwatch_samples(grown.text).items()  # accounts 1 and 3: the same, from the cache


# ---------------------------------------------------------------------------------- unlinked accounts


def test_an_unlinked_account_is_down_with_one_log_line_and_the_others_go_on(seed, stand_in, caplog):
    fleet = [account(1), account(4), account(5), account(6, ("us-east-1", "eu-west-1")), account(7)]
    for n in (1, 4, 6, 7):
        put_fleet_data(seed, n, "us-east-1", 0.0)
    put_fleet_data(seed, 6, "eu-west-1", 0.0)
    seed.link(acct(1), "us-east-1")
    seed.link(acct(5), "us-east-1")  # linked, without a single metric
    seed.link(acct(6), "us-east-1")  # but not in eu-west-1, which its scope asks for
    seed.link(acct(7), "us-east-1", resource_types=("AWS::Logs::LogGroup",))  # shares no metrics
    seed.link(acct(4), "eu-west-1")  # linked where its scope does not ask

    with caplog.at_level(logging.WARNING, logger="exporter"):
        done = collect(config(fleet, monitoring=True))

    up = {dict(k)["account"]: v for (name, k), v in cloudwatch_samples(done.text).items()
          if name == "aws_exporter_collector_up"}
    assert up == {"acct-1": 1.0, "acct-4": 0.0, "acct-5": 1.0, "acct-6": 0.0, "acct-7": 0.0}
    assert done.result(4).error == (f"NotLinked: account {acct(4)} is not linked to the monitoring account's sink "
                                    "in us-east-1")
    assert done.result(6).error == (f"NotLinked: account {acct(6)} is not linked to the monitoring account's sink "
                                    "in eu-west-1")
    assert done.result(7).error == (f"NotLinked: account {acct(7)}'s link to the monitoring account's sink in "
                                    "us-east-1 does not share AWS::CloudWatch::Metric")
    lines = [r.getMessage() for r in caplog.records if "NotLinked" in r.getMessage()]
    assert len(lines) == 3 and sum(f"account_id={acct(4)}" in line for line in lines) == 1
    assert all(line.startswith("event=collect_failed collector=cloudwatch ") for line in lines)

    for name in ("acct-4", "acct-6", "acct-7"):
        assert series_of(done.text, name) == set()  # not even a window
    assert series_of(done.text, "acct-5") == {"aws_cloudwatch_window_end_timestamp_seconds"}
    assert "aws_ec2_cpuutilization_average" in series_of(done.text, "acct-1")
    # Nothing was asked for the unlinked accounts (the stand-in would refuse it), nothing billed for them.
    asked = {q.get("AccountId") for q in iter_queries(stand_in.calls("monitoring", "GetMetricData"))}
    asked |= {r.body.get("OwningAccount") for r in stand_in.calls("monitoring", "ListMetrics")}
    assert asked <= {acct(1), acct(5), None}
    billed = {dict(k)["account"] for (name, k), _ in cloudwatch_samples(done.text).items()
              if name == "aws_exporter_cloudwatch_metrics_requested_total"}
    assert billed == {"acct-1", "acct-5"}


def test_a_failing_region_fails_the_accounts_that_ask_for_it_once_and_no_others(seed, stand_in, caplog):
    fleet = [account(1), account(2, ("us-east-1", "eu-west-1")), account(3, ("eu-west-1",))]
    for n, region in ((1, "us-east-1"), (2, "us-east-1"), (2, "eu-west-1"), (3, "eu-west-1")):
        put_fleet_data(seed, n, region, 0.0)
        seed.link(acct(n), region)
    stand_in.failures[("GetMetricData", "eu-west-1")] = ("AccessDenied", "not authorized to GetMetricData")
    with caplog.at_level(logging.WARNING, logger="exporter"):
        done = collect(config(fleet, monitoring=True))
    assert [done.result(n).up for n in (1, 2, 3)] == [True, False, False]
    assert done.result(2).error == done.result(3).error == "AccessDenied: not authorized to GetMetricData"
    lines = [r.getMessage() for r in caplog.records if "collect_failed" in r.getMessage()]
    assert lines == ["event=collect_failed collector=cloudwatch account=* accounts=2 region=eu-west-1 "
                     "error='AccessDenied: not authorized to GetMetricData'"]
    assert series_of(done.text, "acct-2") == set() and "aws_ec2_cpuutilization_average" in series_of(done.text,
                                                                                                    "acct-1")


def test_links_name_their_account_in_the_link_arn():
    pages = [{"Items": [{"Label": "web", "ResourceTypes": ["AWS::CloudWatch::Metric", "AWS::Logs::LogGroup"],
                         "LinkArn": "arn:aws:oam:us-east-1:210987654321:link/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}]},
             {"Items": [{"Label": "logs", "ResourceTypes": ["AWS::Logs::LogGroup"],
                         "LinkArn": "arn:aws:oam:us-east-1:410987654322:link/a1b2c3d4-5678-90ab-cdef-EXAMPLE22222"}]}]
    shared = parse_attached_links(iter(pages))
    links = Links("us-east-1", frozenset({"123456789012"}), shared)
    assert [links.problem(a) for a in ("123456789012", "210987654321")] == [None, None]
    assert links.problem("410987654322").startswith("NotLinked: account 410987654322's link")
    assert Links("eu-west-1", frozenset(), {}).problem("210987654321") == (
        "NotLinked: account 210987654321 is not linked to the monitoring account's sink in eu-west-1 "
        "(ListSinks found no sink)")
    with pytest.raises(ValueError):
        account_of_arn("arn:aws:oam:us-east-1::link/x")
