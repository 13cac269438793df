"""The organizational view of the demo's AWS Health stand-in: the ``...ForOrganization`` operations, over the
events of every member account, as AWS Health answers them to the organization's management account
(:class:`aws_ops_demo.health.HealthApi` checks the caller before any of them runs).

An ARN in several accounts' lists is one organization event whose affected accounts are those accounts, each
with its own copy (entities, description). A PUBLIC event is no account's in particular: AWS lists no affected
accounts for it (``eventScopeCode: PUBLIC`` and an empty ``affectedAccounts``), describes it only when asked
without an account id, and has no entities to count. As the service model documents:

* DescribeEntityAggregatesForOrganization lists ``accounts`` only for the ``awsAccountIds`` asked for; asked
  without them it leaves the list empty and ``count`` is the whole organization's;
* DescribeEventDetailsForOrganization puts a filter in ``failedSet`` when its event is public and an account id
  is given, account-specific and no account id (or one it does not affect) is given, or the account has no
  support plan for the Health API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Handler = Callable[[Mapping[str, Any]], dict[str, Any]]
PUBLIC = "PUBLIC"
NOT_FOUND = "UnsupportedEventException"
NO_PUBLIC_EVENT = ("We couldn't find a public event that matches your request. To find an event that is account "
                   "specific, you must enter an AWS account ID in the request.")
NO_ACCOUNT_EVENT = ("We couldn't find an account specific event for the specified AWS account. To find an event "
                    "that is public, you must enter a null value for the AWS account ID in the request.")
NO_PLAN = ("Your AWS account doesn't include the AWS Support plan required to use the AWS Health API. You must "
           "have either a Business, Enterprise On-Ramp, or Enterprise Support plan.")


def _items(body: Mapping[str, Any], key: str, most: int, error: Callable[[str, str], Exception],
           required: bool = True) -> list[Any]:
    """The list ``body[key]``, of 1 to ``most`` items as the service model says ([] when optional and absent)."""
    items = body.get(key)
    if items is None and not required:
        return []
    if not isinstance(items, list) or not 1 <= len(items) <= most:
        raise error("ValidationException", f"{key}: between 1 and {most} items")
    return items


def _latest(copies: Mapping[str, Any]) -> Any:
    """The organization event: the accounts' copies agree on its fields; the last updated one speaks for it."""
    return max(copies.values(), key=lambda e: e.last_updated)


class OrganizationOperations:
    """Mixed into :class:`~aws_ops_demo.health.HealthApi`, which supplies what these are built on: the member
    accounts' events, the per-account operations, paging (with its limit) and the error type (handed over,
    not imported: that module imports this one)."""

    events: Mapping[str, tuple[Any, ...]]
    subscription_required: frozenset[str]
    error: Callable[[str, str], Exception]
    page: Callable[..., tuple[list[Any], str | None]]
    describe_events: Callable[[Sequence[Any], Mapping[str, Any]], dict[str, Any]]
    describe_entity_aggregates: Callable[[Sequence[Any], Mapping[str, Any]], dict[str, Any]]
    describe_event_details: Callable[[Sequence[Any], Mapping[str, Any]], dict[str, Any]]

    def organization_operations(self) -> dict[str, Handler]:
        return {"DescribeEventsForOrganization": self.describe_events_for_organization,
                "DescribeAffectedAccountsForOrganization": self.describe_affected_accounts_for_organization,
                "DescribeEntityAggregatesForOrganization": self.describe_entity_aggregates_for_organization,
                "DescribeEventDetailsForOrganization": self.describe_event_details_for_organization}

    def _by_arn(self) -> dict[str, dict[str, Any]]:
        """Event ARN → {member account id: that account's copy of the event}."""
        by_arn: dict[str, dict[str, Any]] = {}
        for account_id, events in self.events.items():
            for event in events:
                by_arn.setdefault(event.arn, {})[account_id] = event
        return by_arn

    def describe_events_for_organization(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """DescribeEvents over the organization's events: the same filters, each time range given once
        (``endTime``, not ``endTimes``), and ``awsAccountIds`` keeping the events that affect those accounts."""
        event_filter = dict(body.get("filter") or {})
        accounts = set(_items(event_filter, "awsAccountIds", 50, self.error, required=False))
        event_filter.pop("awsAccountIds", None)
        for key in ("startTime", "endTime", "lastUpdatedTime"):
            if key in event_filter:
                event_filter[f"{key}s"] = [event_filter.pop(key)]
        chosen = [copies for copies in self._by_arn().values()
                  if not accounts or (_latest(copies).scope != PUBLIC and accounts & copies.keys())]
        return self.describe_events([_latest(copies) for copies in chosen], {**body, "filter": event_filter})

    def describe_affected_accounts_for_organization(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = body.get("eventArn")
        if not arn:
            raise self.error("ValidationException", "eventArn is required")
        copies = self._by_arn().get(arn)
        if not copies:
            return {"affectedAccounts": [], "eventScopeCode": "NONE"}
        scope = _latest(copies).scope
        chunk, token = self.page([] if scope == PUBLIC else list(copies), body, min_size=10)
        return {"affectedAccounts": chunk, "eventScopeCode": scope, **({"nextToken": token} if token else {})}

    def describe_entity_aggregates_for_organization(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arns = _items(body, "eventArns", 25, self.error)
        asked = _items(body, "awsAccountIds", 25, self.error, required=False)
        by_arn = self._by_arn()
        aggregates = []
        for arn in arns:
            if arn not in by_arn:
                continue
            copies = {} if _latest(by_arn[arn]).scope == PUBLIC else by_arn[arn]
            counted = {account_id: self.describe_entity_aggregates([event], {"eventArns": [arn]})["entityAggregates"][0]
                       for account_id, event in copies.items() if not asked or account_id in asked}
            statuses: Counter[str] = Counter()
            for aggregate in counted.values():
                statuses.update(aggregate["statuses"])
            aggregates.append({
                "eventArn": arn, "count": sum(a["count"] for a in counted.values()), "statuses": dict(statuses),
                "accounts": [{"accountId": account_id, "count": a["count"], "statuses": a["statuses"]}
                             for account_id, a in counted.items()] if asked else []})
        return {"organizationEntityAggregates": aggregates}

    def describe_event_details_for_organization(self, body: Mapping[str, Any]) -> dict[str, Any]:
        filters = _items(body, "organizationEventDetailFilters", 10, self.error)
        by_arn = self._by_arn()
        successful, failed = [], []
        for detail_filter in filters:
            arn, account_id = detail_filter.get("eventArn"), detail_filter.get("awsAccountId")
            copies = by_arn.get(arn, {})
            public = bool(copies) and _latest(copies).scope == PUBLIC
            if account_id is None:  # a public event is asked for without an account id, any other with one
                event = _latest(copies) if public else None
            else:
                event = None if public else copies.get(account_id)
            account = {"awsAccountId": account_id} if account_id is not None else {}
            if event is None:
                failed.append({**account, "eventArn": arn, "errorName": NOT_FOUND,
                               "errorMessage": NO_PUBLIC_EVENT if account_id is None else NO_ACCOUNT_EVENT})
            elif account_id in self.subscription_required:
                failed.append({**account, "eventArn": arn, "errorName": "SubscriptionRequiredException",
                               "errorMessage": NO_PLAN})
            else:
                (details,) = self.describe_event_details([event], {"eventArns": [arn]})["successfulSet"]
                successful.append({**account, **details})
        return {"successfulSet": successful, "failedSet": failed}
