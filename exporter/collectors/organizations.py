"""AWS Organizations: the accounts of the organization, their tags and parent OU (all free API calls).

* ListAccounts (paginated) on every discovery: the list, and which accounts are ACTIVE. Newer answers
  carry ``State`` (ACTIVE, SUSPENDED, PENDING_ACTIVATION, PENDING_CLOSURE, CLOSED), older ones only
  ``Status`` (ACTIVE, SUSPENDED, PENDING_CLOSURE): ``State`` wins where given.
* ListTagsForResource and ListParents per account: only for an account seen for the first time or whose
  details are older than the refresh interval (the caller decides, :class:`OrganizationReader` fetches).
* ListOrganizationalUnitsForParent, recursively, only when ``include_ous`` is set: every OU nested under
  the ones named.

Fetchers page; parsers are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.answers import reads_answer
ACTIVE = "ACTIVE"
MAX_OU_DEPTH = 5  # AWS allows five levels of OUs under the root


@dataclass(frozen=True, slots=True)
class ListedAccount:
    """An account as ListAccounts gives it."""

    id: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class AccountDetails:
    """What ListTagsForResource and ListParents say about one account."""

    tags: Mapping[str, str]
    parent: str  # the parent OU or root id


def is_active(account: Mapping[str, Any]) -> bool:
    state = account.get("State")
    return (state if state else account.get("Status")) == ACTIVE


@reads_answer("ListAccounts")
def parse_accounts(pages: Iterable[Mapping[str, Any]]) -> tuple[ListedAccount, ...]:
    found: dict[str, ListedAccount] = {}
    for page in pages:
        for a in page["Accounts"]:  # a page without the list is not an empty organization
            found[a["Id"]] = ListedAccount(a["Id"], a.get("Name") or a["Id"], is_active(a))
    return tuple(found.values())


@reads_answer("ListTagsForResource")
def parse_tags(pages: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for page in pages for t in page["Tags"]}


@reads_answer("ListParents")
def parse_parent(response: Mapping[str, Any]) -> str:
    parents = response["Parents"]
    return parents[0]["Id"] if parents else ""


OPERATIONS = tuple(("organizations", o) for o in ("ListAccounts", "ListTagsForResource", "ListParents"))
INCLUDE_OUS_OPERATIONS = (("organizations", "ListOrganizationalUnitsForParent"),)  # only with include_ous


class OrganizationReader:
    """The Organizations calls discovery makes, through one client (the organization role's)."""

    def __init__(self, client: Any):
        self.client = client

    def accounts(self) -> tuple[ListedAccount, ...]:
        return parse_accounts(self.client.get_paginator("list_accounts").paginate())

    def details(self, account_id: str) -> AccountDetails:
        tags = parse_tags(self.client.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id))
        return AccountDetails(tags, parse_parent(self.client.list_parents(ChildId=account_id)))

    def ous_under(self, parents: Iterable[str]) -> frozenset[str]:
        """``parents`` and every OU nested under them (ListOrganizationalUnitsForParent, level by level)."""
        found, level = set(parents), list(parents)
        for _ in range(MAX_OU_DEPTH + 1):
            children = []
            for parent in level:
                for page in self.client.get_paginator("list_organizational_units_for_parent").paginate(
                        ParentId=parent):
                    children.extend(ou["Id"] for ou in page["OrganizationalUnits"] if ou["Id"] not in found)
            found.update(children)
            if not children:
                break
            level = children
        return frozenset(found)
