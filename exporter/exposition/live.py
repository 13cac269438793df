"""The exporter's process-wide counters (:mod:`exporter.telemetry`) as families, read on every scrape: the
requests and throttles of every operation the exporter may call from 0, and the main credentials' state."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.telemetry import ApiStats, is_throttle


class TelemetryCollector:
    """A prometheus_client collector over :class:`ApiStats` (``describe`` is empty: registering reads nothing)."""

    def __init__(self, stats: ApiStats):
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        view = self.stats.view()
        req = CounterMetricFamily("aws_exporter_api_requests",
                                  "AWS API requests the exporter sent (every HTTP attempt, retries included).",
                                  labels=["service", "operation"])
        for (service, operation), n in sorted(view.requests.items()):
            req.add_metric([service, operation], n)
        err = CounterMetricFamily("aws_exporter_api_errors",
                                  "AWS API requests that failed, by error code (throttling included).",
                                  labels=["service", "operation", "error"])
        thr = CounterMetricFamily("aws_exporter_api_throttles",
                                  "AWS API requests AWS throttled (a subset of aws_exporter_api_errors_total).",
                                  labels=["service", "operation"])
        throttles = dict.fromkeys(view.requests, 0)  # every operation called or declared, from 0
        for (service, operation, code), n in sorted(view.errors.items()):
            err.add_metric([service, operation, code], n)
            if is_throttle(code):
                throttles[(service, operation)] = throttles.get((service, operation), 0) + n
        for key, n in sorted(throttles.items()):
            thr.add_metric(list(key), n)
        ce = CounterMetricFamily("aws_exporter_cost_explorer_spend_usd",
                                 "What the exporter's Cost Explorer requests cost: USD 0.01 per successful request.")
        ce.add_metric([], float(view.cost_explorer_spend_usd))
        spend = CounterMetricFamily("aws_exporter_api_spend_usd",
                                    "What the exporter's billable AWS API use cost, by service (Cost Explorer "
                                    "per request, CloudWatch GetMetricData per metric requested).",
                                    labels=["service"])
        spend.add_metric(["ce"], float(view.cost_explorer_spend_usd))
        if view.cloudwatch_spend_usd:
            spend.add_metric(["cloudwatch"], float(view.cloudwatch_spend_usd))
        requested = CounterMetricFamily(
            "aws_exporter_cloudwatch_metrics_requested",
            "CloudWatch metrics the exporter requested with GetMetricData (MetricDataQueries sent), which is how "
            "AWS bills it: USD 0.01 per 1,000.", labels=["account"])
        for name, n in sorted(view.cloudwatch_metrics_requested.items()):
            requested.add_metric([name], n)
        reached = GaugeMetricFamily("aws_exporter_spend_limit_reached",
                                    "1 while aws.spend_limits stops the exporter's requests to this service "
                                    "until the UTC day rolls over (the last values are served), else 0.",
                                    labels=["service"])
        for service, on in sorted((view.spend_limit_reached or {"ce": False, "cloudwatch": False}).items()):
            reached.add_metric([service], 1 if on else 0)
        yield from (req, err, thr, ce, spend, requested, reached)
        if view.main_credentials_up is not None:
            up = GaugeMetricFamily(
                "aws_exporter_main_credentials_up",
                "1 if the main account's credentials worked at the last sts:GetCallerIdentity check (at start, then "
                "retried with a back-off while they fail; nothing is collected until they work), 0 if not.")
            up.add_metric([], 1.0 if view.main_credentials_up else 0.0)
            yield up
