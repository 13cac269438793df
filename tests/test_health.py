"""AWS Health collector: botocore's Stubber (it checks every request and response against the Health
service model) in front of real boto3 Health clients, responses from real-shaped fixtures."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from exporter.collectors.health import DESCRIPTION_MAX_CHARS, HealthCollector, parse_events
from exporter.config import parse
from exporter.exposition.health import health_families
from exporter.exposition.own import exporter_families
from exporter.exposition.render import render
from exporter.fleet import infos
from exporter.model import Snapshot, encode_snapshot
from exporter.scheduler import Runner
from exporter.snapshot import SnapshotHolder
from tests.conftest import aws_response
from tests.test_exporter_moto import samples

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 11, 25, 0, 0, tzinfo=UTC)
OPEN_FILTER = {"eventStatusCodes": ["open", "upcoming"]}


def closed_filter(now: dt.datetime = NOW) -> dict[str, Any]:
    return {"eventStatusCodes": ["closed"], "endTimes": [{"from": now - dt.timedelta(days=7)}]}

ISSUE_ARN = ("arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
             "AWS_EC2_OPERATIONAL_ISSUE_7f35c8ae-af1f-54e6-a526-d0179ed6d68f")
UPCOMING_ARN = ("arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/"
                "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_8a1f6f3c-23c9-4f6e-9a4e-0c3d2b1a9e77")
IAM_ARN = ("arn:aws:health:global::event/IAM/AWS_IAM_OPERATIONAL_NOTIFICATION/"
           "AWS_IAM_OPERATIONAL_NOTIFICATION_b7c1e2d4-5a9f-4c1e-8d2b-3f6a7e9c0d11")
RDS_ORG_ARN = ("arn:aws:health:ap-northeast-2::event/RDS/AWS_RDS_MAINTENANCE_SCHEDULED/"
               "AWS_RDS_MAINTENANCE_SCHEDULED_9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a51")
EC2_ORG_ARN = ("arn:aws:health:ap-northeast-2::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
               "AWS_EC2_OPERATIONAL_ISSUE_3d9a7c1e-0b2f-4e6a-9c8d-7e6f5a4b3c21")
BILLING_ARN = ("arn:aws:health:global::event/BILLING/AWS_BILLING_NOTIFICATION/"
               "AWS_BILLING_NOTIFICATION_2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a71")


def config(*account_numbers: int, **health: Any):
    return parse({
        "accounts": [{"id": f"{n:012d}", "name": f"acct-{n}", "project": "p",
                      "role_arn": f"arn:aws:iam::{n:012d}:role/ops"} for n in account_numbers],
        "collectors": {"cost": {"enabled": False}, "health": {"enabled": True, **health}},
    })


class Clients:
    """Real Health clients per (account, region), each behind a Stubber; ``None`` is the main account."""

    def __init__(self) -> None:
        self.stubbers: dict[tuple[str | None, str], Stubber] = {}

    def stub(self, account_id: str | None, region: str = "us-east-1") -> Stubber:
        key = (account_id, region)
        if key not in self.stubbers:
            client = boto3.client("health", region_name=region, aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
            self.stubbers[key] = Stubber(client)
            self.stubbers[key].activate()
        return self.stubbers[key]

    def __call__(self, account, region: str) -> Any:
        return self.stub(account.id if account is not None else None, region).client

    def assert_all_used(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def clients() -> Iterator[Clients]:
    c = Clients()
    yield c
    c.assert_all_used()


def expect_account_refresh(stub: Stubber, now: dt.datetime = NOW, describe: bool = True) -> None:
    """The requests one account's refresh makes, answered from the fixtures (``describe``: the event
    descriptions are not known yet, so DescribeEventDetails is asked for them)."""
    stub.add_response("describe_events", aws_response("health", "DescribeEvents", "health", "DescribeEvents.open.page1.json"),
                      {"filter": OPEN_FILTER, "maxResults": 100})
    page1 = aws_response("health", "DescribeEvents", "health", "DescribeEvents.open.page1.json")
    stub.add_response("describe_events", aws_response("health", "DescribeEvents", "health", "DescribeEvents.open.page2.json"),
                      {"filter": OPEN_FILTER, "maxResults": 100, "nextToken": page1["nextToken"]})
    stub.add_response("describe_events", aws_response("health", "DescribeEvents", "health", "DescribeEvents.closed.json"),
                      {"filter": closed_filter(now), "maxResults": 100})
    stub.add_response("describe_entity_aggregates",
                      aws_response("health", "DescribeEntityAggregates", "health", "DescribeEntityAggregates.json"),
                      {"eventArns": [UPCOMING_ARN, IAM_ARN]})
    if describe:
        stub.add_response("describe_event_details",
                          aws_response("health", "DescribeEventDetails", "health", "DescribeEventDetails.json"),
                          {"eventArns": [ISSUE_ARN, UPCOMING_ARN, IAM_ARN]})


def run(cfg, clients: Clients, holder: SnapshotHolder | None = None, now: dt.datetime = NOW):
    holder = holder or SnapshotHolder(Snapshot.empty(infos(cfg.accounts)))
    collector = HealthCollector(cfg.collectors.health, clients, clock=lambda: now)
    Runner(cfg.accounts, holder).run(collector, now.date())
    families = health_families(holder.current.for_collector("health"), {a.id: a for a in cfg.accounts})
    return holder, render(families).decode()


def event_wire(arn: str, status: str = "open", updated: dt.datetime = NOW - dt.timedelta(hours=1)) -> dict[str, Any]:
    code = arn.split("/")[2]
    return {"arn": arn, "service": arn.split("/")[1], "eventTypeCode": code, "eventTypeCategory": "issue",
            "region": "us-east-1", "statusCode": status, "eventScopeCode": "PUBLIC",
            "startTime": NOW - dt.timedelta(hours=2), "lastUpdatedTime": updated}


def expect_details(stub: Stubber, arns: list[str], failed: tuple[str, ...] = ()) -> None:
    """One DescribeEventDetails request for ``arns``: each described as "about <its suffix>", those in
    ``failed`` in the failedSet instead."""
    stub.add_response("describe_event_details", {
        "successfulSet": [{"event": {"arn": a}, "eventDescription": {"latestDescription": f"about {a[-4:]}"}}
                          for a in arns if a not in failed],
        "failedSet": [{"eventArn": a, "errorName": "UnsupportedEventException",
                       "errorMessage": "We couldn't find an event that matches your request."} for a in failed]},
        {"eventArns": arns})


def test_events_parse_from_describe_events_pages():
    pages = [aws_response("health", "DescribeEvents", "health", f"DescribeEvents.{name}.json")
             for name in ("open.page1", "open.page2", "closed")]
    events = {e.event_type_code: e for e in parse_events(pages)}
    assert len(events) == 5
    iam = events["AWS_IAM_OPERATIONAL_NOTIFICATION"]
    assert (iam.region, iam.status, iam.category, iam.end) == ("global", "open", "accountNotification", None)
    change = events["AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED"]
    assert change.start == dt.datetime(2025, 11, 28, tzinfo=UTC) and change.start.tzinfo == UTC
    assert change.end == dt.datetime(2025, 11, 28, 2, tzinfo=UTC)
    assert events["AWS_RDS_HARDWARE_MAINTENANCE_SCHEDULED"].status == "closed"


def test_account_refresh_requests_and_exposition(clients):
    cfg = config(1)
    expect_account_refresh(clients.stub("000000000001"))
    _, text = run(cfg, clients)
    base = {"account": "acct-1", "account_id": "000000000001", "project": "p"}

    counts = {tuple((k, v) for k, v in key if k in ("service", "region", "category", "status")): n
              for key, n in samples(text, "aws_health_events").items()}
    assert counts == {
        (("category", "issue"), ("region", "us-east-1"), ("service", "EC2"), ("status", "open")): 1,
        (("category", "scheduledChange"), ("region", "us-east-1"), ("service", "EC2"), ("status", "upcoming")): 1,
        (("category", "accountNotification"), ("region", "global"), ("service", "IAM"), ("status", "open")): 1,
        (("category", "scheduledChange"), ("region", "eu-west-1"), ("service", "RDS"), ("status", "closed")): 1,
        (("category", "issue"), ("region", "us-east-1"), ("service", "LAMBDA"), ("status", "closed")): 1,
    }
    info = samples(text, "aws_health_event_info")
    assert {dict(k)["status"] for k in info} == {"open", "upcoming"}  # closed events only counted
    assert len(info) == 3 and set(info.values()) == {1.0}
    upcoming = {**base, "service": "EC2", "region": "us-east-1", "category": "scheduledChange", "status": "upcoming",
                "event_type_code": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED", "event_arn": UPCOMING_ARN}
    key = tuple(sorted(upcoming.items()))
    assert samples(text, "aws_health_event_start_timestamp_seconds")[key] == 1764288000.0
    assert samples(text, "aws_health_event_end_timestamp_seconds")[key] == 1764295200.0
    assert len(samples(text, "aws_health_event_end_timestamp_seconds")) == 1  # only where AWS gives an end
    entities = {dict(k)["event_arn"]: v for k, v in samples(text, "aws_health_affected_entities").items()}
    assert entities == {UPCOMING_ARN: 3.0, IAM_ARN: 1.0}  # public events have no entities of the account
    assert samples(text, "aws_health_subscription_required") == {(("account", "acct-1"),): 0.0}


def test_descriptions_reach_the_snapshot_but_no_metric_label(clients):
    cfg = config(1)
    expect_account_refresh(clients.stub("000000000001"))
    holder, text = run(cfg, clients)
    records = {e.arn: e for e in holder.current.result("health", "000000000001").records}
    assert records[ISSUE_ARN].description.startswith("[RESOLVED] Increased API Error Rates\n\n3:15 PM PST")
    assert "reschedule the reboot" in records[UPCOMING_ARN].description
    assert {e.description for e in records.values() if not e.active} == {None}  # closed events are not described
    document = json.loads(encode_snapshot(holder.current))
    served = {r["arn"]: r["description"] for r in document["collectors"]["health"]["accounts"]["000000000001"]["records"]}
    assert served[IAM_ARN].startswith("We have detected IAM access keys")
    assert "Increased API" not in text and "access keys" not in text


def test_descriptions_are_batched_10_per_request_and_asked_again_only_when_aws_updates_them(clients, caplog):
    cfg = config(1)
    stub = clients.stub("000000000001")
    arns = [f"arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_{i:04d}"
            for i in range(23)]

    def expect_events(events: list[dict[str, Any]], now: dt.datetime) -> None:
        stub.add_response("describe_events", {"events": events}, {"filter": OPEN_FILTER, "maxResults": 100})
        stub.add_response("describe_events", {"events": []}, {"filter": closed_filter(now), "maxResults": 100})

    expect_events([event_wire(a) for a in arns], NOW)
    expect_details(stub, arns[:10], failed=(arns[3],))  # AWS could not give this one: the others still count
    expect_details(stub, arns[10:20])
    expect_details(stub, arns[20:])
    caplog.set_level(logging.INFO)
    holder, text = run(cfg, clients)  # 23 open events: 3 DescribeEventDetails requests (the Stubber checks each)
    result = holder.current.result("health", "000000000001")
    assert result.up and len(samples(text, "aws_health_event_info")) == 23
    described = {e.arn: e.description for e in result.records}
    assert described[arns[0]] == "about 0000" and described[arns[22]] == "about 0022"
    assert described[arns[3]] is None
    assert ("event=health_event_details_failed account=acct-1 events=1 error=UnsupportedEventException"
            in caplog.text)

    # Five minutes later AWS has updated one event and opened another: only those and the one that failed
    # are asked for, in one request; the other 21 keep their descriptions.
    later = NOW + dt.timedelta(minutes=5)
    new_arn = arns[0][:-4] + "0023"
    events = [event_wire(a, updated=later if a == arns[7] else NOW - dt.timedelta(hours=1)) for a in arns]
    expect_events(events + [event_wire(new_arn, updated=later)], later)
    expect_details(stub, [arns[3], arns[7], new_arn])
    holder, _ = run(cfg, clients, holder, later)
    described = {e.arn: e.description for e in holder.current.result("health", "000000000001").records}
    assert len(described) == 24 and all(described.values())
    assert described[arns[3]] == "about 0003" and described[new_arn] == "about 0023"


def test_a_role_without_describe_event_details_still_reports_its_events(clients, caplog):
    cfg = config(1)
    stub = clients.stub("000000000001")
    long_text = "Scheduled maintenance. " * 200  # 4,600 characters
    stub.add_response("describe_events", {"events": [event_wire(ISSUE_ARN)]}, {"filter": OPEN_FILTER, "maxResults": 100})
    stub.add_response("describe_events", {"events": []}, {"filter": closed_filter(), "maxResults": 100})
    stub.add_client_error("describe_event_details", "AccessDeniedException",
                          "User is not authorized to perform: health:DescribeEventDetails", http_status_code=403)
    holder, text = run(cfg, clients)
    result = holder.current.result("health", "000000000001")
    assert result.up and [e.description for e in result.records] == [None]
    assert len(samples(text, "aws_health_event_info")) == 1
    assert "event=health_event_details_denied account=acct-1" in caplog.text and "Traceback" not in caplog.text

    # The permission granted: the description is fetched, and bounded.
    later = NOW + dt.timedelta(minutes=5)
    stub.add_response("describe_events", {"events": [event_wire(ISSUE_ARN)]}, {"filter": OPEN_FILTER, "maxResults": 100})
    stub.add_response("describe_events", {"events": []}, {"filter": closed_filter(later), "maxResults": 100})
    stub.add_response("describe_event_details", {"successfulSet": [
        {"event": {"arn": ISSUE_ARN}, "eventDescription": {"latestDescription": long_text}}]}, {"eventArns": [ISSUE_ARN]})
    holder, _ = run(cfg, clients, holder, later)
    (event,) = holder.current.result("health", "000000000001").records
    assert len(event.description) == DESCRIPTION_MAX_CHARS and event.description.startswith("Scheduled maintenance.")
    assert event.description.endswith("…")


def test_entity_aggregates_are_batched_at_the_api_limit_of_50(clients):
    cfg = config(1)
    stub = clients.stub("000000000001")
    arns = [f"arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/"
            f"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_{i:04d}" for i in range(120)]
    events = [{"arn": arn, "service": "EC2", "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
               "eventTypeCategory": "scheduledChange", "region": "us-east-1", "statusCode": "upcoming",
               "eventScopeCode": "ACCOUNT_SPECIFIC", "startTime": NOW + dt.timedelta(days=3)} for arn in arns]
    stub.add_response("describe_events", {"events": events[:100], "nextToken": "page-0100"},
                      {"filter": OPEN_FILTER, "maxResults": 100})
    stub.add_response("describe_events", {"events": events[100:]},
                      {"filter": OPEN_FILTER, "maxResults": 100, "nextToken": "page-0100"})
    stub.add_response("describe_events", {"events": []}, {"filter": closed_filter(), "maxResults": 100})
    for batch in (arns[:50], arns[50:100], arns[100:]):
        stub.add_response("describe_entity_aggregates",
                          {"entityAggregates": [{"eventArn": a, "count": 1} for a in batch]}, {"eventArns": batch})
    for i in range(0, 120, 10):
        expect_details(stub, arns[i:i + 10])
    _, text = run(cfg, clients)
    assert len(samples(text, "aws_health_affected_entities")) == 120
    assert len(samples(text, "aws_health_event_info")) == 120


def test_subscription_required_is_reported_once_and_backed_off(clients, caplog):
    cfg = config(1, 2, subscription_backoff="1h")
    no_plan, fine = clients.stub("000000000001"), clients.stub("000000000002")
    no_plan.add_client_error("describe_events", "SubscriptionRequiredException",
                             "The AWS Support plan for this account does not include the AWS Health API.",
                             http_status_code=400)
    expect_account_refresh(fine)
    caplog.set_level(logging.INFO)
    holder, text = run(cfg, clients)

    up = {dict(k)["account"]: v for k, v in samples(render_exporter(holder, cfg), "aws_exporter_collector_up").items()}
    assert up == {"acct-1": 0.0, "acct-2": 1.0}
    assert samples(text, "aws_health_subscription_required") == {(("account", "acct-1"),): 1.0,
                                                                 (("account", "acct-2"),): 0.0}
    warnings = [r.getMessage() for r in caplog.records if "subscription_required" in r.getMessage()]
    assert len(warnings) == 1 and "account=acct-1" in warnings[0] and "support plan" in warnings[0]
    assert "Traceback" not in caplog.text

    # Ten minutes later the account is left alone: no request (the Stubber has nothing queued), no new log line.
    caplog.clear()
    later = NOW + dt.timedelta(minutes=10)
    expect_account_refresh(fine, later, describe=False)
    holder, text = run(cfg, clients, holder, later)
    assert samples(text, "aws_health_subscription_required")[(("account", "acct-1"),) ] == 1.0
    assert not [r for r in caplog.records if "acct-1" in r.getMessage() and r.levelno >= logging.WARNING]

    # After the back-off it is asked again; still no plan: still reported, but not logged as news.
    no_plan.add_client_error("describe_events", "SubscriptionRequiredException", "no plan", http_status_code=400)
    later = NOW + dt.timedelta(minutes=70)
    expect_account_refresh(fine, later, describe=False)
    holder, text = run(cfg, clients, holder, later)
    assert samples(text, "aws_health_subscription_required")[(("account", "acct-1"),)] == 1.0
    assert not [r for r in caplog.records if "acct-1" in r.getMessage() and r.levelno >= logging.WARNING]

    # The plan is bought: the next attempt after the back-off collects and clears the marker.
    later = NOW + dt.timedelta(minutes=140)
    expect_account_refresh(no_plan, later)
    expect_account_refresh(fine, later, describe=False)
    holder, text = run(cfg, clients, holder, later)
    assert samples(text, "aws_health_subscription_required")[(("account", "acct-1"),)] == 0.0
    assert len([k for k in samples(text, "aws_health_event_info") if ("account", "acct-1") in k]) == 3


def render_exporter(holder: SnapshotHolder, cfg) -> str:
    return render(exporter_families(holder.current, {"health": cfg.collectors.health.interval_seconds})
                  ).decode()


def test_fails_over_to_the_passive_region_when_the_active_one_errors(clients, caplog):
    cfg = config(1, failover_region="us-east-2")
    clients.stub("000000000001", "us-east-1").add_client_error(
        "describe_events", "InternalFailure", "We encountered an internal error.", http_status_code=500)
    expect_account_refresh(clients.stub("000000000001", "us-east-2"))
    _, text = run(cfg, clients)
    assert len(samples(text, "aws_health_event_info")) == 3
    assert "event=health_failover account=acct-1 from=us-east-1 to=us-east-2" in caplog.text


def test_access_denied_does_not_fail_over_and_fails_only_that_account(clients):
    cfg = config(1, 2)
    clients.stub("000000000001", "us-east-1").add_client_error(
        "describe_events", "AccessDeniedException", "not authorized to perform: health:DescribeEvents",
        http_status_code=403)
    clients.stub("000000000001", "us-east-2")  # must stay unused
    expect_account_refresh(clients.stub("000000000002"))
    holder, text = run(cfg, clients)
    assert holder.current.result("health", "000000000001").error.startswith("AccessDeniedException")
    assert holder.current.result("health", "000000000002").up
    assert {dict(k)["account"] for k in samples(text, "aws_health_event_info")} == {"acct-2"}


def test_organization_mode_maps_organization_events_to_configured_accounts(clients):
    cfg = config(111111111111, 222222222222, organization=True)
    main = clients.stub(None)
    org_open = {"eventStatusCodes": ["open", "upcoming"]}
    org_closed = {"eventStatusCodes": ["closed"], "endTime": {"from": NOW - dt.timedelta(days=7)}}
    main.add_response("describe_events_for_organization",
                      aws_response("health", "DescribeEventsForOrganization", "health",
                                   "DescribeEventsForOrganization.open.json"), {"filter": org_open, "maxResults": 100})
    main.add_response("describe_events_for_organization",
                      aws_response("health", "DescribeEventsForOrganization", "health",
                                   "DescribeEventsForOrganization.closed.json"), {"filter": org_closed, "maxResults": 100})
    main.add_response("describe_affected_accounts_for_organization",
                      aws_response("health", "DescribeAffectedAccountsForOrganization", "health",
                                   "DescribeAffectedAccountsForOrganization.rds.json"),
                      {"eventArn": RDS_ORG_ARN, "maxResults": 100})
    main.add_response("describe_affected_accounts_for_organization",
                      aws_response("health", "DescribeAffectedAccountsForOrganization", "health",
                                   "DescribeAffectedAccountsForOrganization.billing.json"),
                      {"eventArn": BILLING_ARN, "maxResults": 100})
    main.add_response("describe_entity_aggregates_for_organization",
                      aws_response("health", "DescribeEntityAggregatesForOrganization", "health",
                                   "DescribeEntityAggregatesForOrganization.json"),
                      # Without awsAccountIds AWS leaves the per-account counts out: the affected accounts are named.
                      {"eventArns": [RDS_ORG_ARN], "awsAccountIds": ["111111111111"]})
    # One request for both descriptions: the public issue without an account id (the API requires it),
    # the maintenance for the one configured account it affects.
    main.add_response("describe_event_details_for_organization",
                      aws_response("health", "DescribeEventDetailsForOrganization", "health",
                                   "DescribeEventDetailsForOrganization.json"),
                      {"organizationEventDetailFilters": [{"eventArn": EC2_ORG_ARN},
                                                          {"eventArn": RDS_ORG_ARN, "awsAccountId": "111111111111"}]})
    holder, text = run(cfg, clients)

    assert all(r.up for r in holder.current.for_collector("health"))
    info = {(dict(k)["account"], dict(k)["event_type_code"]) for k in samples(text, "aws_health_event_info")}
    assert info == {  # the public issue is every account's; the maintenance only 1111's (9999 is not configured)
        ("acct-111111111111", "AWS_EC2_OPERATIONAL_ISSUE"), ("acct-222222222222", "AWS_EC2_OPERATIONAL_ISSUE"),
        ("acct-111111111111", "AWS_RDS_MAINTENANCE_SCHEDULED")}
    closed = {dict(k)["account"] for k in samples(text, "aws_health_events") if ("status", "closed") in k}
    assert closed == {"acct-222222222222"}
    entities = {(dict(k)["account"], dict(k)["event_arn"]): v for k, v in samples(text, "aws_health_affected_entities").items()}
    assert entities == {("acct-111111111111", RDS_ORG_ARN): 2.0}
    # No per-account client was ever asked for: one set of calls from the main account.
    assert set(clients.stubbers) == {(None, "us-east-1")}
    described = {(r.account_id, e.event_type_code): e.description for r in holder.current.for_collector("health")
                 for e in r.records}
    assert described[("111111111111", "AWS_EC2_OPERATIONAL_ISSUE")] == described[
        ("222222222222", "AWS_EC2_OPERATIONAL_ISSUE")] and "apne2-az1" in described[
        ("111111111111", "AWS_EC2_OPERATIONAL_ISSUE")]
    assert described[("111111111111", "AWS_RDS_MAINTENANCE_SCHEDULED")].startswith("Your Amazon RDS DB instances")
    assert described[("222222222222", "AWS_BILLING_NOTIFICATION")] is None  # closed: never described

    # The next refresh, nothing updated at AWS: the known descriptions are kept without asking again.
    later = NOW + dt.timedelta(minutes=5)
    org_closed["endTime"] = {"from": later - dt.timedelta(days=7)}
    for filt, name in ((org_open, "open"), (org_closed, "closed")):
        main.add_response("describe_events_for_organization",
                          aws_response("health", "DescribeEventsForOrganization", "health",
                                       f"DescribeEventsForOrganization.{name}.json"), {"filter": filt, "maxResults": 100})
    for arn, name in ((RDS_ORG_ARN, "rds"), (BILLING_ARN, "billing")):
        main.add_response("describe_affected_accounts_for_organization",
                          aws_response("health", "DescribeAffectedAccountsForOrganization", "health",
                                       f"DescribeAffectedAccountsForOrganization.{name}.json"),
                          {"eventArn": arn, "maxResults": 100})
    main.add_response("describe_entity_aggregates_for_organization",
                      aws_response("health", "DescribeEntityAggregatesForOrganization", "health",
                                   "DescribeEntityAggregatesForOrganization.json"),
                      # Without awsAccountIds AWS leaves the per-account counts out: the affected accounts are named.
                      {"eventArns": [RDS_ORG_ARN], "awsAccountIds": ["111111111111"]})
    holder, _ = run(cfg, clients, holder, later)
    again = {(r.account_id, e.event_type_code): e.description for r in holder.current.for_collector("health")
             for e in r.records}
    assert again == described


def test_organization_event_the_affected_accounts_call_reveals_as_public_gets_no_entity_counts(clients):
    """The event list left the scope out; DescribeAffectedAccountsForOrganization says PUBLIC: the event is
    every account's, and public events have no account entities to count (no aggregates request)."""
    cfg = config(111111111111, 222222222222, organization=True)
    main = clients.stub(None)
    unscoped = {k: v for k, v in event_wire(RDS_ORG_ARN).items() if k != "eventScopeCode"}
    main.add_response("describe_events_for_organization", {"events": [unscoped]},
                      {"filter": {"eventStatusCodes": ["open", "upcoming"]}, "maxResults": 100})
    main.add_response("describe_events_for_organization", {"events": []},
                      {"filter": {"eventStatusCodes": ["closed"], "endTime": {"from": NOW - dt.timedelta(days=7)}},
                       "maxResults": 100})
    main.add_response("describe_affected_accounts_for_organization",
                      {"affectedAccounts": [], "eventScopeCode": "PUBLIC"}, {"eventArn": RDS_ORG_ARN, "maxResults": 100})
    main.add_response("describe_event_details_for_organization", {"successfulSet": [], "failedSet": []},
                      {"organizationEventDetailFilters": [{"eventArn": RDS_ORG_ARN}]})
    holder, text = run(cfg, clients)
    assert all(r.up for r in holder.current.for_collector("health"))
    assert {dict(k)["account"] for k in samples(text, "aws_health_event_info")} == {
        "acct-111111111111", "acct-222222222222"}
    assert samples(text, "aws_health_affected_entities") == {}
