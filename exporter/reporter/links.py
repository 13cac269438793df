"""Where to look next, per fact: its Grafana panel (``reporter.grafana_url``, optional) and its AWS console page
(Cost Explorer filtered to the account and service, in the cost metric the exporter collects, and for a spike's
driver to its usage type too; the Health event; Cost Anomaly Detection).

The dashboards are the ones in ``grafana/dashboards/`` (uids and panel ids below); their ``account``,
``project`` and ``service`` variables take names, as the exporter's labels do. Only the reporter builds these
links: the model's text may hold none (:mod:`exporter.reporter.claims`).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping

from exporter.reporter.factlist import Fact

CONSOLE = "https://us-east-1.console.aws.amazon.com/costmanagement/home#/cost-explorer"
HEALTH_EVENT = "https://health.aws.amazon.com/health/home#/account/event-log"
# An anomaly's own page is .../anomaly-detection/monitors/<monitor id>/anomalies/<anomaly id> (the form of the
# anomalyDetailsLink AWS sends in its SNS alerts), but it needs the monitor id (GetAnomalies' MonitorArn), which the
# snapshot does not carry, and the console offers no filter by anomaly id: so the monitors overview, where the
# anomaly (its id is in the line) is listed under its monitor.
ANOMALY_DETECTION = "https://us-east-1.console.aws.amazon.com/cost-management/home#/anomaly-detection/monitors"
# Cost Explorer's console names for the API's metrics.
CONSOLE_AGGREGATES = {"AmortizedCost": "amortizedCost", "UnblendedCost": "unBlendedCost",
                      "BlendedCost": "blendedCost", "NetAmortizedCost": "netAmortizedCost",
                      "NetUnblendedCost": "netUnblendedCost"}
# (dashboard uid, panel id, the entity fields passed as variables), per fact kind.
PANELS: Mapping[str, tuple[str, int, tuple[str, ...]]] = {
    "spike": ("aws-ops-cost", 18, ("account", "service")),
    "driver": ("aws-ops-cost", 27, ("account", "service")),  # Spike drivers
    "anomaly": ("aws-ops-cost", 28, ("account", "service")),  # Open cost anomalies
    "mover_week_over_week": ("aws-ops-cost", 10, ("account", "service")),
    "mover_month_over_month": ("aws-ops-cost", 15, ("account", "service")),
    "budget": ("aws-ops-cost", 20, ("project", "account")),
    "forecast": ("aws-ops-cost", 30, ("project", "account")),  # Forecast month end vs budget
    "health_open": ("aws-ops-health", 6, ("account",)),
    "health_upcoming": ("aws-ops-health", 6, ("account",)),
    "context_health": ("aws-ops-health", 6, ("account",)),  # an open event next to a spike or mover
    "collector_failing": ("aws-ops-exporter", 6, ("collector", "account")),
    "exporter_failing": ("aws-ops-exporter", 2, ()),
    "exporter_stale": ("aws-ops-exporter", 2, ()),
    "total": ("aws-ops-cost", 9, ("project", "account")),
    "top_service": ("aws-ops-cost", 14, ("service",)),
}
GRAFANA_DAYS = 14


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def grafana(fact: Fact, base: str, day: dt.date) -> str | None:
    panel = PANELS.get(fact.kind)
    if panel is None:
        return None
    uid, panel_id, variables = panel
    query = [("viewPanel", str(panel_id)), ("from", str(_ms(day - dt.timedelta(days=GRAFANA_DAYS - 1)))),
             ("to", str(_ms(day + dt.timedelta(days=1))))]
    query += [(f"var-{name}", fact.entity[name]) for name in variables if fact.entity.get(name)]
    return f"{base.rstrip('/')}/d/{uid}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"


def cost_explorer(account_ids: list[str], service: str | None, start: dt.date, end: dt.date, metric: str,
                  usage_type: str | None = None) -> str:
    """Cost Explorer, daily, from ``start`` to ``end`` (both included), filtered to the accounts, service and usage
    type (the console's "Usage type" filter, dimension ``UsageType``, as in its group-by)."""
    filters = []
    if account_ids:
        filters.append({"dimension": {"id": "LinkedAccount", "displayValue": "Linked account"},
                        "operator": "INCLUDES", "values": [{"value": a, "displayValue": a} for a in account_ids]})
    if service:
        filters.append({"dimension": {"id": "Service", "displayValue": "Service"}, "operator": "INCLUDES",
                        "values": [{"value": service, "displayValue": service}]})
    if usage_type:
        filters.append({"dimension": {"id": "UsageType", "displayValue": "Usage type"}, "operator": "INCLUDES",
                        "values": [{"value": usage_type, "displayValue": usage_type}]})
    group = "UsageType" if service else "Service"
    query = [("chartStyle", "STACK"), ("costAggregate", CONSOLE_AGGREGATES.get(metric, "unBlendedCost")),
             ("endDate", end.isoformat()), ("excludeForecasting", "false"),
             ("filter", json.dumps(filters, separators=(",", ":"))), ("granularity", "Daily"),
             ("groupBy", json.dumps([group])), ("startDate", start.isoformat())]
    return f"{CONSOLE}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe=':,')}"


def health_event(arn: str) -> str:
    return f"{HEALTH_EVENT}?{urllib.parse.urlencode({'eventID': arn, 'eventTab': 'details'}, quote_via=urllib.parse.quote)}"


def console(fact: Fact, day: dt.date, metric: str) -> tuple[str, str] | None:
    """(label, URL) of the AWS console page for a fact, if it has one."""
    if (fact.kind.startswith("health_") or fact.kind == "context_health") and fact.extra.get("arn"):
        return "AWS Health", health_event(fact.extra["arn"])
    if fact.kind == "anomaly":
        return "Cost Anomaly Detection", ANOMALY_DETECTION
    account_id = fact.entity.get("account_id")
    if fact.kind in ("spike", "driver", "mover_week_over_week") and account_id:
        return "Cost Explorer", cost_explorer([account_id], fact.entity.get("service"),
                                              day - dt.timedelta(days=GRAFANA_DAYS - 1), day, metric,
                                              fact.entity.get("usage_type") if fact.kind == "driver" else None)
    if fact.kind == "mover_month_over_month" and account_id:
        start = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        return "Cost Explorer", cost_explorer([account_id], fact.entity.get("service"), start, day, metric)
    if fact.kind == "budget" and fact.extra.get("account_ids"):
        return "Cost Explorer", cost_explorer(list(fact.extra["account_ids"]), None, day.replace(day=1), day, metric)
    if fact.kind == "forecast":  # to the month's end: the console draws its own forecast (the organization's: unfiltered)
        return "Cost Explorer", cost_explorer(list(fact.extra.get("account_ids", ())), None, fact.spans[0].first,
                                              fact.spans[0].last, metric)
    return None


def for_fact(fact: Fact, day: dt.date, metric: str, grafana_url: str | None) -> tuple[tuple[str, str], ...]:
    out = []
    if grafana_url:
        url = grafana(fact, grafana_url, day)
        if url:
            out.append(("Grafana", url))
    page = console(fact, day, metric)
    if page:
        out.append(page)
    return tuple(out)
