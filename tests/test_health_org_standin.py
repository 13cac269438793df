"""The Health stand-in's organizational view (``...ForOrganization``), spoken to over loopback HTTP by real
boto3 clients whose accounts moto's STS names: the real HealthCollector in organization mode, run through the
exporter (its client wiring, the Runner, the snapshot, the health families), shows every account what
per-account mode shows it for the same demo events."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_ops_demo import health as demo_health
from aws_ops_demo.fleet import ACCOUNTS as DEMO_FLEET
from aws_ops_demo.health import HealthApi, HealthStandIn, demo_events, sts_account_resolver
from exporter.app import build_collectors
from exporter.aws import AwsClients
from exporter.config import parse
from exporter.exposition.health import health_families
from exporter.exposition.render import render
from exporter.fleet import infos
from exporter.model import HealthEvent, Snapshot
from exporter.scheduler import Runner
from exporter.snapshot import SnapshotHolder
from exporter.telemetry import ApiStats
from tests.test_exporter_moto import samples

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SANDBOX = "platform-sandbox"  # the demo's account without Business support
# web-prod and platform-shared share events (same ARNs); the sandbox has no support plan.
DEMO = [a for a in DEMO_FLEET if a.name in ("web-prod", "web-staging", "platform-shared", SANDBOX)]
FAMILIES = ("aws_health_events", "aws_health_event_info", "aws_health_event_start_timestamp_seconds",
            "aws_health_event_end_timestamp_seconds", "aws_health_affected_entities", "aws_health_subscription_required")


def main_account() -> str:
    return boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]


def organization_accounts() -> list[SimpleNamespace]:
    """Member accounts made in moto's Organizations by the main account: their ids are moto's, not known here."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    made = []
    for name, project, regions in (("web-prod", "web", ("ap-northeast-2",)), ("data-dev", "data", ("us-east-1",)),
                                   (SANDBOX, "platform", ("us-west-2",))):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        made.append(SimpleNamespace(id=status["AccountId"], name=name, project=project, regions=regions))
    return made


@pytest.fixture
def serve(aws, monkeypatch) -> Iterator[Callable[..., HealthStandIn]]:
    """Start the stand-in over ``demo_events(accounts, NOW)``; every boto3 Health client goes to it."""
    started: list[HealthStandIn] = []

    def serve(accounts: Sequence[Any], management_account: str | None, page_limit: int | None = 1) -> HealthStandIn:
        data = demo_events(accounts, NOW)
        api = HealthApi(data.events, data.subscription_required, management_account, page_limit)
        stand_in = HealthStandIn(api, sts_account_resolver(aws.endpoint)).start()
        started.append(stand_in)
        monkeypatch.setenv("AWS_ENDPOINT_URL_HEALTH", stand_in.endpoint)
        return stand_in

    yield serve
    for stand_in in started:
        stand_in.stop()


def config(accounts: Sequence[Any], organization: bool):
    return parse({
        "accounts": [{"id": a.id, "name": a.name, "project": a.project, "regions": list(a.regions),
                      "role_arn": f"arn:aws:iam::{a.id}:role/ops-exporter"} for a in accounts],
        "collectors": {"cost": {"enabled": False}, "cloudwatch": {"enabled": False},
                       "health": {"enabled": True, "organization": organization}},
    })


def run(cfg) -> tuple[list[Any], str]:
    """One Health pass as the exporter makes it (its clients: AssumeRole per account, or the main account's)."""
    (collector,) = build_collectors(cfg, AwsClients(cfg.aws, ApiStats()), only=["health"])
    collector.clock = lambda: NOW
    holder = SnapshotHolder(Snapshot.empty(infos(cfg.accounts)))
    Runner(cfg.accounts, holder).run(collector, NOW.date())
    results = list(holder.current.for_collector("health"))
    return results, render(health_families(results, {a.id: a for a in cfg.accounts})).decode()


def seen(text: str, names: set[str], families: Sequence[str] = FAMILIES) -> dict[str, dict[tuple, float]]:
    return {f: {k: v for k, v in samples(text, f).items() if dict(k)["account"] in names} for f in families}


def descriptions(results: Sequence[Any], ids: set[str]) -> dict[tuple[str, str], str | None]:
    return {(r.account_id, e.arn): e.description for r in results if r.account_id in ids for e in r.records}


def member_client(account_id: str) -> Any:
    """A Health client in a member account, through a role moto's STS hands out."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/ops-exporter", RoleSessionName="test")["Credentials"]
    return boto3.client("health", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


@pytest.mark.parametrize("fleet", ["demo fleet", "moto organization"])
def test_organization_mode_shows_every_account_what_per_account_mode_shows(serve, fleet):
    accounts = DEMO if fleet == "demo fleet" else organization_accounts()
    management = main_account()
    stand_in = serve(accounts, management)
    per_account_results, per_account = run(config(accounts, organization=False))
    before = len(stand_in.requests)
    org_results, org = run(config(accounts, organization=True))

    planned = {a.name for a in accounts if a.name != SANDBOX}
    planned_ids = {a.id for a in accounts if a.name != SANDBOX}
    # Affected entities are compared in their own test further down.
    families = [f for f in FAMILIES if f != "aws_health_affected_entities"]
    assert seen(org, planned, families) == seen(per_account, planned, families)
    for name in planned:  # and there is something to compare: open, upcoming and closed events everywhere
        statuses = {dict(k)["status"] for k in seen(org, {name})["aws_health_events"]}
        assert statuses == {"open", "upcoming", "closed"}, name
    issues = {dict(k)["event_arn"] for k in samples(org, "aws_health_event_info") if ("category", "issue") in k}
    assert len(issues) == 2  # the public one (every account's) and web-prod's drive

    # The descriptions the reporter fences as data: the same text for the same account's event either way.
    described = descriptions(org_results, planned_ids)
    assert described == descriptions(per_account_results, planned_ids)
    active = {key: text for key, text in described.items()
              if any(e.active for r in org_results for e in r.records if (r.account_id, e.arn) == key)}
    assert active and all(active.values())
    drive = [text for (_, arn), text in active.items() if "DRIVE_PERFORMANCE_DEGRADED" in arn]
    assert len(drive) == 1 and demo_health.INJECTED_INSTRUCTION in drive[0]

    # One set of organization calls from the management account, each answered one item a page.
    org_calls = stand_in.requests[before:]
    assert {account for account, _ in org_calls} == {management}
    assert all(op.endswith("ForOrganization") for _, op in org_calls)
    events = {e.arn: e for r in org_results for e in r.records}
    holders = {arn: {r.account_id for r in org_results for e in r.records if e.arn == arn} for arn in events}
    ops = [op for _, op in org_calls]
    # A page per event (open/upcoming, then closed; neither list is empty); a page per affected account.
    assert ops.count("DescribeEventsForOrganization") == len(events)
    assert ops.count("DescribeAffectedAccountsForOrganization") == sum(
        len(holders[arn]) for arn, e in events.items() if e.scope != "PUBLIC")
    (public,) = [arn for arn, e in events.items() if e.scope == "PUBLIC"]
    assert holders[public] == {a.id for a in accounts}
    if fleet == "demo fleet":  # web-prod's and platform-shared's events have the same ARNs: one event each
        assert [n for arn, e in events.items() if e.scope != "PUBLIC" if (n := len(holders[arn])) > 1]


def test_the_account_without_a_support_plan_is_seen_through_the_organizational_view(serve, caplog):
    """Per account it answers SubscriptionRequired; the management account's view still lists its events (AWS
    only needs the management account's plan for that), but describes none of its own (failedSet: no plan)."""
    caplog.set_level(logging.INFO, logger="exporter.collectors.health")
    serve(DEMO, main_account())
    _, per_account = run(config(DEMO, organization=False))
    org_results, org = run(config(DEMO, organization=True))
    sandbox = next(a for a in DEMO if a.name == SANDBOX)
    assert seen(per_account, {SANDBOX})["aws_health_subscription_required"] == {(("account", SANDBOX),): 1.0}
    assert seen(org, {SANDBOX})["aws_health_subscription_required"] == {(("account", SANDBOX),): 0.0}
    (result,) = [r for r in org_results if r.account_id == sandbox.id]
    by_code = {e.event_type_code: e for e in result.records if isinstance(e, HealthEvent)}
    assert set(by_code) == {"AWS_EC2_OPERATIONAL_ISSUE", "AWS_RDS_MAINTENANCE_SCHEDULED", "AWS_BILLING_NOTIFICATION"}
    assert by_code["AWS_EC2_OPERATIONAL_ISSUE"].description  # public: asked for without an account id
    assert by_code["AWS_RDS_MAINTENANCE_SCHEDULED"].description is None
    assert result.up
    assert "event=health_event_details_failed account=* events=1 error=SubscriptionRequiredException" in caplog.text


def test_organization_mode_counts_each_accounts_affected_entities_as_per_account_mode_does(serve):
    serve(DEMO, main_account())
    _, per_account = run(config(DEMO, organization=False))
    _, org = run(config(DEMO, organization=True))
    planned = {a.name for a in DEMO if a.name != SANDBOX}
    entities = ["aws_health_affected_entities"]
    assert seen(per_account, planned, entities)["aws_health_affected_entities"]
    assert seen(org, planned, entities) == seen(per_account, planned, entities)


def test_entity_aggregates_per_account_when_asked_for_the_accounts(serve):
    """What the collector would get by naming the accounts: each account's count, as DescribeEntityAggregates
    answers in that account."""
    serve(DEMO, main_account(), page_limit=None)
    health = boto3.client("health", region_name="us-east-1")
    events = health.describe_events_for_organization(filter={"eventStatusCodes": ["open", "upcoming"]})["events"]
    arns = [e["arn"] for e in events]
    org = health.describe_entity_aggregates_for_organization(eventArns=arns, awsAccountIds=[a.id for a in DEMO])
    counts = {(agg["eventArn"], a["accountId"]): a["count"]
              for agg in org["organizationEntityAggregates"] for a in agg["accounts"]}
    data = demo_events(DEMO, NOW).events
    assert counts == {(e.arn, account_id): len(e.entities) for account_id, copies in data.items() for e in copies
                      if e.arn in arns and e.scope != "PUBLIC"}
    assert len({arn for arn, _ in counts}) < len(counts)  # an event of two accounts, counted for each
    for account in DEMO:  # each account's count is the one its own DescribeEntityAggregates answers
        if account.name != SANDBOX:  # (which the sandbox cannot ask: no support plan)
            own = member_client(account.id).describe_entity_aggregates(eventArns=arns)["entityAggregates"]
            assert {a["eventArn"]: a["count"] for a in own if a["count"]} == {
                arn: n for (arn, account_id), n in counts.items() if account_id == account.id}

    unnamed = health.describe_entity_aggregates_for_organization(eventArns=arns)["organizationEntityAggregates"]
    assert all(agg["accounts"] == [] for agg in unnamed)  # no awsAccountIds: no accounts (the collector's case)
    assert {agg["eventArn"]: agg["count"] for agg in unnamed} == {
        arn: sum(n for (a, _), n in counts.items() if a == arn) for arn in arns}  # the public one: 0
    with pytest.raises(ClientError) as err:
        health.describe_entity_aggregates_for_organization(eventArns=arns * 13)  # 26: the model's maximum is 25
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_affected_accounts_and_event_details_follow_the_event_scope(serve):
    serve(DEMO, main_account(), page_limit=None)
    health = boto3.client("health", region_name="us-east-1")
    events = health.describe_events_for_organization()["events"]
    (public,) = [e["arn"] for e in events if e["eventScopeCode"] == "PUBLIC"]
    web_prod, web_staging, platform_shared = (next(a.id for a in DEMO if a.name == n)
                                              for n in ("web-prod", "web-staging", "platform-shared"))

    affected = health.describe_affected_accounts_for_organization(eventArn=public)
    assert (affected["affectedAccounts"], affected["eventScopeCode"]) == ([], "PUBLIC")
    rds = {e["arn"]: health.describe_affected_accounts_for_organization(eventArn=e["arn"])["affectedAccounts"]
           for e in events if e["eventTypeCode"] == "AWS_RDS_MAINTENANCE_SCHEDULED"}
    (shared,) = [arn for arn, accounts in rds.items() if len(accounts) > 1]
    assert rds[shared] == [web_prod, platform_shared]
    unknown = health.describe_affected_accounts_for_organization(eventArn=public.replace("public-A", "gone"))
    assert (unknown["affectedAccounts"], unknown["eventScopeCode"]) == ([], "NONE")

    details = health.describe_event_details_for_organization(organizationEventDetailFilters=[
        {"eventArn": public}, {"eventArn": shared, "awsAccountId": web_prod},
        {"eventArn": public, "awsAccountId": web_prod},  # public: must be asked for without an account
        {"eventArn": shared},  # account-specific: must name the account
        {"eventArn": shared, "awsAccountId": web_staging},  # not one it affects
    ])
    ok = [(d.get("awsAccountId"), d["event"]["arn"]) for d in details["successfulSet"]]
    assert ok == [(None, public), (web_prod, shared)]
    assert all(d["eventDescription"]["latestDescription"] for d in details["successfulSet"])
    assert [(f.get("awsAccountId"), f["eventArn"], f["errorName"]) for f in details["failedSet"]] == [
        (web_prod, public, "UnsupportedEventException"), (None, shared, "UnsupportedEventException"),
        (web_staging, shared, "UnsupportedEventException")]
    assert "null value for the AWS account ID" in details["failedSet"][0]["errorMessage"]
    with pytest.raises(ClientError) as err:  # botocore does not check the model's maximum of 10; AWS does
        health.describe_event_details_for_organization(organizationEventDetailFilters=[{"eventArn": public}] * 11)
    assert err.value.response["Error"]["Code"] == "ValidationException"

    # awsAccountIds keeps the events that affect those accounts (a public one affects none in particular).
    only = health.describe_events_for_organization(filter={"awsAccountIds": [web_staging]})["events"]
    assert only and all(web_staging in health.describe_affected_accounts_for_organization(
        eventArn=e["arn"])["affectedAccounts"] for e in only)


@pytest.mark.parametrize("management_account", [None, "999999999999"], ids=["view not enabled", "another account"])
def test_only_the_management_account_gets_the_organizational_view(aws, monkeypatch, management_account):
    """Through ``start``, as the demo starts it: the view answers the management account only; every other
    caller (and everyone, while the view is not enabled) is refused with SubscriptionRequiredException."""
    accounts = organization_accounts()
    stand_in = demo_health.start(aws.endpoint, accounts, NOW, management_account=management_account)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_HEALTH", stand_in.endpoint)
        results, text = run(config(accounts, organization=True))
        assert not any(r.up for r in results)
        assert set(samples(text, "aws_health_subscription_required").values()) == {1.0}
        assert samples(text, "aws_health_event_info") == {}

        member = member_client(accounts[0].id)
        with pytest.raises(ClientError) as err:
            member.describe_events_for_organization()
        assert err.value.response["Error"]["Code"] == "SubscriptionRequiredException"
        assert member.describe_events()["events"]  # its own events it still gets
    finally:
        stand_in.stop()


def test_start_serves_the_organizational_view_to_the_management_account(aws, monkeypatch):
    accounts = organization_accounts()
    management = boto3.client("organizations", region_name="us-east-1").describe_organization()[
        "Organization"]["MasterAccountId"]
    stand_in = demo_health.start(aws.endpoint, accounts, NOW, management_account=management)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_HEALTH", stand_in.endpoint)
        events = boto3.client("health", region_name="us-east-1").describe_events_for_organization()["events"]
        assert {e["eventScopeCode"] for e in events} == {"PUBLIC", "ACCOUNT_SPECIFIC"}
        with pytest.raises(ClientError) as err:
            member_client(accounts[1].id).describe_events_for_organization()
        assert err.value.response["Error"]["Code"] == "SubscriptionRequiredException"
    finally:
        stand_in.stop()
