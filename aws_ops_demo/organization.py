"""The demo fleet as an AWS Organization in moto: one OU per project, each account tagged with its project.

moto gives created accounts random ids, so the demo creates them and maps each demo account to the id moto
chose (:func:`create`); every other stand-in then serves the mapped accounts. The management account is
moto's own (the demo's credentials), and the exporter discovers the rest exactly as it would in AWS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from aws_ops_demo.fleet import ACCOUNTS, DemoAccount

PROJECT_TAG = "project"


@dataclass(frozen=True, slots=True)
class DemoOrganization:
    management_account: str
    root: str
    ous: dict[str, str]  # project → OU id
    accounts: tuple[DemoAccount, ...]  # the demo accounts with the ids moto gave them


def create(endpoint: str, accounts: Sequence[DemoAccount] = ACCOUNTS) -> DemoOrganization:
    import boto3

    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    ous: dict[str, str] = {}
    mapped = []
    for account in accounts:
        if account.project not in ous:
            ous[account.project] = org.create_organizational_unit(
                ParentId=root, Name=account.project)["OrganizationalUnit"]["Id"]
        account_id = org.create_account(
            AccountName=account.name, Email=f"{account.name}@demo.example",
            Tags=[{"Key": PROJECT_TAG, "Value": account.project}])["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ous[account.project])
        mapped.append(dataclasses.replace(account, id=account_id))
    return DemoOrganization(management, root, ous, tuple(mapped))
