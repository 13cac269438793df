"""The demo fleet's costs as the interpreting Cost Explorer stand-in (:mod:`aws_ops_demo.cost_explorer`) reads
them, in 1e-10 USD: what each account's own Cost Explorer (``--demo``) or the payer account (``--demo
--organization``) answers, grouped and filtered as asked, for any window, on any day the demo is served.

The spike (:data:`~aws_ops_demo.fleet.SPIKE_SERVICE` in :data:`~aws_ops_demo.fleet.SPIKE_ACCOUNT`, the day before
the demo started) is one usage type, a training job left running (:data:`SPIKE_USAGE_TYPE`): its drivers name it.
Cost Anomaly Detection saw it too (:meth:`FleetCosts.anomalies`: open while it is among the last two days).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from aws_ops_demo.cost_data import Splits, shares
from aws_ops_demo.fleet import SPIKE_ACCOUNT, SPIKE_SERVICE, DemoAccount, daily_cost

SPIKE_USAGE_TYPE = "USE1-Train:ml.p3.2xlarge"
# The usage types of a few services, as Cost Explorer names them (weights of a normal day); others get the
# stand-in's generic ones.
USAGE_TYPES: dict[str, dict[str, int]] = {
    "Amazon SageMaker": {"USE1-Host:ml.m5.xlarge": 5, "USE1-Notebk:ml.t3.medium": 3, "USE1-TimedStorage-ByteHrs": 2},
    "Amazon Elastic Compute Cloud - Compute": {"APN2-BoxUsage:m6i.large": 6, "APN2-BoxUsage:c6i.xlarge": 3,
                                               "APN2-SpotUsage:m6i.large": 1},
    "Amazon Relational Database Service": {"APN2-InstanceUsage:db.r6g.large": 7, "APN2-RDS:GP3-Storage": 3},
    "Amazon Simple Storage Service": {"APN2-TimedStorage-ByteHrs": 7, "APN2-Requests-Tier1": 2,
                                      "APN2-DataTransfer-Out-Bytes": 1},
}


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def _scaled(value: Decimal) -> int:
    return int(value.scaleb(10))


class FleetCosts(Splits):
    def __init__(self, accounts: Sequence[DemoAccount], spike_day: dt.date):
        self._by_id = {a.id: a for a in accounts}
        self.accounts = [a.id for a in accounts]
        self.services = sorted({s for a in accounts for s in a.services})
        self.spike_day = spike_day

    def total(self, metric: str, account_id: str, service: str, start: dt.date, end: dt.date) -> int | None:
        account = self._by_id.get(account_id)
        if account is None or service not in account.services:
            return None
        return _scaled(sum((daily_cost(account, service, d, self.spike_day) for d in _days(start, end)), Decimal(0)))

    def _spiked(self, account_id: str, service: str, day: dt.date) -> bool:
        account = self._by_id.get(account_id)
        return account is not None and account.name == SPIKE_ACCOUNT and service == SPIKE_SERVICE \
            and day == self.spike_day

    def usage(self, metric: str, account_id: str, service: str, day: dt.date, amount: int) -> dict[str, int]:
        normal = amount
        if self._spiked(account_id, service, day):
            normal = _scaled(daily_cost(self._by_id[account_id], service, day, None))
        weights = USAGE_TYPES.get(service)
        parts = dict(zip(weights, shares(normal, list(weights.values())))) if weights else \
            super().usage(metric, account_id, service, day, normal)
        if normal != amount:
            parts[SPIKE_USAGE_TYPE] = amount - normal
        return parts

    def anomalies(self, today: dt.date) -> list[dict[str, Any]]:
        """What Cost Anomaly Detection reports about the spike (GetAnomalies' objects), as of ``today``."""
        account = next(a for a in self._by_id.values() if a.name == SPIKE_ACCOUNT)
        spiked = _scaled(daily_cost(account, SPIKE_SERVICE, self.spike_day, self.spike_day))
        expected = _scaled(daily_cost(account, SPIKE_SERVICE, self.spike_day, None))
        if today <= self.spike_day:
            return []
        impact = float(Decimal(spiked - expected).scaleb(-10).quantize(Decimal("0.01")))
        return [{
            "AnomalyId": "demo-sagemaker-training", "AnomalyStartDate": self.spike_day.isoformat(),
            "AnomalyEndDate": self.spike_day.isoformat(), "DimensionValue": SPIKE_SERVICE,
            "MonitorArn": f"arn:aws:ce::{account.id}:anomalymonitor/demo-services",
            "AnomalyScore": {"MaxScore": 0.93, "CurrentScore": 0.93},
            "RootCauses": [{"Service": SPIKE_SERVICE, "Region": "us-east-1", "LinkedAccount": account.id,
                            "LinkedAccountName": account.name, "UsageType": SPIKE_USAGE_TYPE}],
            "Impact": {"MaxImpact": impact, "TotalImpact": impact,
                       "TotalActualSpend": float(Decimal(spiked).scaleb(-10).quantize(Decimal("0.01"))),
                       "TotalExpectedSpend": float(Decimal(expected).scaleb(-10).quantize(Decimal("0.01")))},
        }]
