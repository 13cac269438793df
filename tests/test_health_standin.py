"""The demo's AWS Health stand-in, spoken to by real boto3 Health clients over loopback HTTP: if botocore's
serializer and parser accept it, the demo exercises the production code path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_ops_demo.health import INJECTED_INSTRUCTION, HealthApi, HealthStandIn, demo_events
from exporter.collectors.health import HealthCollector
from exporter.config import HealthSettings

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEYS = {"ASIAWEBPROD0000000001": "210987654321", "ASIASANDBOX000000001": "410987654322"}
ACCOUNTS = [SimpleNamespace(id="210987654321", name="web-prod", project="web", regions=("ap-northeast-2",)),
            SimpleNamespace(id="410987654322", name="platform-sandbox", project="platform", regions=("us-west-2",))]


@pytest.fixture
def stand_in() -> Iterator[HealthStandIn]:
    data = demo_events(ACCOUNTS, NOW)
    server = HealthStandIn(HealthApi(data.events, data.subscription_required), KEYS.__getitem__).start()
    yield server
    server.stop()


def client(stand_in: HealthStandIn, access_key: str = "ASIAWEBPROD0000000001"):
    return boto3.client("health", region_name="us-east-1", endpoint_url=stand_in.endpoint,
                        aws_access_key_id=access_key, aws_secret_access_key="secret", aws_session_token="token")


def test_paginator_and_filters_work_through_botocore(stand_in):
    health = client(stand_in)
    pages = list(health.get_paginator("describe_events").paginate(
        filter={"eventStatusCodes": ["open", "upcoming"]}, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3  # three active events, one per page, followed by nextToken
    events = [e for p in pages for e in p["events"]]
    assert {e["statusCode"] for e in events} == {"open", "upcoming"}
    assert all(isinstance(e["startTime"], dt.datetime) for e in events)  # epoch seconds parsed by botocore

    closed = health.describe_events(filter={"eventStatusCodes": ["closed"],
                                            "endTimes": [{"from": NOW - dt.timedelta(days=7)}]})["events"]
    assert [e["eventTypeCode"] for e in closed] == ["AWS_BILLING_NOTIFICATION"]  # the 30-day-old one is outside
    assert closed[0]["region"] == "global"

    arns = [e["arn"] for e in events if e["eventScopeCode"] == "ACCOUNT_SPECIFIC"]
    aggregates = health.describe_entity_aggregates(eventArns=arns)["entityAggregates"]
    assert sorted(a["count"] for a in aggregates) == [2, 3]
    assert stand_in.requests[0] == ("210987654321", "DescribeEvents")


def test_errors_arrive_as_botocore_client_errors(stand_in):
    with pytest.raises(ClientError) as err:
        client(stand_in, "ASIASANDBOX000000001").describe_events()
    assert err.value.response["Error"]["Code"] == "SubscriptionRequiredException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        client(stand_in).describe_event_types()
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"


def test_collector_reads_the_stand_in_like_the_real_api(stand_in):
    collector = HealthCollector(HealthSettings(enabled=True), lambda account, region: client(stand_in),
                                clock=lambda: NOW)
    outcome = collector.collect_account(ACCOUNTS[0], NOW.date(), None)
    by_code = {e.event_type_code: e for e in outcome.records}
    assert set(by_code) == {"AWS_EC2_OPERATIONAL_ISSUE", "AWS_RDS_MAINTENANCE_SCHEDULED", "AWS_BILLING_NOTIFICATION",
                            "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"}
    assert by_code["AWS_RDS_MAINTENANCE_SCHEDULED"].affected_entities == 3
    assert by_code["AWS_EC2_OPERATIONAL_ISSUE"].affected_entities is None  # public: no entities asked for
    assert by_code["AWS_RDS_MAINTENANCE_SCHEDULED"].start == NOW + dt.timedelta(days=3)


def test_event_details_are_served_through_botocore(stand_in):
    health = client(stand_in)
    active = health.describe_events(filter={"eventStatusCodes": ["open", "upcoming"]})["events"]
    unknown = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_gone"
    details = health.describe_event_details(eventArns=[e["arn"] for e in active] + [unknown])
    described = {d["event"]["eventTypeCode"]: d["eventDescription"]["latestDescription"]
                 for d in details["successfulSet"]}
    assert set(described) == {e["eventTypeCode"] for e in active}
    assert "scheduled for a required operating system update" in described["AWS_RDS_MAINTENANCE_SCHEDULED"]
    assert INJECTED_INSTRUCTION in described["AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"]
    assert [(f["eventArn"], f["errorName"]) for f in details["failedSet"]] == [(unknown, "UnsupportedEventException")]
    with pytest.raises(ClientError) as err:  # botocore does not check the model's maximum of 10; AWS does
        health.describe_event_details(eventArns=[unknown] * 11)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_collector_fetches_descriptions_from_the_stand_in(stand_in):
    collector = HealthCollector(HealthSettings(enabled=True), lambda account, region: client(stand_in),
                                clock=lambda: NOW)
    outcome = collector.collect_account(ACCOUNTS[0], NOW.date(), None)
    described = {e.event_type_code: e.description for e in outcome.records}
    assert described["AWS_EC2_OPERATIONAL_ISSUE"].startswith("Increased API Error Rates")
    assert INJECTED_INSTRUCTION in described["AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"]
    assert described["AWS_BILLING_NOTIFICATION"] is None  # closed: not asked for
    assert stand_in.requests.count(("210987654321", "DescribeEventDetails")) == 1  # 3 active events, one request
