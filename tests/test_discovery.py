"""Organization discovery against moto's AWS Organizations over real HTTP: who is served, with which labels,
what a failed or a repeated discovery does, and what reaches /metrics."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.config import Config as BotoConfig
from prometheus_client.parser import text_string_to_metric_families

from exporter.answers import MalformedResponse
from exporter.app import App
from exporter.collectors.organizations import is_active, parse_accounts
from exporter.config import parse
from exporter.discovery import Discovery
from exporter.fleet import Fleet
from exporter.model import CostRecord, DAILY, AccountResult, Amount, Snapshot
from exporter.periods import cost_detail
from exporter.server import landing_page
from exporter.snapshot import SnapshotHolder
from tests.conftest import free_port

AS_OF = dt.date(2026, 3, 1)


class Organization:
    """An organization in moto: root → prod (→ prod-eu), sandbox; accounts with project tags."""

    def __init__(self) -> None:
        self.client = boto3.client("organizations", region_name="us-east-1")
        self.client.create_organization(FeatureSet="ALL")
        self.root = self.client.list_roots()["Roots"][0]["Id"]
        self.management = self.client.describe_organization()["Organization"]["MasterAccountId"]
        self.prod = self.ou(self.root, "prod")
        self.prod_eu = self.ou(self.prod, "prod-eu")
        self.sandbox = self.ou(self.root, "sandbox")

    def ou(self, parent: str, name: str) -> str:
        return self.client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

    def account(self, name: str, parent: str | None = None, **tags: str) -> str:
        account_id = self.client.create_account(
            AccountName=name, Email=f"{name}@example.com",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["CreateAccountStatus"]["AccountId"]
        if parent is not None:
            self.client.move_account(AccountId=account_id, SourceParentId=self.root, DestinationParentId=parent)
        return account_id


def org_config(**organization) -> dict:
    return {"organization": {"enabled": True, "member_role_arn": "arn:aws:iam::{account_id}:role/ops-exporter",
                             **organization},
            "collectors": {"cost": {"enabled": False}}}


def samples(app: App, name: str) -> list[dict[str, str]]:
    text = app.exposition.metrics().decode()
    return [dict(s.labels, value=s.value) for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name]


def value(app: App, name: str) -> float:
    (sample,) = samples(app, name)
    return sample["value"]


def test_only_active_accounts_in_scope_are_served_with_their_tags_ou_and_source(aws):
    org = Organization()
    web = org.account("web-prod", org.prod, project="web")
    eu = org.account("web-eu", org.prod_eu, project="web", owner="team-eu")
    lab = org.account("lab", org.sandbox)  # no project tag
    gone = org.account("closed", org.prod, project="web")
    org.client.close_account(AccountId=gone)
    listed = org.account("data", org.prod, project="ignored-tag")
    doc = org_config(include_ous=[org.prod, org.sandbox], exclude_accounts=[lab])
    doc["accounts"] = [{"id": listed, "name": "data-prod", "project": "data", "budget_usd": 500,
                        "role_arn": f"arn:aws:iam::{listed}:role/custom"},
                       {"id": "999999999999", "name": "outside", "project": "ext",
                        "role_arn": "arn:aws:iam::999999999999:role/ops"}]
    doc["collectors"] = {"cost": {"enabled": True}}  # moto's Cost Explorer answers with no cost
    app = App.build(parse(doc), process_metrics=False)
    app.collect_once(AS_OF)

    by_id = {a.id: a for a in app.runner.accounts}
    # prod-eu is nested under prod: included; the sandbox account is excluded; the closed one is not ACTIVE;
    # the management account sits under the root, which include_ous does not name.
    assert set(by_id) == {web, eu, listed, "999999999999"}
    assert (by_id[web].name, by_id[web].project, by_id[web].ou, by_id[web].source) == ("web-prod", "web", org.prod,
                                                                                       "organizations")
    assert by_id[web].role_arn == f"arn:aws:iam::{web}:role/ops-exporter"
    assert by_id[eu].ou == org.prod_eu
    # Listed and discovered: the config's name, project, role and budget win, and it gains its OU.
    assert (by_id[listed].name, by_id[listed].project, by_id[listed].role_arn, by_id[listed].ou,
            by_id[listed].source) == ("data-prod", "data", f"arn:aws:iam::{listed}:role/custom", org.prod, "config")
    assert (by_id["999999999999"].ou, by_id["999999999999"].source) == ("", "config")  # not in the organization

    info = {s["account_id"]: s for s in samples(app, "aws_account_info")}
    assert info[web] | {"value": 1.0} == {"account": "web-prod", "account_id": web, "project": "web", "ou": org.prod,
                                          "source": "organizations", "value": 1.0}
    assert info[listed]["source"] == "config" and info[listed]["ou"] == org.prod
    assert value(app, "aws_exporter_discovery_up") == 1.0
    assert value(app, "aws_exporter_discovered_accounts") == 3.0  # web, web-eu, data
    assert value(app, "aws_exporter_discovery_last_success_timestamp_seconds") > 0
    budgets = {(s["project"], s["account"]): s["value"] for s in samples(app, "aws_cost_budget_usd")}
    assert budgets == {("data", "data-prod"): 500.0}


def test_default_project_name_tag_and_the_whole_organization_with_the_management_account(aws):
    org = Organization()
    a = org.account("a", org.prod, project="web", Name="Web Production")
    b = org.account("b", org.sandbox)
    app = App.build(parse(org_config(name_tag="Name", default_project="shared")), process_metrics=False)
    app.collect_once(AS_OF)
    served = {x.id: (x.name, x.project) for x in app.runner.accounts}
    # No include_ous: everything, the management account included, as an account like the others.
    assert served == {a: ("Web Production", "web"), b: ("b", "shared"), org.management: ("master", "shared")}


def test_a_failed_discovery_keeps_the_last_list_and_a_departed_account_leaves_the_metrics(aws):
    org = Organization()
    stays = org.account("stays", org.prod, project="web")
    leaves = org.account("leaves", org.prod, project="web")
    settings = parse(org_config(include_ous=[org.prod])).organization
    holder, fleet = SnapshotHolder(Snapshot.empty()), Fleet()
    good = boto3.client("organizations", region_name="us-east-1")
    dead = boto3.client("organizations", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}",
                        config=BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=1))
    current = [good]
    discovery = Discovery(settings, (), "us-east-1", lambda: current[0], fleet, holder)

    assert discovery.run()
    assert {a.id for a in fleet.accounts} == {stays, leaves}
    detail = cost_detail(AS_OF, 14)
    record = CostRecord("Amazon EC2", DAILY, detail.yesterday.start, detail.yesterday.end, Amount("1.5"), "USD",
                        "AmortizedCost", False)
    holder.publish(None, [AccountResult(collector="cost", account_id=a, records=(record,), up=True, detail=detail)
                          for a in (stays, leaves)])

    current[0] = dead  # a blip: the organization cannot be reached
    assert not discovery.run()
    assert {a.id for a in fleet.accounts} == {stays, leaves}
    assert {a.id for a in holder.current.accounts} == {stays, leaves}
    status = holder.current.discovery
    assert not status.up and status.discovered_accounts == 2 and status.last_success is not None
    assert status.error.startswith("EndpointConnectionError")
    assert "AWS Organizations discovery: DOWN, 2 accounts in scope" in landing_page(holder.current)

    org.client.remove_account_from_organization(AccountId=leaves)
    current[0] = good
    assert discovery.run()
    assert {a.id for a in fleet.accounts} == {stays}
    assert set(holder.current.collectors["cost"].accounts) == {stays}  # its data left with it
    assert holder.current.discovery.up


def test_tags_and_parents_are_asked_only_for_new_accounts_until_the_refresh_interval_passes(aws):
    org = Organization()
    org.account("one", org.prod, project="web")
    now = [0.0]
    calls: list[str] = []
    client = boto3.client("organizations", region_name="us-east-1")
    client.meta.events.register("before-call.organizations.*",
                                lambda model, **_: calls.append(model.name))
    settings = parse(org_config(refresh_interval="1h")).organization
    discovery = Discovery(settings, (), "us-east-1", lambda: client, Fleet(), SnapshotHolder(Snapshot.empty()),
                          clock=lambda: now[0])

    assert discovery.run()
    first = calls.copy()
    # One ListAccounts page, then tags and parent for each of the two accounts (management + one); no OU walk.
    assert first.count("ListAccounts") == 1 and first.count("ListTagsForResource") == 2
    assert first.count("ListParents") == 2 and "ListOrganizationalUnitsForParent" not in first

    calls.clear()
    org.account("two", org.sandbox)
    now[0] = 600.0  # ten minutes later: only the new account's details
    assert discovery.run()
    assert calls == ["ListAccounts", "ListTagsForResource", "ListParents"]

    calls.clear()
    now[0] = 3600.0 + 600.0  # an interval after the first run: everyone's details again
    assert discovery.run()
    assert calls.count("ListTagsForResource") == 3 and calls.count("ListParents") == 3


@pytest.mark.parametrize("fields, active", [
    ({"State": "ACTIVE", "Status": "ACTIVE"}, True),
    ({"Status": "ACTIVE"}, True),  # an older answer: Status only
    ({"State": "PENDING_CLOSURE", "Status": "ACTIVE"}, False),  # State is newer and wins
    ({"State": "SUSPENDED"}, False),
    ({"Status": "SUSPENDED"}, False),
    ({}, False),
])
def test_active_reads_state_and_the_older_status(fields, active):
    assert is_active(fields) is active
    (account,) = parse_accounts([{"Accounts": [{"Id": "123456789012", "Name": "n", **fields}]}])
    assert account.active is active


def test_an_answer_without_the_account_list_is_a_failure_not_an_empty_organization():
    with pytest.raises(MalformedResponse, match="ListAccounts: missing key 'Accounts'"):
        parse_accounts([{"NextToken": "x"}])
