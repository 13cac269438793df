"""The cost signals (:mod:`exporter.signals`) → metric families, per account (so a part is built a chunk of
accounts at a time) and, in payer mode, the organization's forecast::

    aws_cost_spike_driver_usd{account="data-prod",account_id="310987654321",project="data",service="Amazon SageMaker",usage_type="USE1-Train:ml.p3.2xlarge",window="yesterday"} 265.1
    aws_cost_spike_driver_usd{...,window="baseline_mean"} 0
    aws_cost_record_type_usd{account="data-prod",account_id="310987654321",project="data",record_type="Credit",granularity="monthly"} -120
    aws_cost_anomaly_impact_usd{account="data-prod",account_id="310987654321",project="data",service="Amazon SageMaker",anomaly_id="a1b2"} 281.55
    aws_cost_forecast_month_usd{account="data-prod",account_id="310987654321",project="data"} 27890.4
    aws_cost_forecast_organization_month_usd 98012.7
    aws_exporter_cost_signal_up{signal="drivers",account="data-prod"} 1
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.exposition.labels import ACCOUNT_LABELS, account_labels
from exporter.model import MONTH_TO_DATE, AccountInfo, AccountResult, CostDetail, CostSignals

CACHED = "Cached: collected with the cost, see aws_exporter_collector_last_success_timestamp_seconds."


def signal_families(results: Iterable[AccountResult], accounts: Mapping[str, AccountInfo]) -> Iterator[Metric]:
    drivers = GaugeMetricFamily(
        "aws_cost_spike_driver_usd",
        "Why a cost spike moved: for each service whose yesterday (aws_cost_usd daily) is a spike against its daily "
        "baseline (collectors.cost.drivers.spike_ratio and spike_min_usd), the usage types that rose most (at most "
        "5), from one more Cost Explorer GetCostAndUsage grouped by USAGE_TYPE: window=yesterday is the usage type's "
        "cost yesterday, window=baseline_mean its mean daily cost over the baseline window (days without cost count "
        "as 0). " + CACHED,
        labels=ACCOUNT_LABELS + ["service", "usage_type", "window"])
    record_types = GaugeMetricFamily(
        "aws_cost_record_type_usd",
        "Cost by record type (Cost Explorer GetCostAndUsage MONTHLY grouped by RECORD_TYPE: Usage, Credit, Refund, "
        "Tax, support fees…; ResultsByTime[].Groups[].Metrics in collectors.cost.metric, as aws_cost_usd), all "
        "services together: granularity=monthly is the last complete month, month_to_date "
        "the 1st up to (not including) today (0 for each record type on the 1st). aws_cost_usd includes every "
        "record type; this is the same money split. " + CACHED,
        labels=ACCOUNT_LABELS + ["record_type", "granularity"])
    anomalies = GaugeMetricFamily(
        "aws_cost_anomaly_impact_usd",
        "Open cost anomalies from AWS Cost Anomaly Detection (GetAnomalies): Impact.TotalImpact, by the first root "
        "cause's service (\"\" when AWS names none); open = detected on one of the last two complete days and not "
        "dismissed by feedback. " + CACHED,
        labels=ACCOUNT_LABELS + ["service", "anomaly_id"])
    forecast = GaugeMetricFamily(
        "aws_cost_forecast_month_usd",
        "The month's likely total: the month to date's actual cost (as aws_cost_month_to_date_usd, every service) "
        "plus Cost Explorer GetCostForecast (Total, the mean) from today to the 1st of next month. " + CACHED,
        labels=ACCOUNT_LABELS)
    up = GaugeMetricFamily(
        "aws_exporter_cost_signal_up",
        "1 if the cost refresh's last request for the signal (drivers, record_types, anomalies, forecast) worked, 0 "
        "if it failed: the account's cost is still up; the signal's values of an earlier refresh of the same day "
        "are kept, older ones dropped.",
        labels=["signal", "account"])
    for result in results:
        account = accounts.get(result.account_id)
        detail = result.detail
        if account is None or result.last_success is None or not isinstance(detail, CostDetail) \
                or detail.signals is None:
            continue
        labels, signals = account_labels(account), detail.signals
        for spike in signals.drivers:
            for d in spike.drivers:
                drivers.add_metric(labels + [spike.service, d.usage_type, "yesterday"], float(d.yesterday))
                drivers.add_metric(labels + [spike.service, d.usage_type, "baseline_mean"], float(d.baseline_mean))
        for r in _record_types(signals, detail):
            record_types.add_metric(labels + [r[0], r[1]], float(r[2]))
        for a in signals.anomalies:
            anomalies.add_metric(labels + [a.service, a.anomaly_id], float(a.impact))
        if signals.forecast is not None:
            forecast.add_metric(labels, float(signals.forecast.month_total))
        for status in signals.status:
            up.add_metric([status.signal, account.name], 1.0 if status.ok else 0.0)
    yield from (drivers, record_types, anomalies, forecast, up)


def _record_types(signals: CostSignals, detail: CostDetail) -> Iterator[tuple[str, str, Decimal]]:
    """(record type, granularity, amount); on the 1st, 0 for the month to date of each record type last month had."""
    for r in signals.record_types:
        yield r.record_type, r.granularity, r.amount
    if detail.month_to_date.days == 0:
        for record_type in sorted({r.record_type for r in signals.record_types}):
            yield record_type, MONTH_TO_DATE, Decimal(0)


def organization_family(signals: CostSignals | None) -> Metric:
    """Payer mode's forecast for the whole organization (absent otherwise, and after a failed pass)."""
    family = GaugeMetricFamily(
        "aws_cost_forecast_organization_month_usd",
        "Payer mode: the organization's likely month total, every linked account (served or not): the month to "
        "date's actual cost plus Cost Explorer GetCostForecast (Total, unfiltered) from today to the 1st of next "
        "month. " + CACHED)
    if signals is not None and signals.forecast is not None:
        family.add_metric([], float(signals.forecast.month_total))
    return family
