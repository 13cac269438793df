"""AWS Health events → metric families. Event text (descriptions) never becomes a label.

Exposition::

    aws_health_events{account="web-prod",account_id="210987654321",project="web",service="EC2",region="ap-northeast-2",category="issue",status="open"} 1
    aws_health_event_info{...,category="issue",status="open",event_type_code="AWS_EC2_OPERATIONAL_ISSUE",event_arn="arn:aws:health:ap-northeast-2::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_1"} 1
    aws_health_event_start_timestamp_seconds{<same labels as aws_health_event_info>} 1.7646e+09
    aws_health_event_end_timestamp_seconds{<same labels as aws_health_event_info>} 1.7647e+09
    aws_health_affected_entities{account="web-prod",account_id="210987654321",project="web",event_arn="arn:aws:health:..."} 3
    aws_health_subscription_required{account="platform-sandbox"} 1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.exposition.labels import ACCOUNT_LABELS, account_labels
from exporter.model import AccountInfo, AccountResult, HealthDetail, HealthEvent

EVENT_LABELS = ACCOUNT_LABELS + ["service", "region", "category", "status"]
EVENT_INFO_LABELS = EVENT_LABELS + ["event_type_code", "event_arn"]


def health_families(results: Iterable[AccountResult], accounts: Mapping[str, AccountInfo]) -> Iterator[Metric]:
    counts = GaugeMetricFamily(
        "aws_health_events",
        "Number of AWS Health events (DescribeEvents, or DescribeEventsForOrganization in organization mode) "
        "by service, region (\"global\" where the event has none), eventTypeCategory and statusCode: open and "
        "upcoming events, and events closed within collectors.health.closed_window. Cached.",
        labels=EVENT_LABELS)
    info = GaugeMetricFamily(
        "aws_health_event_info",
        "1 for each open or upcoming AWS Health event (DescribeEvents events[]: arn, eventTypeCode, service, "
        "region, eventTypeCategory, statusCode). Closed events are only counted in aws_health_events. Cached.",
        labels=EVENT_INFO_LABELS)
    start = GaugeMetricFamily(
        "aws_health_event_start_timestamp_seconds",
        "Start of an open or upcoming AWS Health event (DescribeEvents events[].startTime, Unix time); for a "
        "scheduled change, when it will happen.", labels=EVENT_INFO_LABELS)
    end = GaugeMetricFamily(
        "aws_health_event_end_timestamp_seconds",
        "End of an open or upcoming AWS Health event (DescribeEvents events[].endTime, Unix time), where AWS "
        "gives one.", labels=EVENT_INFO_LABELS)
    entities = GaugeMetricFamily(
        "aws_health_affected_entities",
        "Resources of the account an open or upcoming account-specific AWS Health event affects "
        "(DescribeEntityAggregates entityAggregates[].count, or DescribeEntityAggregatesForOrganization "
        "accounts[].count). Cached.", labels=ACCOUNT_LABELS + ["event_arn"])
    subscription = GaugeMetricFamily(
        "aws_health_subscription_required",
        "1 when AWS Health answered SubscriptionRequiredException for the account (no Business/Enterprise "
        "support plan): the account is asked again only after collectors.health.subscription_backoff.",
        labels=["account"])
    for result in results:
        account = accounts.get(result.account_id)
        if account is None:
            continue
        if result.last_attempt is not None:
            required = isinstance(result.detail, HealthDetail) and result.detail.subscription_required
            subscription.add_metric([account.name], 1.0 if required else 0.0)
        if result.last_success is None:
            continue
        labels = account_labels(account)
        events = [e for e in result.records if isinstance(e, HealthEvent)]
        tally = Counter((e.service, e.region, e.category, e.status) for e in events)
        for key, n in sorted(tally.items()):
            counts.add_metric(labels + list(key), float(n))
        for e in sorted(events, key=lambda e: e.arn):
            if not e.active:
                continue
            event_labels = labels + [e.service, e.region, e.category, e.status, e.event_type_code, e.arn]
            info.add_metric(event_labels, 1.0)
            if e.start is not None:
                start.add_metric(event_labels, e.start.timestamp())
            if e.end is not None:
                end.add_metric(event_labels, e.end.timestamp())
            if e.affected_entities is not None:
                entities.add_metric(labels + [e.arn], float(e.affected_entities))
    yield from (counts, info, start, end, entities, subscription)
