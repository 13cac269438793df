"""Writes grafana/dashboards/*.json: the four aws-ops dashboards, built from one set of helpers.

    python grafana/generate.py        # after editing this file; tests fail if the JSON is out of date
    python grafana/generate.py --config config.yaml --out /var/lib/grafana/dashboards/aws-ops
                                      # CloudWatch rows for your own queries (one per namespace)

Every panel queries the datasource chosen in the ``datasource`` variable (no hard-coded uid), has a unit,
and every dashboard links to the others (tag ``aws-ops``) keeping the time range and the variables.
Expressions reuse the recording rules in prometheus/rules/aws-ops-recording.yml where the filters allow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
sys.path.insert(0, str(OUT.parent.parent))  # the exporter's own naming functions, run from a checkout
DS = {"type": "prometheus", "uid": "${datasource}"}
TAG = "aws-ops"
JOB = 'job="aws-ops-exporter"'

# Label filters the template variables apply (multi-value, "All" = .*).
F_PA = 'project=~"$project", account=~"$account"'
F_PAS = F_PA + ', service=~"$service"'
F_PAR = F_PA + ', region=~"$region"'
F_PASR = F_PAS + ', region=~"$region"'
SERVICE_KEYS = "project, account, account_id, service"


# ---------------------------------------------------------------- variables

def datasource_var() -> dict:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_var(name: str, label: str, query: str, multi: bool = True, all_value: str | None = ".*") -> dict:
    """``all_value`` None: "All" is every value the query found (a regex alternation), not "anything"."""
    var = {"name": name, "label": label, "type": "query", "datasource": DS, "query": query, "definition": query,
           "refresh": 2, "sort": 1, "hide": 0, "regex": "", "options": [], "multi": multi, "includeAll": multi}
    if multi:
        if all_value is not None:
            var["allValue"] = all_value
        var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    else:
        var["current"] = {}
    return var


PROJECT = query_var("project", "Project", "label_values(aws_account_info, project)")
# "All" accounts are the project's accounts: several metrics (exporter health, Health subscriptions) carry
# no project label, and ".*" would show every project's accounts on them.
ACCOUNT = query_var("account", "Account", 'label_values(aws_account_info{project=~"$project"}, account)',
                    all_value=None)


# ---------------------------------------------------------------- panels

def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False, table: bool = False) -> dict:
    t: dict[str, Any] = {"refId": ref, "datasource": DS, "expr": expr, "range": not instant, "instant": instant,
                         "legendFormat": legend or "__auto"}
    if table:
        t["format"] = "table"
    return t


def panel(kind: str, title: str, targets: list[dict], unit: str, w: int, h: int, description: str = "",
          decimals: int | None = None, options: dict | None = None, defaults: dict | None = None,
          overrides: list | None = None, transformations: list | None = None, links: list | None = None) -> dict:
    field_defaults: dict[str, Any] = {"unit": unit, **(defaults or {})}
    if decimals is not None:
        field_defaults["decimals"] = decimals
    p = {"type": kind, "title": title, "description": description, "datasource": DS, "targets": targets,
         "fieldConfig": {"defaults": field_defaults, "overrides": overrides or []}, "options": options or {},
         "gridPos": {"w": w, "h": h}}
    if transformations:
        p["transformations"] = transformations
    if links:
        p["links"] = links
    return p


def stat(title: str, expr: str, unit: str, w: int = 4, description: str = "", decimals: int | None = 0,
         no_value: str | None = None, links: list | None = None, thresholds: list | None = None) -> dict:
    defaults: dict[str, Any] = {}
    if no_value is not None:
        defaults["noValue"] = no_value
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        defaults["color"] = {"mode": "thresholds"}
    return panel("stat", title, [target(expr, instant=True)], unit, w, 4, description, decimals,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "value", "graphMode": "none", "textMode": "auto", "justifyMode": "auto"},
                 defaults=defaults, links=links)


def timeseries(title: str, targets: list[dict], unit: str, w: int = 12, h: int = 8, description: str = "",
               stacked: bool = False, draw: str = "line") -> dict:
    custom = {"drawStyle": draw, "lineInterpolation": "stepAfter", "fillOpacity": 10, "showPoints": "never",
              "stacking": {"mode": "normal" if stacked else "none", "group": "A"}}
    return panel("timeseries", title, targets, unit, w, h, description, defaults={"custom": custom},
                 options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def bargauge(title: str, expr: str, legend: str, unit: str, w: int = 12, h: int = 8, description: str = "",
             decimals: int | None = 0, thresholds: list | None = None, no_value: str | None = None) -> dict:
    defaults: dict[str, Any] = {}
    if no_value is not None:
        defaults["noValue"] = no_value
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        defaults["color"] = {"mode": "thresholds"}
    return panel("bargauge", title, [target(expr, legend, instant=True)], unit, w, h, description, decimals,
                 options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                          "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
                 defaults=defaults)


def table(title: str, exprs: dict[str, str], unit: str, columns: dict[str, str], w: int = 24, h: int = 8,
          description: str = "", column_units: dict[str, str] | None = None, decimals: int | None = 2,
          mappings: list | None = None, no_value: str | None = None) -> dict:
    """An instant table; several queries are merged on their labels into one row per label set.

    exprs: value column header → query; columns: label → header (in order); column_units: header → unit;
    no_value: what an empty cell (or an empty table) says.
    """
    refs = [chr(ord("A") + i) for i in range(len(exprs))]
    targets = [target(expr, ref=ref, instant=True, table=True) for ref, expr in zip(refs, exprs.values())]
    value_names = dict(zip((f"Value #{r}" if len(refs) > 1 else "Value" for r in refs), exprs))
    order = {name: i for i, name in enumerate([*columns, *value_names])}
    overrides = [{"matcher": {"id": "byName", "options": header},
                  "properties": [{"id": "unit", "value": u}]} for header, u in (column_units or {}).items()]
    defaults: dict[str, Any] = {"custom": {"align": "auto", "filterable": True}}
    if no_value is not None:
        defaults["noValue"] = no_value
    if mappings:
        defaults["mappings"] = mappings
    return panel("table", title, targets, unit, w, h, description, decimals, defaults=defaults,
                 overrides=overrides, options={"showHeader": True, "footer": {"show": False}},
                 transformations=[
                     *([{"id": "merge", "options": {}}] if len(refs) > 1 else []),
                     {"id": "organize", "options": {
                         "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                         "indexByName": order,
                         "renameByName": {**columns, **value_names}}}])


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def dashboard_url(uid: str) -> str:
    """Another aws-ops dashboard, keeping the time range, project and account. Not ``service``: the cost and
    Health dashboards name services differently ("Amazon Elastic Compute Cloud - Compute" vs "EC2"), and a
    value the target does not know would blank its panels."""
    return f"/d/{uid}?${{__url_time_range}}&${{project:queryparam}}&${{account:queryparam}}"


def dashboard_link(uid: str, title: str) -> dict:
    """A panel link to another aws-ops dashboard."""
    return {"title": title, "url": dashboard_url(uid), "targetBlank": False}


DASHBOARD_TITLES = {"aws-ops-cost": "AWS cost overview", "aws-ops-health": "AWS Health",
                    "aws-ops-cloudwatch": "AWS CloudWatch", "aws-ops-exporter": "AWS ops exporter"}


def top_links(uid: str) -> list[dict]:
    """The dashboard's links to the other three (top right)."""
    return [{"type": "link", "title": title, "url": dashboard_url(other), "asDropdown": False, "includeVars": False,
             "keepTime": False, "icon": "dashboard", "targetBlank": False, "tags": [], "tooltip": ""}
            for other, title in DASHBOARD_TITLES.items() if other != uid]


def layout(panels: list[dict]) -> list[dict]:
    """Flow panels left to right, wrapping at 24 columns; a row starts a new line. Assigns ids."""
    x = y = line_h = 0
    for pid, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y, line_h = 0, y + line_h, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = pid
        x, line_h = x + w, max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + h, 0
    return panels


def dashboard(uid: str, title: str, description: str, variables: list[dict], panels: list[dict],
              time_from: str = "now-7d", refresh: str = "5m") -> dict:
    return {
        "uid": uid, "title": title, "description": description, "tags": [TAG], "timezone": "utc",
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "id": None,
        "time": {"from": time_from, "to": "now"}, "refresh": refresh, "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "",
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": top_links(uid),
        "templating": {"list": [datasource_var(), *variables]},
        "panels": layout(panels),
    }


# ---------------------------------------------------------------- dashboards

# Projections (and budget ratios) start once aws_ops:budget_min_days_elapsed:threshold complete days are in.
NO_PROJECTION = "no projection yet"
GREEN_RED = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
BUDGET_STEPS = [{"color": "green", "value": None}, {"color": "orange", "value": 90}, {"color": "red", "value": 100}]


def cost_overview() -> dict:
    service = query_var("service", "Service",
                        'label_values(aws_cost_usd{project=~"$project", account=~"$account"}, service)')
    daily = f'aws_cost_usd{{granularity="daily", {F_PAS}}}'
    monthly = f'aws_cost_usd{{granularity="monthly", {F_PAS}}}'
    mtd = f"aws_cost_month_to_date_usd{{{F_PAS}}}"
    baseline = f"aws_cost_daily_baseline_usd{{{F_PAS}}}"
    per_service = f"{{{F_PAS}}}"

    def driver(window: str) -> str:
        return f'aws_cost_spike_driver_usd{{window="{window}", {F_PAS}}}'

    spike = (f"account_service:aws_cost_daily_vs_baseline:ratio{per_service}"
             " > on () group_left () aws_ops:cost_spike_ratio:threshold"
             f" and account_service:aws_cost_daily_over_baseline_usd:sum{per_service}"
             " > on () group_left () aws_ops:cost_spike_increase_usd:threshold")
    projected = f"account:aws_cost_month_projected_usd:sum{{{F_PA}}}"
    last_month = f"account:aws_cost_last_month_usd:sum{{{F_PA}}}"
    no_service = " The service filter does not apply (projections are per account)."
    panels = [
        row("Fleet"),
        stat("Yesterday", f"sum({daily})", "currencyUSD", description="Last complete UTC day (aws_cost_usd, daily)."),
        stat("Month to date", f"sum({mtd})", "currencyUSD",
             description="1st of the month up to (not including) today."),
        stat("Last month", f"sum({monthly})", "currencyUSD", description="Last complete month."),
        stat("Projected this month", f"sum({projected})", "currencyUSD", no_value=NO_PROJECTION,
             description="Month to date / days elapsed × days in month, per account, summed; once "
                         "aws_ops:budget_min_days_elapsed:threshold complete days are in." + no_service),
        stat("Projected vs last month", f"(sum({projected}) / sum({last_month}) - 1) * 100", "percent",
             decimals=1, no_value=NO_PROJECTION,
             description="Month-over-month change of the projection." + no_service),
        stat("Yesterday vs baseline", f"(sum({daily}) / sum({baseline}) - 1) * 100", "percent", decimals=1,
             description="Yesterday against the trailing daily baseline (aws_cost_daily_baseline_usd)."),
        row("Trend"),
        timeseries("Daily cost by project (each day as reported)",
                   [target(f"sum by (project) ({daily})", "{{project}}")], "currencyUSD", w=12, stacked=True,
                   description="aws_cost_usd daily: the value steps once a day when Cost Explorer's last "
                               "complete day changes."),
        timeseries("Daily cost by account",
                   [target(f"sum by (account) ({daily})", "{{account}}")], "currencyUSD", w=12, stacked=True),
        row("Breakdown"),
        bargauge("Month to date by project",
                 f"sort_desc(sum by (project) ({mtd}))", "{{project}}", "currencyUSD", w=8),
        bargauge("Month to date by account",
                 f"sort_desc(sum by (account) ({mtd}))", "{{account}}", "currencyUSD", w=8),
        bargauge("Top services yesterday",
                 f"sort_desc(topk(10, sum by (service) ({daily})))", "{{service}}", "currencyUSD", w=8),
        table("Month over month by account",
              {"projected": projected, "last month": last_month,
               "change": f"({projected} / {last_month} - 1) * 100"},
              "currencyUSD", {"project": "Project", "account": "Account", "account_id": "Account ID"},
              w=12, column_units={"change": "percent"}, no_value=NO_PROJECTION,
              description="Projected month vs the last complete month, per account (no projection before "
                          "aws_ops:budget_min_days_elapsed:threshold complete days)." + no_service),
        bargauge("Top services month to date",
                 f"sort_desc(topk(10, sum by (service) ({mtd})))", "{{service}}", "currencyUSD", w=12),
        row("Spikes and budgets"),
        table("Cost spikes (yesterday vs baseline, above both alert thresholds)",
              {"ratio": spike,
               "yesterday": f"sum by ({SERVICE_KEYS}) ({daily}) and on (account, service) ({spike})",
               "baseline": f"sum by ({SERVICE_KEYS}) ({baseline}) and on (account, service) ({spike})"},
              "currencyUSD", {"project": "Project", "account": "Account", "account_id": "Account ID",
                              "service": "Service"},
              w=24, column_units={"ratio": "suffix:×"},
              description="The same expression as the AwsCostSpike alert; thresholds in "
                          "prometheus/rules/thresholds.yml."),
        bargauge("Projected spend vs budget",
                 f'project:aws_cost_month_projected_vs_budget:ratio{{project=~"$project"}} * 100'
                 f" or account:aws_cost_month_projected_vs_budget:ratio{{{F_PA}}} * 100",
                 "{{project}} {{account}}", "percent", w=12, thresholds=BUDGET_STEPS, no_value=NO_PROJECTION,
                 description="Projection / monthly budget (config.yaml budgets); the budget alerts fire above "
                             "100 % (aws_ops:budget_projection_ratio:threshold)."),
        table("Budgets by project",
              {"month to date": f'project:aws_cost_month_to_date_usd:sum{{project=~"$project"}}',
               "projected": f'project:aws_cost_month_projected_usd:sum{{project=~"$project"}}',
               "budget": f'project:aws_cost_budget_usd:max{{project=~"$project"}}'},
              "currencyUSD", {"project": "Project"}, w=12, decimals=0, no_value=NO_PROJECTION,
              description="Month to date is $0 on the 1st; the projection starts once "
                          "aws_ops:budget_min_days_elapsed:threshold complete days are in."),
        row("Data"),
        stat("Oldest cost data", f'max(collector_account:aws_exporter_data_age_seconds:max{{collector="cost", '
                                 f'account=~"$account"}})', "s",
             description="Age of the oldest account's cost data the exporter serves.",
             links=[dashboard_link("aws-ops-exporter", "Exporter dashboard")]),
        stat("Open AWS Health issues",
             f'sum(aws_health_events{{category="issue", status="open", {F_PA}}})', "none", no_value="0",
             links=[dashboard_link("aws-ops-health", "AWS Health dashboard")]),
        stat("Days elapsed this month", f'max(account:aws_cost_month_days_elapsed:days{{{F_PA}}})', "d",
             description="Complete days in the month-to-date figure (0 on the 1st)."),
        stat("Estimated periods", f'sum(aws_cost_estimated{{{F_PA}}})', "none", no_value="0",
             description="Periods Cost Explorer still marks Estimated (figures may still change)."),
        # Appended, so the panels above keep their ids (the reporter's posts link to them).
        row("Why costs moved"),
        table("Spike drivers (usage types behind yesterday's spikes)",
              {"yesterday": f"sum without (window) ({driver('yesterday')})",
               "baseline mean": f"sum without (window) ({driver('baseline_mean')})",
               "increase": f"sum without (window) ({driver('yesterday')}) - sum without (window) "
                           f"({driver('baseline_mean')})"},
              "currencyUSD", {"project": "Project", "account": "Account", "account_id": "Account ID",
                              "service": "Service", "usage_type": "Usage type"},
              w=24, no_value="No spike yesterday",
              description="aws_cost_spike_driver_usd: for each spike (collectors.cost.drivers thresholds), the usage "
                          "types that rose most, from one more Cost Explorer request grouped by USAGE_TYPE."),
        table("Open cost anomalies (AWS Cost Anomaly Detection)",
              {"impact": f"aws_cost_anomaly_impact_usd{{{F_PAS}}}"}, "currencyUSD",
              {"project": "Project", "account": "Account", "service": "Service", "anomaly_id": "Anomaly"},
              w=12, no_value="No open anomaly (or collectors.cost.anomalies off)",
              description="aws_cost_anomaly_impact_usd: GetAnomalies' TotalImpact of the open anomalies."),
        table("Cost by record type (credits, refunds, tax, fees apart)",
              {"cost": f"aws_cost_record_type_usd{{{F_PA}}}"}, "currencyUSD",
              {"project": "Project", "account": "Account", "record_type": "Record type", "granularity": "Period"},
              w=12, no_value="collectors.cost.record_types off",
              description="aws_cost_record_type_usd: the same money as aws_cost_usd, split by RECORD_TYPE; monthly is "
                          "last month, month_to_date this month."),
        bargauge("Forecast month end vs budget",
                 f'project:aws_cost_forecast_vs_budget:ratio{{project=~"$project"}} * 100'
                 f" or account:aws_cost_forecast_vs_budget:ratio{{{F_PA}}} * 100",
                 "{{project}} {{account}}", "percent", w=24, thresholds=BUDGET_STEPS,
                 no_value="collectors.cost.forecast off",
                 description="AWS's forecast (aws_cost_forecast_month_usd: month to date + GetCostForecast) / monthly "
                             "budget; the AwsCostForecastOverBudget alert fires above 100 %."),
    ]
    return dashboard("aws-ops-cost", DASHBOARD_TITLES["aws-ops-cost"],
                     "Cost Explorer spend across the fleet: totals, trend, breakdowns, spikes and budgets.",
                     [PROJECT, ACCOUNT, service], panels, time_from="now-30d")


def health() -> dict:
    service = query_var("service", "Service",
                        'label_values(aws_health_events{project=~"$project", account=~"$account"}, service)')
    region = query_var("region", "Region",
                       'label_values(aws_health_events{project=~"$project", account=~"$account"}, region)')
    events = f"aws_health_events{{{F_PASR}}}"
    info = f"aws_health_event_info{{{F_PASR}}}"
    panels = [
        row("Now"),
        stat("Open issues", f'sum(aws_health_events{{category="issue", status="open", {F_PASR}}})', "none",
             w=6, no_value="0", thresholds=GREEN_RED),
        stat("Upcoming scheduled changes", f'sum(aws_health_events{{status="upcoming", {F_PASR}}})', "none",
             w=6, no_value="0"),
        stat("Accounts with open events", f'count(count by (account) (aws_health_event_info{{status="open", {F_PASR}}}))',
             "none", w=6, no_value="0"),
        stat("Accounts without AWS Health (no Business support)",
             'sum(aws_health_subscription_required{account=~"$account"})', "none", w=6, no_value="0",
             description="SubscriptionRequiredException: the account needs a Business/Enterprise support plan "
                         "for the AWS Health API."),
        table("Open and upcoming events",
              {"start": f"aws_health_event_start_timestamp_seconds{{{F_PASR}}} * 1000",
               "end": f"aws_health_event_end_timestamp_seconds{{{F_PASR}}} * 1000",
               # same labels as the event rows, so the table merges them into one row per event
               "affected": f"aws_health_affected_entities{{{F_PA}}} * on (account, event_arn) group_left "
                           f"(service, region, category, status, event_type_code) {info}"},
              "dateTimeAsIso",
              {"account": "Account", "project": "Project", "service": "Service", "region": "Region",
               "category": "Category", "status": "Status", "event_type_code": "Event type",
               "account_id": "Account ID", "event_arn": "Event ARN"},
              h=10, column_units={"affected": "none"}, decimals=0,
              description="aws_health_event_info with start/end times (DescribeEvents) and affected entity "
                          "counts (DescribeEntityAggregates)."),
        row("Breakdown"),
        table("Events by account", {"events": f"sum by (project, account, category, status) ({events})"},
              "none", {"project": "Project", "account": "Account", "category": "Category", "status": "Status"},
              w=12, decimals=0),
        table("Events by service and region", {"events": f"sum by (service, region, category, status) ({events})"},
              "none", {"service": "Service", "region": "Region", "category": "Category", "status": "Status"},
              w=12, decimals=0),
        timeseries("Events by status over time", [target(f"sum by (status) ({events})", "{{status}}")], "none",
                   w=24, stacked=True,
                   description="Includes events closed within collectors.health.closed_window."),
    ]
    return dashboard("aws-ops-health", DASHBOARD_TITLES["aws-ops-health"],
                     "Open, upcoming and recently closed AWS Health events across the fleet.",
                     [PROJECT, ACCOUNT, service, region], panels, time_from="now-7d")


# CloudWatch: one row per configured namespace, one panel per metric and statistic, named as the
# exporter names them. Units CloudWatch reports for common metrics (the config does not carry them).
CW_LEGEND = "{{account}} {{region}} "
CW_UNITS = {"CPUUtilization": "percent", "FreeStorageSpace": "bytes", "FreeableMemory": "bytes",
            "Duration": "ms", "Latency": "s", "TargetResponseTime": "s", "NetworkIn": "bytes",
            "NetworkOut": "bytes", "ReadLatency": "s", "WriteLatency": "s", "DiskReadBytes": "bytes",
            "DiskWriteBytes": "bytes", "BucketSizeBytes": "bytes"}


def cloudwatch_rows(config) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """(namespace row title, [(panel title, metric family, unit, legend)]) for the config's queries."""
    from exporter.exposition.cloudwatch import dimension_label, metric_name

    snake_case = config.collectors.cloudwatch.labels_snake_case
    rows: dict[str, dict[str, tuple[str, str, str, str]]] = {}
    for q in configured_queries(config):
        legend = " ".join("{{%s}}" % dimension_label(name, snake_case) for name, _ in q.dimensions)
        for stat in q.stats:
            family = metric_name(q.namespace, q.metric, stat)
            rows.setdefault(q.namespace, {})[family] = (f"{q.metric}, {stat}", family,
                                                        CW_UNITS.get(q.metric, "short"), legend)
    return [(namespace, list(charts.values())) for namespace, charts in rows.items()]


def configured_queries(config) -> list:
    """Every CloudWatch query of a config: the collector's and those of per-account overrides, in order."""
    queries = list(config.collectors.cloudwatch.queries)
    for account in config.accounts:
        override = account.cloudwatch
        for q in (override.queries if override is not None and override.queries else ()):
            if q not in queries:
                queries.append(q)
    return queries


# YACE-style names: aws_<namespace>_<metric>_<stat>.
CLOUDWATCH_FAMILIES = r"^aws_[a-z0-9]+_[a-z0-9_]+_(average|sum|maximum|minimum|sample_count|p[0-9_]+)$"


def cloudwatch(config) -> dict:
    region = query_var("region", "Region",
                       'label_values(aws_cloudwatch_window_end_timestamp_seconds{project=~"$project", '
                       'account=~"$account"}, region)')
    metric = query_var("metric", "Any CloudWatch metric", f"metrics({CLOUDWATCH_FAMILIES})", multi=False)
    panels: list[dict] = []
    for title, charts in cloudwatch_rows(config):
        panels.append(row(title))
        width = max(6, 24 // len(charts))
        for chart_title, name, unit, legend in charts:
            panels.append(timeseries(chart_title, [target(f"{name}{{{F_PAR}}}", CW_LEGEND + legend)], unit, w=width,
                                     description=f"{name} (GetMetricData; the newest datapoint in the window)."))
    panels += [
        row("Any configured metric"),
        timeseries("$metric", [target(f"$metric{{{F_PAR}}}", CW_LEGEND + "{{__name__}}")], "short", w=24,
                   description="Every CloudWatch family the exporter serves (collectors.cloudwatch.queries); pick "
                               "one in the 'Any CloudWatch metric' variable."),
        row("Freshness"),
        table("CloudWatch window end by account and region",
              {"window end": f"aws_cloudwatch_window_end_timestamp_seconds{{{F_PAR}}} * 1000"},
              "dateTimeAsIso", {"project": "Project", "account": "Account", "account_id": "Account ID",
                                "region": "Region"}, w=24, h=6, decimals=0,
              description="CloudWatch values settle late: the window ends delay_seconds before each collection."),
    ]
    return dashboard("aws-ops-cloudwatch", DASHBOARD_TITLES["aws-ops-cloudwatch"],
                     "CloudWatch metrics collected by aws-ops-exporter (YACE names), one row per namespace.",
                     [PROJECT, ACCOUNT, region, metric], panels, time_from="now-24h")


def exporter() -> dict:
    collector = query_var("collector", "Collector", "label_values(aws_exporter_collector_up, collector)")
    ca = 'collector=~"$collector", account=~"$account"'
    up_mappings = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                                 "1": {"text": "up", "color": "green", "index": 1}}}]
    panels = [
        row("Health"),
        stat("Exporter targets up", f"sum(up{{{JOB}}})", "none", w=6,
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat("Collectors failing", f"count(collector_account:aws_exporter_collector_up:failing{{{ca}}}) or vector(0)",
             "none", w=6,
             no_value="0", thresholds=GREEN_RED,
             description="As AwsExporterCollectorDown counts them: AWS Health on accounts without a Business "
                         "support plan is not a failure."),
        stat("Oldest data", f"max(collector_account:aws_exporter_data_age_seconds:max{{{ca}}})", "s", w=6),
        stat("Cost Explorer spend, last 24h", f"sum(increase(aws_exporter_cost_explorer_spend_usd_total{{{JOB}}}[1d]))",
             "currencyUSD", w=6, decimals=2,
             description="$0.01 per GetCostAndUsage request; AwsExporterCostExplorerSpendHigh fires above "
                         "instance:aws_exporter_cost_explorer_daily_budget_usd:sum (per account × accounts)."),
        table("Collector up per account", {"up": f"aws_exporter_collector_up{{{ca}}}"}, "none",
              {"collector": "Collector", "account": "Account"}, w=8, h=10, decimals=0, mappings=up_mappings),
        table("Data age per account",
              {"age": f"collector_account:aws_exporter_data_age_seconds:max{{{ca}}}",
               "intervals": f"collector_account:aws_exporter_data_age_intervals:ratio{{{ca}}}"},
              "s", {"collector": "Collector", "account": "Account"}, w=8, h=10, decimals=0,
              column_units={"intervals": "none"},
              description="Since the last successful collection; AwsExporterDataStale fires beyond "
                          "aws_ops:data_stale_intervals:threshold intervals."),
        table("Last attempt duration per account",
              {"duration": f"aws_exporter_collector_account_duration_seconds{{{ca}}}"}, "s",
              {"collector": "Collector", "account": "Account"}, w=8, h=10),
        row("AWS API use"),
        timeseries("API requests per second",
                   [target(f"sum by (service, operation) (rate(aws_exporter_api_requests_total{{{JOB}}}"
                           "[$__rate_interval]))", "{{service}} {{operation}}")], "reqps", w=12),
        timeseries("Throttled requests per second",
                   [target(f"sum by (service, operation) (rate(aws_exporter_api_throttles_total{{{JOB}}}"
                           "[$__rate_interval]))"
                           f" or 0 * sum by (service, operation) (rate(aws_exporter_api_requests_total{{{JOB}}}"
                           "[$__rate_interval]))", "{{service}} {{operation}}")], "reqps", w=12,
                   description="0 for every operation the exporter calls until AWS throttles it."),
        table("API errors by code (selected range)",
              {"errors": f"sum by (service, operation, error) (increase(aws_exporter_api_errors_total{{{JOB}}}"
                         "[$__range]))"},
              "none", {"service": "Service", "operation": "Operation", "error": "Error"}, w=12, decimals=0),
        timeseries("API spend by service (USD per day)",
                   [target(f"sum by (service) (increase(aws_exporter_api_spend_usd_total{{{JOB}}}[1d]))",
                           "{{service}}")], "currencyUSD", w=12,
                   description="Cost Explorer per request, CloudWatch GetMetricData per 1,000 metrics requested."),
        timeseries("CloudWatch metrics requested per second",
                   [target('sum by (account) (rate(aws_exporter_cloudwatch_metrics_requested_total{account=~"$account"}'
                           "[$__rate_interval]))", "{{account}}")], "short", w=12),
        timeseries("Collector pass duration", [target(f'aws_exporter_collector_duration_seconds{{collector=~"$collector"}}',
                                                      "{{collector}}")], "s", w=12),
    ]
    return dashboard("aws-ops-exporter", DASHBOARD_TITLES["aws-ops-exporter"],
                     "aws-ops-exporter itself: collectors per account, data age, AWS API requests and their cost.",
                     [PROJECT, ACCOUNT, collector], panels, time_from="now-24h", refresh="1m")


def demo_config():
    """The demo fleet's config: what the committed CloudWatch dashboard is generated from."""
    from exporter.config import parse
    from aws_ops_demo.config import config_document

    return parse(config_document(), source="<demo>")


DASHBOARDS = {"aws-ops-cost.json": cost_overview, "aws-ops-health.json": health,
              "aws-ops-cloudwatch.json": lambda: cloudwatch(demo_config()), "aws-ops-exporter.json": exporter}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write the aws-ops Grafana dashboards.")
    parser.add_argument("--config", help="build the CloudWatch dashboard from this config's queries "
                                         "(default: the demo fleet's, as committed)")
    parser.add_argument("--out", default=str(OUT), help=f"folder to write to (default {OUT})")
    args = parser.parse_args(argv)
    builders = dict(DASHBOARDS)
    if args.config:
        from exporter.config import load

        config = load(args.config)
        builders["aws-ops-cloudwatch.json"] = lambda: cloudwatch(config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, build in builders.items():
        (out / name).write_text(render(build))
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
