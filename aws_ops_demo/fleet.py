"""The synthetic demo fleet: 3 projects, 6 accounts, real Cost Explorer service names, daily costs with a
weekly rhythm, a slow trend, a little noise and one clear spike on the last full day.

Everything is a pure function of (account, service, day), so any window the collector asks for is
consistent with any other (monthly totals are sums of the daily values).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aws_ops_demo.noise import noise

QUANTUM = Decimal("0.0000000001")  # Cost Explorer reports amounts with up to 10 decimals


@dataclass(frozen=True, slots=True)
class DemoAccount:
    id: str
    name: str
    project: str
    regions: tuple[str, ...]
    services: dict[str, float]  # service → typical weekday cost in USD


# Typical weekday USD per service; accounts scale these.
_WEB = {
    "Amazon Elastic Compute Cloud - Compute": 420.0, "EC2 - Other": 61.0, "Amazon Elastic Load Balancing": 38.0,
    "Amazon Relational Database Service": 210.0, "Amazon CloudFront": 96.0, "Amazon Simple Storage Service": 44.0,
    "AWS Lambda": 18.5, "Amazon DynamoDB": 27.0, "Amazon ElastiCache": 55.0, "Amazon Route 53": 3.2,
    "AmazonCloudWatch": 14.0, "Amazon Virtual Private Cloud": 22.0, "AWS Key Management Service": 2.1,
    "AWS Secrets Manager": 1.3, "Amazon Simple Queue Service": 4.4, "AWS WAF": 9.8, "Tax": 0.0,
}
_DATA = {
    "Amazon Elastic Compute Cloud - Compute": 260.0, "EC2 - Other": 48.0, "Amazon Simple Storage Service": 180.0,
    "Amazon Athena": 35.0, "AWS Glue": 72.0, "Amazon Redshift": 310.0, "Amazon SageMaker": 42.0,
    "Amazon Kinesis": 26.0, "Amazon EMR": 88.0, "AWS Lambda": 9.5, "AmazonCloudWatch": 11.0,
    "Amazon Virtual Private Cloud": 15.0, "AWS Key Management Service": 1.8, "Amazon Relational Database Service": 95.0,
    "AWS Step Functions": 3.6, "Amazon Simple Notification Service": 1.1, "Tax": 0.0,
}
_PLATFORM = {
    "Amazon Elastic Container Service for Kubernetes": 146.0, "Amazon Elastic Compute Cloud - Compute": 330.0,
    "EC2 - Other": 70.0, "Amazon Elastic Load Balancing": 29.0, "Amazon Virtual Private Cloud": 41.0,
    "Amazon Elastic Container Registry": 6.5, "AmazonCloudWatch": 24.0, "AWS CloudTrail": 7.7,
    "AWS Config": 12.0, "Amazon GuardDuty": 16.0, "AWS Security Hub": 5.2, "AWS Key Management Service": 3.0,
    "Amazon Route 53": 4.1, "Amazon Simple Storage Service": 31.0, "AWS Backup": 19.0,
    "AWS Systems Manager": 2.4, "Tax": 0.0,
}


def _scaled(services: dict[str, float], factor: float) -> dict[str, float]:
    return {name: round(cost * factor, 4) for name, cost in services.items()}


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("210987654321", "web-prod", "web", ("ap-northeast-2", "us-east-1"), _scaled(_WEB, 1.0)),
    DemoAccount("210987654322", "web-staging", "web", ("ap-northeast-2",), _scaled(_WEB, 0.22)),
    DemoAccount("310987654321", "data-prod", "data", ("us-east-1", "eu-west-1"), _scaled(_DATA, 1.0)),
    DemoAccount("310987654322", "data-dev", "data", ("us-east-1",), _scaled(_DATA, 0.18)),
    DemoAccount("410987654321", "platform-shared", "platform", ("ap-northeast-2", "us-east-1"), _scaled(_PLATFORM, 1.0)),
    DemoAccount("410987654322", "platform-sandbox", "platform", ("us-west-2",), _scaled(_PLATFORM, 0.12)),
)

# The spike: a SageMaker training job left running in data-prod, on the last full day before as-of.
SPIKE_ACCOUNT = "data-prod"
SPIKE_SERVICE = "Amazon SageMaker"
SPIKE_FACTOR = 7.5

PROJECT_BUDGETS_USD = {"web": Decimal("55000"), "data": Decimal("45000"), "platform": Decimal("30000")}

_WEEKLY = {0: 1.0, 1: 1.04, 2: 1.05, 3: 1.03, 4: 0.97, 5: 0.71, 6: 0.66}  # Monday … Sunday
_FLAT = {"Amazon Simple Storage Service", "Amazon Route 53", "AWS Key Management Service", "AWS Secrets Manager",
         "AWS CloudTrail", "AWS Config", "AWS Backup", "Amazon Elastic Container Registry", "Amazon Redshift"}


def daily_cost(account: DemoAccount, service: str, day: dt.date, spike_day: dt.date | None) -> Decimal:
    base = account.services[service]
    if service == "Tax":
        return Decimal(0)
    weekly = 1.0 if service in _FLAT else _WEEKLY[day.weekday()]
    trend = 1.0 + 0.0015 * (day - dt.date(2026, 1, 1)).days / 10
    jitter = 1.0 + 0.035 * noise(account.id, service, day.isoformat())
    value = base * weekly * trend * jitter
    if spike_day is not None and day == spike_day and account.name == SPIKE_ACCOUNT and service == SPIKE_SERVICE:
        value *= SPIKE_FACTOR
    return Decimal(repr(value)).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
