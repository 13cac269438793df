"""CloudWatch collector: moto's server over real HTTP (through STS AssumeRole, like production), botocore's
Stubber where moto cannot answer (GetMetricData NextToken pages), YACE naming, config errors.

moto's limits shape the data here: a query with dimensions matches on name + dimensions only (the
namespace is ignored), buckets are aligned to StartTime, no percentiles or metric math."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.stub import Stubber

from exporter.fleet import infos
from exporter.aws import AwsClients
from exporter.collectors.cloudwatch import CloudWatchCollector, DiscoveryCache, parse_list_metrics, plan_window
from exporter.config import CloudWatchQuery, ConfigError, parse
from exporter.exposition.cloudwatch import cloudwatch_families, dimension_label, metric_name
from exporter.exposition.render import Exposition, render
from exporter.model import AccountResult, CloudWatchRecord, Snapshot
from exporter.scheduler import Runner
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from tests.conftest import aws_response
from tests.test_exporter_moto import samples
from tests.test_prometheus_rules import require_tool

UTC = dt.timezone.utc


def account(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"{n:012d}", "name": f"acct-{n}", "project": "p", "role_arn": f"arn:aws:iam::{n:012d}:role/ops",
            "regions": ["us-east-1"], **extra}


def config(accounts: list[dict[str, Any]], **cloudwatch: Any):
    return parse({"accounts": accounts,
                  "collectors": {"cost": {"enabled": False}, "cloudwatch": {"enabled": True, **cloudwatch}}})


def put(account_id: str, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
    """PutMetricData into the account's CloudWatch in moto (as that account, through its assumed role)."""
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/seed",
                                            RoleSessionName="seed")["Credentials"]
    cw = boto3.client("cloudwatch", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                      config=BotoConfig(disable_request_compression=True))
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i:i + 500])


def datum(metric: str, dims: dict[str, str], value: float, at: dt.datetime) -> dict[str, Any]:
    return {"MetricName": metric, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            "Value": value, "Timestamp": at}


def collect(cfg, now: dt.datetime, collector: CloudWatchCollector | None = None, holder: SnapshotHolder | None = None):
    """One CloudWatch pass through the runner; the text is the whole /metrics exposition it publishes."""
    clients = AwsClients(cfg.aws, ApiStats())
    collector = collector or CloudWatchCollector(
        cfg.collectors.cloudwatch, lambda a, region: clients.for_account(a, "cloudwatch", region),
        stats=clients.stats, clock=lambda: now)
    holder = holder or SnapshotHolder(Snapshot.empty(infos(cfg.accounts)))
    exposition = Exposition({"cloudwatch": collector.interval_seconds}, clients.stats,
                            labels_snake_case=cfg.collectors.cloudwatch.labels_snake_case, process_metrics=False)
    holder.subscribe(exposition.on_snapshot)
    Runner(cfg.accounts, holder).run(collector, now.date())
    text = exposition.metrics().decode()
    return collector, clients.stats, holder, text


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)  # clock-ok: datapoints must be recent for ListMetrics


# ------------------------------------------------------------------------------------------ naming


@pytest.mark.parametrize(("namespace", "metric", "stat", "expected"), [
    ("AWS/EC2", "CPUUtilization", "Average", "aws_ec2_cpuutilization_average"),
    ("AWS/ApplicationELB", "RequestCount", "Sum", "aws_applicationelb_request_count_sum"),
    ("AWS/RDS", "FreeStorageSpace", "Minimum", "aws_rds_free_storage_space_minimum"),
    ("AWS/Lambda", "Duration", "p99", "aws_lambda_duration_p99"),
    ("AWS/EBS", "VolumeReadOps", "SampleCount", "aws_ebs_volume_read_ops_sample_count"),
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", "aws_applicationelb_httpcode_target_5_xx_count_sum"),  # digit→Upper edge
    ("Glue", "glue.driver.aggregate.bytesRead", "Sum", "aws_glue_driver_aggregate_bytes_read_sum"),
    ("/aws/sagemaker/TrainingJobs", "CPUUtilization", "Average", "aws_sagemaker_trainingjobs_cpuutilization_average"),
    ("AWS/Usage", "CallCount", "p99.9", "aws_usage_call_count_p99_9"),
    ("AWS/ECS", "MemoryUtilization%", "Maximum", "aws_ecs_memory_utilization_percent_maximum"),
])
def test_metric_names_are_yaces(namespace, metric, stat, expected):
    assert metric_name(namespace, metric, stat) == expected


def test_dimension_labels_are_yaces():
    assert dimension_label("InstanceId") == "dimension_InstanceId"
    assert dimension_label("Global.Topic.Count") == "dimension_Global_Topic_Count"
    assert dimension_label("IHaveA%Sign") == "dimension_IHaveA_percentSign"


def test_dimension_labels_in_snake_case_are_yaces_labels_snake_case():
    assert dimension_label("InstanceId", snake_case=True) == "dimension_instance_id"
    assert dimension_label("DBInstanceIdentifier", snake_case=True) == "dimension_dbinstance_identifier"
    assert dimension_label("Global.Topic.Count", snake_case=True) == "dimension_global_topic_count"
    assert dimension_label("IHaveA%Sign", snake_case=True) == "dimension_ihave_a_percentsign"  # no edge after "%"


def _ec2_exposition(now: dt.datetime, **cloudwatch: Any) -> str:
    """The CloudWatch families for one EC2 instance's CPUUtilization Average and NetworkIn Sum."""
    cfg = config([account(1)], queries=[{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                         "dimensions": {"InstanceId": "i-1"}, "stats": ["Average"]}], **cloudwatch)
    records = (CloudWatchRecord("us-east-1", "AWS/EC2", "CPUUtilization", "Average", (("InstanceId", "i-1"),), 37.5, now),
               CloudWatchRecord("us-east-1", "AWS/EC2", "NetworkIn", "Sum", (("InstanceId", "i-1"),), 2048.0, now))
    result = AccountResult(collector="cloudwatch", account_id="000000000001", records=records, up=True,
                           last_success=now)
    return render(cloudwatch_families([result], {a.id: a for a in cfg.accounts}, cfg.collectors.cloudwatch.labels_snake_case)).decode()


@pytest.mark.parametrize(("cloudwatch", "label"), [({}, "dimension_InstanceId"),
                                                   ({"labels_snake_case": True}, "dimension_instance_id")])
def test_labels_snake_case_switches_the_dimension_label_names(now, cloudwatch, label):
    text = _ec2_exposition(now, **cloudwatch)
    labels = {"account": "acct-1", "account_id": "000000000001", "project": "p", "region": "us-east-1", label: "i-1"}
    for family, value in (("aws_ec2_cpuutilization_average", 37.5), ("aws_ec2_network_in_sum", 2048.0)):
        assert {frozenset(dict(k).items()): v for k, v in samples(text, family).items()} == {
            frozenset(labels.items()): value}


def test_promtool_accepts_the_families_with_snake_case_labels_and_flags_only_yaces_camel_case(now):
    """YACE's `_sum`/`_sample_count` names are served untyped, which promtool's linter accepts (those suffixes
    are reserved on typed metrics only); YACE's default `dimension_InstanceId` is its one remaining finding."""
    require_tool("promtool")
    text = _ec2_exposition(now, labels_snake_case=True)
    assert "# TYPE aws_ec2_network_in_sum untyped" in text
    clean = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert (clean.returncode, clean.stdout + clean.stderr) == (0, "")

    camel = subprocess.run(["promtool", "check", "metrics"], input=_ec2_exposition(now), capture_output=True,
                           text=True, timeout=60)
    findings = sorted(set((camel.stdout + camel.stderr).splitlines()))
    assert findings == [f"{name} label names should be written in 'snake_case' not 'camelCase'"
                        for name in ("aws_ec2_cpuutilization_average", "aws_ec2_network_in_sum")]


def test_labels_snake_case_is_a_collector_setting_not_a_per_account_one():
    with pytest.raises(ConfigError) as error:
        config([account(1, cloudwatch={"labels_snake_case": True})],
               queries=[{"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": ["InstanceId"]}])
    assert "accounts[0].cloudwatch.labels_snake_case" in str(error.value)


def test_window_ends_delay_ago_on_a_period_boundary():
    window = plan_window(dt.datetime(2026, 3, 2, 12, 7, 30, tzinfo=UTC), 300, 600)
    assert window.end == dt.datetime(2026, 3, 2, 11, 55, tzinfo=UTC)
    assert window.start == dt.datetime(2026, 3, 2, 11, 40, tzinfo=UTC)


# ------------------------------------------------------------------------------ requests and values


def test_1201_queries_go_out_in_3_getmetricdata_requests_and_are_billed(aws, now):
    queries = [{"namespace": "Custom/Fleet", "metric": "Load", "dimensions": {"Node": f"n{i:04d}"},
                "stats": ["Average"]} for i in range(1201)]
    cfg = config([account(1)], queries=queries)
    window = plan_window(now, 300, 600)
    put("000000000001", "us-east-1", "Custom/Fleet",
        [datum("Load", {"Node": f"n{i:04d}"}, float(i), window.end - dt.timedelta(seconds=120)) for i in (0, 1200)])
    _, stats, holder, text = collect(cfg, now)

    assert stats.requests_for("cloudwatch", "GetMetricData") == 3
    assert stats.requests_for("cloudwatch", "GetMetricStatistics") == 0
    assert samples(text, "aws_exporter_cloudwatch_metrics_requested_total") == {(("account", "acct-1"),): 1201.0}
    assert stats.view().cloudwatch_spend_usd == Decimal("0.01201")  # $0.01 per 1,000 metrics requested
    load = {dict(k)["dimension_Node"]: v for k, v in samples(text, "aws_custom_fleet_load_average").items()}
    assert load == {"n0000": 0.0, "n1200": 1200.0}  # series without a datapoint in the window are left out


def test_discovery_finds_recently_active_series_and_the_newest_value_wins(aws, now):
    cfg = config([account(1)], queries=[
        {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": ["DBInstanceIdentifier"],
         "stats": ["Minimum", "Maximum"]},
    ])
    window = plan_window(now, 300, 600)
    newest, older = window.end - dt.timedelta(seconds=60), window.end - dt.timedelta(seconds=400)
    put("000000000001", "us-east-1", "AWS/RDS", [
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "orders"}, 5e9, older),
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "orders"}, 4e9, newest),
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "orders"}, 7e9, newest),
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "orders"}, 1.0, window.end + dt.timedelta(seconds=30)),
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "billing"}, 9e9, older),
        # Has more dimensions than the query names: not this query's series.
        datum("FreeStorageSpace", {"DBInstanceIdentifier": "orders", "EngineName": "postgres"}, 3.0, newest),
    ])
    put("000000000001", "eu-west-1", "AWS/RDS",
        [datum("FreeStorageSpace", {"DBInstanceIdentifier": "elsewhere"}, 1.0, newest)])
    collector, stats, holder, text = collect(cfg, now)

    minimum = {dict(k)["dimension_DBInstanceIdentifier"]: v
               for k, v in samples(text, "aws_rds_free_storage_space_minimum").items()}
    maximum = {dict(k)["dimension_DBInstanceIdentifier"]: v
               for k, v in samples(text, "aws_rds_free_storage_space_maximum").items()}
    # The newest bucket in the window; the datapoint inside the delay (after the window) is not used.
    assert minimum == {"orders": 4e9, "billing": 9e9}
    assert maximum == {"orders": 7e9, "billing": 9e9}
    labels = dict(next(iter(samples(text, "aws_rds_free_storage_space_minimum"))))
    assert set(labels) == {"account", "account_id", "project", "region", "dimension_DBInstanceIdentifier"}
    assert labels["region"] == "us-east-1"
    assert stats.requests_for("cloudwatch", "ListMetrics") == 1

    # A second refresh inside discovery_cache reuses the ListMetrics answer.
    put("000000000001", "us-east-1", "AWS/RDS",
        [datum("FreeStorageSpace", {"DBInstanceIdentifier": "new-db"}, 2e9, newest)])
    _, stats2, _, text = collect(cfg, now, collector)
    assert stats.requests_for("cloudwatch", "ListMetrics") == 1 and stats.requests_for("cloudwatch", "GetMetricData") == 2
    assert "new-db" not in text


def test_discovery_cache_expires():
    loads = []
    clock = [0.0]
    cache = DiscoveryCache(3600, clock=lambda: clock[0])
    key = ("1", "us-east-1", CloudWatchQuery("AWS/RDS", "X", (("DBInstanceIdentifier", None),), ("Average",)))
    for t in (0.0, 3599.0, 3600.0):
        clock[0] = t
        cache.get(key, lambda: loads.append(t) or ())
    assert loads == [0.0, 3600.0]


def test_list_metrics_keeps_exactly_the_queried_dimension_set():
    query = CloudWatchQuery("AWS/RDS", "FreeStorageSpace", (("DBInstanceIdentifier", None),), ("Minimum",))
    series = parse_list_metrics([aws_response("cloudwatch", "ListMetrics", "cloudwatch", "ListMetrics.rds.json")], query)
    assert [s.dimensions for s in series] == [(("DBInstanceIdentifier", "orders-primary"),),
                                              (("DBInstanceIdentifier", "orders-replica-1"),)]


def test_getmetricdata_nexttoken_pages_are_followed_and_merged():
    cfg = config([account(1)], queries=[
        {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"InstanceId": "i-0abc1234"},
         "stats": ["Average"]},
        {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": {"DBInstanceIdentifier": "orders"},
         "stats": ["Minimum"]},
        {"namespace": "AWS/Lambda", "metric": "Invocations", "dimensions": {"FunctionName": "ingest"},
         "stats": ["Sum"]},
    ])
    now = dt.datetime.fromtimestamp(1764027600 + 600 + 300, UTC)
    window = plan_window(now, 300, 600)
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {"Period": 300, "Stat": stat, "Metric": {
        "Namespace": ns, "MetricName": metric, "Dimensions": [{"Name": n, "Value": v}]}}}
        for i, (ns, metric, stat, n, v) in enumerate([
            ("AWS/EC2", "CPUUtilization", "Average", "InstanceId", "i-0abc1234"),
            ("AWS/RDS", "FreeStorageSpace", "Minimum", "DBInstanceIdentifier", "orders"),
            ("AWS/Lambda", "Invocations", "Sum", "FunctionName", "ingest")])]
    request = {"MetricDataQueries": queries, "StartTime": window.start, "EndTime": window.end,
               "ScanBy": "TimestampDescending"}
    with Stubber(client) as stub:
        page1 = aws_response("cloudwatch", "GetMetricData", "cloudwatch", "GetMetricData.page1.json")
        stub.add_response("get_metric_data", page1, request)
        stub.add_response("get_metric_data", aws_response("cloudwatch", "GetMetricData", "cloudwatch",
                                                          "GetMetricData.page2.json"),
                          {**request, "NextToken": page1["NextToken"]})
        stats = ApiStats()
        collector = CloudWatchCollector(cfg.collectors.cloudwatch, lambda a, r: client, stats=stats, clock=lambda: now)
        outcome = collector.collect_account(cfg.accounts[0], now.date(), None)
        stub.assert_no_pending_responses()
    values = {r.metric: (r.value, r.timestamp) for r in outcome.records}
    assert values == {
        "CPUUtilization": (41.5, dt.datetime.fromtimestamp(1764027600, UTC)),  # newest across both pages
        "Invocations": (1180.0, dt.datetime.fromtimestamp(1764027600, UTC)),
    }  # FreeStorageSpace had no datapoint: no record
    assert stats.view().cloudwatch_metrics_requested == {"acct-1": 3}  # billed once per metric, not per page


# ----------------------------------------------------------------------- labels and per-account config


def test_as_of_a_past_day_reads_the_window_before_that_day_began(aws, now):
    """``--once --as-of D`` (replays): the window ends delay_seconds before D's first moment, not before now."""
    cfg = config([account(1)], queries=[{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                         "dimensions": {"InstanceId": "i-1"}, "stats": ["Maximum"]}])
    as_of = now.date() - dt.timedelta(days=2)
    then = plan_window(dt.datetime.combine(as_of, dt.time(), tzinfo=UTC), 300, 600)
    put("000000000001", "us-east-1", "AWS/EC2", [
        datum("CPUUtilization", {"InstanceId": "i-1"}, 5.0, then.end - dt.timedelta(seconds=120)),
        datum("CPUUtilization", {"InstanceId": "i-1"}, 9.0, plan_window(now, 300, 600).end - dt.timedelta(seconds=120))])
    clients = AwsClients(cfg.aws, ApiStats())
    collector = CloudWatchCollector(cfg.collectors.cloudwatch,
                                    lambda a, region: clients.for_account(a, "cloudwatch", region), clock=lambda: now)
    holder = SnapshotHolder()
    Runner(cfg.accounts, holder).run(collector, as_of)
    text = render(cloudwatch_families(holder.current.for_collector("cloudwatch"), {a.id: a for a in cfg.accounts},
                                 cfg.collectors.cloudwatch.labels_snake_case)).decode()
    assert list(samples(text, "aws_ec2_cpuutilization_maximum").values()) == [5.0]
    assert list(samples(text, "aws_cloudwatch_window_end_timestamp_seconds").values()) == [then.end.timestamp()]


def test_every_series_of_a_family_has_the_same_label_keys_and_accounts_override(aws, now):
    cfg = config([account(1), account(2, cloudwatch={"enabled": False}),
                  account(3, cloudwatch={"regions": ["eu-west-1"]})], queries=[
        {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"InstanceId": "i-1"}, "stats": ["Average"]},
        {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"AutoScalingGroupName": "web"},
         "stats": ["Average"]},
    ])
    at = plan_window(now, 300, 600).end - dt.timedelta(seconds=60)
    for account_id, region in (("000000000001", "us-east-1"), ("000000000002", "us-east-1"),
                               ("000000000003", "eu-west-1")):
        put(account_id, region, "AWS/EC2", [datum("CPUUtilization", {"InstanceId": "i-1"}, 10.0, at),
                                            datum("CPUUtilization", {"AutoScalingGroupName": "web"}, 20.0, at)])
    _, _, holder, text = collect(cfg, now)

    cpu = samples(text, "aws_ec2_cpuutilization_average")
    assert {frozenset(dict(k)) for k in cpu} == {frozenset(
        {"account", "account_id", "project", "region", "dimension_AutoScalingGroupName", "dimension_InstanceId"})}
    by = {(dict(k)["account"], dict(k)["region"], dict(k)["dimension_InstanceId"],
           dict(k)["dimension_AutoScalingGroupName"]): v for k, v in cpu.items()}
    assert by == {("acct-1", "us-east-1", "i-1", ""): 10.0, ("acct-1", "us-east-1", "", "web"): 20.0,
                  ("acct-3", "eu-west-1", "i-1", ""): 10.0, ("acct-3", "eu-west-1", "", "web"): 20.0}
    requested = samples(text, "aws_exporter_cloudwatch_metrics_requested_total")
    assert requested == {(("account", "acct-1"),): 2.0, (("account", "acct-3"),): 2.0}  # acct-2 opted out
    assert holder.current.result("cloudwatch", "000000000002").up
    windows = {(dict(k)["account"], dict(k)["region"]) for k in samples(text, "aws_cloudwatch_window_end_timestamp_seconds")}
    assert windows == {("acct-1", "us-east-1"), ("acct-3", "eu-west-1")}


def test_dimension_names_that_become_one_label_give_one_label(now):
    """Two dimension names YACE writes as the same label ("." and "-" both become "_"): each series keeps
    its own dimension value under that one label."""
    cfg = config([account(1)], queries=[{"namespace": "Custom/Q", "metric": "Depth", "dimensions": ["Queue.Name"],
                                         "stats": ["Maximum"]}])
    records = tuple(CloudWatchRecord("us-east-1", "Custom/Q", "Depth", "Maximum", dims, value, now)
                    for dims, value in (((("Queue.Name", "a"),), 1.0), ((("Queue-Name", "b"),), 2.0)))
    result = AccountResult(collector="cloudwatch", account_id="000000000001", records=records, up=True,
                           last_success=now)
    text = render(cloudwatch_families([result], {a.id: a for a in cfg.accounts}, cfg.collectors.cloudwatch.labels_snake_case)).decode()
    lines = [line for line in text.splitlines() if line.startswith("aws_custom_q_depth_maximum{")]
    assert len(lines) == 2 and all(line.count("dimension_Queue_Name=") == 1 for line in lines)
    assert {dict(k)["dimension_Queue_Name"]: v for k, v in samples(text, "aws_custom_q_depth_maximum").items()} == {
        "a": 1.0, "b": 2.0}


def test_a_failing_account_keeps_its_last_values_and_others_go_on(aws, now):
    cfg = config([account(1), account(2)], queries=[
        {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"InstanceId": "i-1"}, "stats": ["Maximum"]}])
    at = plan_window(now, 300, 600).end - dt.timedelta(seconds=60)
    for account_id in ("000000000001", "000000000002"):
        put(account_id, "us-east-1", "AWS/EC2", [datum("CPUUtilization", {"InstanceId": "i-1"}, 50.0, at)])
    collector, _, holder, _ = collect(cfg, now)

    clients = AwsClients(cfg.aws, ApiStats())

    def broken_for_acct_2(a, region):
        if a.id == "000000000002":
            raise ConnectionError("cannot reach monitoring.us-east-1.amazonaws.com")
        return clients.for_account(a, "cloudwatch", region)

    failing = CloudWatchCollector(cfg.collectors.cloudwatch, broken_for_acct_2, clock=lambda: now)
    _, _, holder, text = collect(cfg, now, failing, holder)
    assert not holder.current.result("cloudwatch", "000000000002").up
    assert {dict(k)["account"] for k in samples(text, "aws_ec2_cpuutilization_maximum")} == {"acct-1", "acct-2"}


# ------------------------------------------------------------------------------------------- config


def test_bad_cloudwatch_config_names_every_problem_with_its_path():
    with pytest.raises(ConfigError) as err:
        parse({
            "accounts": [account(1, cloudwatch={"regions": ["mars-1"], "period_seconds": 90, "querys": []})],
            "collectors": {"cloudwatch": {"enabled": True, "delay_seconds": -1, "queries": [
                {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stats": ["Average", "Mean"]},
                {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": "DBInstanceIdentifier",
                 "stats": []},
                {"metric": "X", "dimensions": {"InstanceId": ["i-1"]}, "stats": ["p99"]},
            ]}}})
    assert sorted(err.value.problems) == sorted([
        "accounts[0].cloudwatch.regions[0]: not an AWS region: 'mars-1'",
        "accounts[0].cloudwatch.period_seconds: CloudWatch periods are 1, 5, 10, 20, 30 or a multiple of 60 "
        "seconds, got 90",
        "accounts[0].cloudwatch.querys: unknown key (did you mean 'queries'?)",
        "collectors.cloudwatch.delay_seconds: must be between 0 and 1209600, got -1",
        "collectors.cloudwatch.queries[0].stats[1]: must be one of SampleCount, Average, Sum, Minimum, Maximum "
        "or a percentile like p99, got 'Mean'",
        "collectors.cloudwatch.queries[1].dimensions: must be a mapping of names to values (one series) or a list "
        "of names (discover every series), got str",
        "collectors.cloudwatch.queries[1].stats: list at least one statistic (e.g. [Average])",
        "collectors.cloudwatch.queries[2].namespace: is required",
        "collectors.cloudwatch.queries[2].dimensions.InstanceId: must be a dimension value (a string), got ['i-1']",
    ])


def test_enabled_cloudwatch_needs_a_query():
    with pytest.raises(ConfigError) as err:
        parse({"accounts": [account(1)], "collectors": {"cloudwatch": {"enabled": True}}})
    assert err.value.problems == ("collectors.cloudwatch.queries: list at least one query (here or in "
                                  "accounts[].cloudwatch.queries)",)


def test_defaults_and_account_overrides():
    cfg = parse({"accounts": [account(1, regions=["ap-northeast-2", "us-east-1"]),
                              account(2, cloudwatch={"regions": ["eu-west-1"], "delay_seconds": 0})],
                 "collectors": {"health": {"enabled": True}, "cloudwatch": {"enabled": True, "queries": [
                     {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": ["InstanceId"],
                      "stats": ["Average"]}]}}})
    assert cfg.collectors.health.interval_seconds == cfg.collectors.cloudwatch.interval_seconds == 300
    assert (cfg.collectors.health.region, cfg.collectors.health.failover_region) == ("us-east-1", "")
    assert cfg.collectors.health.closed_window_seconds == 7 * 86400
    one, two = (cfg.collectors.cloudwatch.scope(a) for a in cfg.accounts)
    assert (one.regions, one.period_seconds, one.delay_seconds) == (("ap-northeast-2", "us-east-1"), 300, 600)
    assert (two.regions, two.delay_seconds, two.queries) == (("eu-west-1",), 0, one.queries)


def test_a_value_that_is_not_a_number_is_not_a_datapoint_and_the_snapshot_stays_readable(now):
    """JSON (the /snapshot format) has no NaN: a NaN or infinite value would make every pull of the
    snapshot fail. The newest finite datapoint is the value; none at all leaves the series out."""
    from exporter.collectors.cloudwatch import parse_metric_data
    from exporter.model import Snapshot, decode_snapshot, encode_snapshot

    older, newer = now - dt.timedelta(minutes=10), now - dt.timedelta(minutes=5)
    pages = [{"MetricDataResults": [
        {"Id": "m0", "Timestamps": [newer, older], "Values": [float("nan"), 3.5]},
        {"Id": "m1", "Timestamps": [newer], "Values": [float("inf")]},
    ]}]
    assert parse_metric_data(pages) == {"m0": (older, 3.5)}
    record = CloudWatchRecord("us-east-1", "AWS/EC2", "CPUUtilization", "Average", (("InstanceId", "i-1"),), 3.5,
                              older)
    snapshot = Snapshot.empty().with_run(None, [AccountResult(collector="cloudwatch", account_id="000000000001",
                                                              records=(record,), up=True)])
    assert decode_snapshot(encode_snapshot(snapshot)).result("cloudwatch", "000000000001").records == (record,)
