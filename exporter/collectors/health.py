"""AWS Health: open, upcoming and recently closed events, per account or for the whole organization.

Requests per account per refresh (through the active Health endpoint, or the passive one when the
active one errors and ``failover_region`` is set):

* DescribeEvents (paginator, maxResults 100) twice: status ``open``/``upcoming``, and status ``closed``
  with an end time inside ``closed_window`` (the API cannot OR the two filters);
* DescribeEntityAggregates for the open/upcoming account-specific events, 50 event ARNs per request;
* DescribeEventDetails for the open/upcoming events whose description is not known yet, 10 event ARNs per
  request (the API's limit). A description is known when the previous refresh fetched it for the same
  event and the same ``lastUpdatedTime`` (AWS bumps it with every update), so once the events are
  described a quiet refresh asks for none: the first refresh of 23 open events makes 3 requests, the
  next ones only ask again for the events that changed. ``failedSet`` entries leave that event without
  a description (logged, the account stays up); AccessDenied on DescribeEventDetails (a role that lacks
  ``health:DescribeEventDetails``) leaves every event without one, logged, and the events still count.

``latestDescription`` becomes ``HealthEvent.description``, cut to :data:`DESCRIPTION_MAX_CHARS`. It is
kept for the ``/snapshot`` JSON (the reporter fences it as data in its LLM prompt) and never becomes a
metric label.

Organization mode (``collectors.health.organization: true``) replaces that with one set of calls from
the main account: DescribeEventsForOrganization twice, DescribeAffectedAccountsForOrganization per
account-specific event, DescribeEntityAggregatesForOrganization 25 events × 25 affected accounts per request,
DescribeEventDetailsForOrganization 10 filters per request (one filter per public event, without an
account id as the API requires; one per configured affected account for an account-specific event),
with the same reuse of known descriptions; events are mapped back to the configured accounts (public
events belong to every account).

An account without a Business/Enterprise support plan answers SubscriptionRequiredException: it is
logged once, shown as ``aws_exporter_collector_up{collector="health"} 0`` and
``aws_health_subscription_required 1``, and not asked again for ``subscription_backoff``.

Records and details are :mod:`exporter.model` types; ``exporter.exposition.health`` turns them into metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
from botocore.exceptions import ClientError

from exporter.answers import reads_answer
from exporter.aws import error_code, error_message, is_credential_error
from exporter.collectors.base import Collected, Failed, Outcome
from exporter.config import Account, HealthSettings
from exporter.model import ACTIVE_HEALTH_STATUSES as ACTIVE_STATUSES
from exporter.model import AccountResult, HealthDetail, HealthEvent, utcnow

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
T = TypeVar("T")

PAGE_SIZE = 100  # DescribeEvents maxResults upper bound
ENTITY_AGGREGATE_BATCH = 50  # DescribeEntityAggregates eventArns max
ORG_ENTITY_AGGREGATE_BATCH = 25  # DescribeEntityAggregatesForOrganization eventArns max
EVENT_DETAILS_BATCH = 10  # DescribeEventDetails eventArns max, and ...ForOrganization filters max
DESCRIPTION_MAX_CHARS = 2000
SUBSCRIPTION_REQUIRED = "SubscriptionRequiredException"
OPERATIONS = tuple(("health", o) for o in ("DescribeEvents", "DescribeEntityAggregates", "DescribeEventDetails"))
ORGANIZATION_OPERATIONS = tuple(("health", o) for o in (
    "DescribeEventsForOrganization", "DescribeAffectedAccountsForOrganization",
    "DescribeEntityAggregatesForOrganization", "DescribeEventDetailsForOrganization"))
# Errors the passive endpoint would answer just the same: failing over only doubles the requests.
NO_FAILOVER = frozenset({
    SUBSCRIPTION_REQUIRED, "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredTokenException", "ValidationException", "InvalidPaginationToken",
    "UnsupportedLocale", "AWSOrganizationsNotInUseException",
})


# ------------------------------------------------------------------------------------------ parsing


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


@reads_answer("DescribeEvents")
def parse_events(pages: Iterable[Mapping[str, Any]]) -> tuple[HealthEvent, ...]:
    """Records from DescribeEvents / DescribeEventsForOrganization pages (the two share these fields)."""
    events: dict[str, HealthEvent] = {}
    for page in pages:
        for e in page.get("events", ()):
            events[e["arn"]] = HealthEvent(
                arn=e["arn"],
                service=e.get("service", ""),
                event_type_code=e.get("eventTypeCode", ""),
                category=e.get("eventTypeCategory", ""),
                region=e.get("region") or "global",
                status=e.get("statusCode", ""),
                scope=e.get("eventScopeCode", ""),
                start=_utc(e.get("startTime")),
                end=_utc(e.get("endTime")),
                last_updated=_utc(e.get("lastUpdatedTime")),
            )
    return tuple(events.values())


@reads_answer("DescribeEntityAggregates")
def parse_entity_aggregates(response: Mapping[str, Any]) -> dict[str, int]:
    """DescribeEntityAggregates → event ARN → number of affected entities."""
    return {a["eventArn"]: int(a.get("count", 0)) for a in response.get("entityAggregates", ())}


@reads_answer("DescribeEntityAggregatesForOrganization")
def parse_org_entity_aggregates(response: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """DescribeEntityAggregatesForOrganization → (event ARN, account id) → affected entities."""
    counts: dict[tuple[str, str], int] = {}
    for aggregate in response.get("organizationEntityAggregates", ()):
        for account in aggregate.get("accounts", ()):
            counts[(aggregate["eventArn"], account["accountId"])] = int(account.get("count", 0))
    return counts


# (event ARN, account id): the account id only for an account-specific event in organization mode.
DescriptionKey = tuple[str, str | None]


def bounded_description(text: str | None) -> str | None:
    """The description as stored: stripped, empty as None, at most DESCRIPTION_MAX_CHARS characters."""
    text = (text or "").strip()
    if not text:
        return None
    return text if len(text) <= DESCRIPTION_MAX_CHARS else text[:DESCRIPTION_MAX_CHARS - 1].rstrip() + "…"


@reads_answer("DescribeEventDetails")
def parse_event_details(response: Mapping[str, Any],
                        ) -> tuple[dict[DescriptionKey, str], tuple[tuple[DescriptionKey, str], ...]]:
    """DescribeEventDetails / DescribeEventDetailsForOrganization → descriptions by (ARN, awsAccountId), and
    the failedSet as ((ARN, awsAccountId), errorName) pairs."""
    descriptions: dict[DescriptionKey, str] = {}
    for item in response.get("successfulSet", ()):
        arn = (item.get("event") or {}).get("arn")
        text = bounded_description((item.get("eventDescription") or {}).get("latestDescription"))
        if arn and text:
            descriptions[(arn, item.get("awsAccountId"))] = text
    failed = tuple(((f.get("eventArn", ""), f.get("awsAccountId")), f.get("errorName", ""))
                   for f in response.get("failedSet", ()))
    return descriptions, failed


@reads_answer("DescribeAffectedAccountsForOrganization")
def parse_affected_accounts(pages: Iterable[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """DescribeAffectedAccountsForOrganization pages → (eventScopeCode, affected account ids)."""
    scope, accounts = "", []
    for page in pages:
        scope = page.get("eventScopeCode", scope)
        accounts.extend(page.get("affectedAccounts", ()))
    return scope, tuple(dict.fromkeys(accounts))


# ----------------------------------------------------------------------------------------- fetching


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def event_filters(now: dt.datetime, closed_window_seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two DescribeEvents filters: open/upcoming, and closed within the window."""
    since = now - dt.timedelta(seconds=closed_window_seconds)
    return ({"eventStatusCodes": list(ACTIVE_STATUSES)},
            {"eventStatusCodes": ["closed"], "endTimes": [{"from": since}]})


# Descriptions already fetched, by (key, lastUpdatedTime): reused while AWS has not updated the event.
KnownDescriptions = Mapping[tuple[DescriptionKey, dt.datetime], str]
DETAILS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})


def known_descriptions(records_by_account: Mapping[str | None, Iterable[Any]],
                       ) -> dict[tuple[DescriptionKey, dt.datetime], str]:
    """From the previous refresh's records (``None``: account mode, where keys carry no account id)."""
    known: dict[tuple[DescriptionKey, dt.datetime], str] = {}
    for account_id, records in records_by_account.items():
        for e in records:
            if isinstance(e, HealthEvent) and e.description and e.last_updated is not None:
                key = (e.arn, None if account_id is None or e.scope == "PUBLIC" else account_id)
                known[(key, e.last_updated)] = e.description
    return known


def describe(wanted: Sequence[tuple[DescriptionKey, dt.datetime | None]], known: KnownDescriptions,
             request: Callable[[list[DescriptionKey]], Mapping[str, Any]], who: str) -> dict[DescriptionKey, str]:
    """Descriptions for ``wanted`` (key, lastUpdatedTime): the known ones reused, the rest requested in
    batches of EVENT_DETAILS_BATCH through ``request``."""
    found = {key: known[(key, updated)] for key, updated in wanted if updated is not None and (key, updated) in known}
    missing = list(dict.fromkeys(key for key, _ in wanted if key not in found))
    failed: list[tuple[DescriptionKey, str]] = []
    for batch in _batches(missing, EVENT_DETAILS_BATCH):
        try:
            descriptions, not_found = parse_event_details(request(list(batch)))
        except ClientError as exc:
            if error_code(exc) not in DETAILS_DENIED:
                raise
            log.warning("event=health_event_details_denied account=%s reason=%r", who, error_message(exc))
            break
        # A response without awsAccountId still describes the event asked for.
        found.update({key: text for key in batch
                      if (text := descriptions.get(key) or descriptions.get((key[0], None))) is not None})
        failed.extend(not_found)
    if failed:
        log.info("event=health_event_details_failed account=%s events=%d error=%s", who, len(failed), failed[0][1])
    return found


def fetch_account_events(client: Any, now: dt.datetime, settings: HealthSettings,
                         known: KnownDescriptions | None = None, who: str = "") -> tuple[HealthEvent, ...]:
    paginator = client.get_paginator("describe_events")
    pages = [page for event_filter in event_filters(now, settings.closed_window_seconds)
             for page in paginator.paginate(filter=event_filter, PaginationConfig={"PageSize": PAGE_SIZE})]
    events = parse_events(pages)
    wanted = [e.arn for e in events if e.active and e.scope != "PUBLIC"]
    counts: dict[str, int] = {}
    for batch in _batches(wanted, ENTITY_AGGREGATE_BATCH):
        counts.update(parse_entity_aggregates(client.describe_entity_aggregates(eventArns=list(batch))))
    descriptions = describe([((e.arn, None), e.last_updated) for e in events if e.active], known or {},
                            lambda batch: client.describe_event_details(eventArns=[arn for arn, _ in batch]), who)
    return tuple(msgspec.structs.replace(
        e, affected_entities=counts.get(e.arn, 0) if e.arn in wanted else e.affected_entities,
        description=descriptions.get((e.arn, None))) if e.active else e for e in events)


def _org_detail_filter(key: DescriptionKey) -> dict[str, str]:
    arn, account_id = key  # a public event must be asked for without an account id, others with one
    return {"eventArn": arn, **({"awsAccountId": account_id} if account_id else {})}


def fetch_organization_events(client: Any, now: dt.datetime, settings: HealthSettings,
                              account_ids: Sequence[str], known: KnownDescriptions | None = None,
                              ) -> dict[str, tuple[HealthEvent, ...]]:
    """Every configured account's events from the organizational view; public events go to every account."""
    active, closed = event_filters(now, settings.closed_window_seconds)
    closed = {"eventStatusCodes": closed["eventStatusCodes"], "endTime": closed["endTimes"][0]}
    paginator = client.get_paginator("describe_events_for_organization")
    pages = [page for event_filter in (active, closed)
             for page in paginator.paginate(filter=event_filter, PaginationConfig={"PageSize": PAGE_SIZE})]
    events = parse_events(pages)
    configured = set(account_ids)
    affected: dict[str, tuple[str, ...]] = {}
    public = {e.arn for e in events if e.scope == "PUBLIC"}
    accounts_paginator = client.get_paginator("describe_affected_accounts_for_organization")
    for event in events:
        if event.arn in public:
            affected[event.arn] = tuple(account_ids)
            continue
        scope, accounts = parse_affected_accounts(
            accounts_paginator.paginate(eventArn=event.arn, PaginationConfig={"PageSize": PAGE_SIZE}))
        if scope == "PUBLIC":
            public.add(event.arn)
        affected[event.arn] = tuple(a for a in accounts if a in configured) if scope != "PUBLIC" else tuple(account_ids)
    # `public` also holds events the affected-accounts call revealed as PUBLIC: they have no entities to count.
    wanted = [e.arn for e in events if e.active and e.arn not in public and affected[e.arn]]
    counted = set(wanted)
    counts: dict[tuple[str, str], int] = {}
    for batch in _batches(wanted, ORG_ENTITY_AGGREGATE_BATCH):
        # Without awsAccountIds the answer has no per-account counts: name the affected accounts, 25 at a time.
        accounts = sorted({a for arn in batch for a in affected[arn]})
        for account_batch in _batches(accounts, ORG_ENTITY_AGGREGATE_BATCH):
            counts.update(parse_org_entity_aggregates(client.describe_entity_aggregates_for_organization(
                eventArns=list(batch), awsAccountIds=list(account_batch))))
    def key(arn: str, account_id: str) -> DescriptionKey:
        return (arn, None if arn in public else account_id)

    descriptions = describe(
        list(dict.fromkeys((key(e.arn, a), e.last_updated) for e in events if e.active for a in affected[e.arn])),
        known or {}, lambda batch: client.describe_event_details_for_organization(
            organizationEventDetailFilters=[_org_detail_filter(k) for k in batch]), "*")
    per_account: dict[str, list[HealthEvent]] = {a: [] for a in account_ids}
    for event in events:
        for account_id in affected[event.arn]:
            count = counts.get((event.arn, account_id), 0) if event.arn in counted else None
            per_account[account_id].append(msgspec.structs.replace(event, affected_entities=count,
                                                   description=descriptions.get(key(event.arn, account_id))))
    return {a: tuple(events) for a, events in per_account.items()}


# ---------------------------------------------------------------------------------------- collector


def subscription_state(previous: AccountResult | None) -> HealthDetail:
    """The back-off the previous result carries (kept in its detail, so it survives without collector state)."""
    detail = previous.detail if previous is not None else None
    return detail if isinstance(detail, HealthDetail) else HealthDetail()


SUBSCRIPTION_AVAILABLE = HealthDetail(subscription_required=False)


class HealthCollector:
    name = "health"
    retry_interval_seconds = None  # its interval is short already; SubscriptionRequired has its own back-off

    def __init__(self, settings: HealthSettings, client_for: Callable[[Account | None, str], Any],
                 clock: Callable[[], dt.datetime] = utcnow):
        """``client_for(account, region)`` returns a Health client in that account (None: the main account)."""
        self.settings = settings
        self.interval_seconds = settings.interval_seconds
        self.fleet_wide = settings.organization  # one set of *ForOrganization calls for everyone
        self.operations = ORGANIZATION_OPERATIONS if settings.organization else OPERATIONS
        self.client_for = client_for
        self.clock = clock

    def _with_failover(self, account: Account | None, call: Callable[[Any], T]) -> T:
        """Run the whole collection against the active endpoint; on an error the passive one could avoid
        (not the credentials', nor one the API gives on purpose), run it again against the passive endpoint
        when ``failover_region`` is set."""
        regions = tuple(dict.fromkeys(r for r in (self.settings.region, self.settings.failover_region) if r))
        for i, region in enumerate(regions):
            try:
                return call(self.client_for(account, region))
            except Exception as exc:
                if i + 1 == len(regions) or error_code(exc) in NO_FAILOVER or is_credential_error(exc):
                    raise
                log.warning("event=health_failover account=%s from=%s to=%s error=%r",
                            account.name if account else "*", region, regions[i + 1], error_message(exc))
        raise AssertionError("unreachable")

    def _subscription_required(self, accounts: Sequence[Account], exc: ClientError,
                               markers: Mapping[str, HealthDetail], now: dt.datetime) -> dict[str, Outcome]:
        retry_after = now + dt.timedelta(seconds=self.settings.subscription_backoff_seconds)
        outcomes: dict[str, Outcome] = {}
        for account in accounts:
            if not markers[account.id].subscription_required:  # said once per account, not on every retry
                log.warning("event=health_subscription_required account=%s account_id=%s retry_after=%s "
                            "reason=%r", account.name, account.id, retry_after.isoformat(),
                            "AWS Health API needs a Business, Enterprise On-Ramp or Enterprise support plan")
            outcomes[account.id] = Failed(error_message(exc), exc,
                                          detail=HealthDetail(subscription_required=True,
                                                              subscription_retry_after=retry_after))
        return outcomes

    @staticmethod
    def _backing_off(marker: HealthDetail, now: dt.datetime) -> Failed | None:
        retry_after = marker.subscription_retry_after
        if marker.subscription_required and retry_after is not None and now < retry_after:
            return Failed(f"{SUBSCRIPTION_REQUIRED}: skipped until {retry_after.isoformat()}", detail=marker)
        return None

    def collect_account(self, account: Account, as_of: dt.date, previous: AccountResult | None) -> Outcome:
        now = self.clock()
        marker = subscription_state(previous)
        if (skipped := self._backing_off(marker, now)) is not None:
            return skipped
        try:
            known = known_descriptions({None: previous.records if previous is not None else ()})
            events = self._with_failover(account, lambda c: fetch_account_events(c, now, self.settings, known,
                                                                                 account.name))
        except ClientError as exc:
            if error_code(exc) != SUBSCRIPTION_REQUIRED:
                raise
            return self._subscription_required([account], exc, {account.id: marker}, now)[account.id]
        if marker.subscription_required:
            log.info("event=health_subscription_available account=%s account_id=%s", account.name, account.id)
        return Collected(records=events, detail=SUBSCRIPTION_AVAILABLE)

    def collect_fleet(self, accounts: Sequence[Account], as_of: dt.date,
                      previous: Mapping[str, AccountResult]) -> Mapping[str, Outcome] | None:
        if not self.settings.organization:
            return None
        now = self.clock()
        markers = {a.id: subscription_state(previous.get(a.id)) for a in accounts}
        skipped = {a.id: self._backing_off(markers[a.id], now) for a in accounts}
        if all(s is not None for s in skipped.values()):
            return skipped  # type: ignore[return-value]
        ids = [a.id for a in accounts]
        known = known_descriptions({a: r.records for a, r in previous.items()})
        try:
            per_account = self._with_failover(None, lambda c: fetch_organization_events(c, now, self.settings, ids,
                                                                                        known))
        except ClientError as exc:
            if error_code(exc) != SUBSCRIPTION_REQUIRED:
                raise
            return self._subscription_required(accounts, exc, markers, now)
        return {a: Collected(records=events, detail=SUBSCRIPTION_AVAILABLE) for a, events in per_account.items()}
