"""End to end with a real Prometheus: the exporter's demo fleet, the repo's prometheus.yml and rules.

The exporter runs ``--demo`` on a free loopback port; Prometheus runs on another with a temporary
storage dir and a copy of prometheus/prometheus.yml whose only changes are the target (the test port),
short intervals (1s) and no Alertmanager. The rules are the shipped files; the copy only shortens the
alerts' ``for:`` so the test finishes in seconds, and the fixture checks that nothing else differs.
Then every dashboard query, with its template variables expanded, must return data; the demo's cost
spike must fire and nothing else must; ``promtool check metrics`` must accept the exposition.

The demo runs ``--as-of`` a 1st, a 15th and the last day of a month (a leap day), never the real date: on
the 1st month to date is $0 and days elapsed 0, and before ``budget_min_days_elapsed`` complete days the
projection queries return nothing while their panels say "no projection yet".
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, free_port
from tests.test_prometheus_rules import RULES, require_tool

PROMETHEUS_YML = ROOT / "prometheus" / "prometheus.yml"
THRESHOLDS = ROOT / "prometheus" / "rules" / "thresholds.yml"
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
JOB = "aws-ops-exporter"
STARTUP_TIMEOUT = 90.0

# The days the demo runs as of: a 1st (after a 28-day February), a 15th, a last day of a month (a leap day).
AS_OF_DAYS = [dt.date(2026, 3, 1), dt.date(2026, 6, 15), dt.date(2024, 2, 29)]
NO_PROJECTION = "no projection yet"

# Grafana's built-in interval variables, at values that suit 1s scrapes over a short run.
BUILTINS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m"}

@dataclass
class Stack:
    exporter_url: str
    prometheus_url: str
    client: httpx.Client
    as_of: dt.date

    @property
    def days_elapsed(self) -> int:
        """Complete days of the month the demo's month to date covers."""
        return self.as_of.day - 1

    @property
    def projects(self) -> bool:
        """Whether the rules project the month yet (``budget_min_days_elapsed`` in thresholds.yml)."""
        return self.days_elapsed >= min_days_elapsed()

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.client.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr})
        body = response.json()
        assert body.get("status") == "success", f"{expr!r}: {body}"
        return body["data"]["result"]

    def api(self, path: str, **params: Any) -> Any:
        body = self.client.get(f"{self.prometheus_url}/api/v1/{path}", params=params).json()
        assert body.get("status") == "success", f"{path}: {body}"
        return body["data"]


def _wait(what: str, check, timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, AssertionError, ValueError) as exc:  # ValueError: a page that is not JSON yet
            last = exc  # (Prometheus answers 503 text while it starts)
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"timed out waiting for {what} (last: {last!r})\n{tails}")


def _test_rules(rules_dir: Path) -> list[Path]:
    """Copies of the shipped rules with every alert's `for:` shortened; nothing else may differ."""
    rules_dir.mkdir()
    copies = []
    for path in RULES:
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and "for" in rule:
                    rule["for"] = "0s"
        copy = rules_dir / path.name
        copy.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        shipped, tested = yaml.safe_load(path.read_text()), yaml.safe_load(copy.read_text())
        for g_shipped, g_tested in zip(shipped["groups"], tested["groups"], strict=True):
            for r_shipped, r_tested in zip(g_shipped["rules"], g_tested["rules"], strict=True):
                assert {**r_shipped, "for": None} == {**r_tested, "for": None}
        copies.append(copy)
    return copies


def _test_config(path: Path, exporter_port: int, rules_dir: Path) -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config.pop("alerting", None)
    config["rule_files"] = [str(rules_dir / "*.yml")]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    assert len(jobs) == 1, f"prometheus.yml must scrape job {JOB} exactly once"
    jobs[0]["scrape_timeout"] = "1s"
    jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{exporter_port}"]}]
    config["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def min_days_elapsed() -> int:
    document = yaml.safe_load(THRESHOLDS.read_text())
    rule = next(r for g in document["groups"] for r in g["rules"]
                if r.get("record") == "aws_ops:budget_min_days_elapsed:threshold")
    return int(re.fullmatch(r"vector\((\d+)\)", rule["expr"].strip()).group(1))


@pytest.fixture(scope="module", params=AS_OF_DAYS, ids=lambda d: d.isoformat())
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = require_tool("prometheus")
    require_tool("promtool")
    as_of: dt.date = request.param
    tmp = tmp_path_factory.mktemp(f"e2e-prometheus-{as_of}")
    exporter_port, prometheus_port = free_port(), free_port()
    exporter_log, prometheus_log = tmp / "exporter.log", tmp / "prometheus.log"
    logs = [exporter_log, prometheus_log]

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    exporter = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--demo", "--as-of", as_of.isoformat(),
         "--web.listen-address", f"127.0.0.1:{exporter_port}"],
        cwd=ROOT, env=env, stdout=exporter_log.open("wb"), stderr=subprocess.STDOUT)
    processes = [exporter]
    client = httpx.Client(timeout=10)
    try:
        exporter_url = f"http://127.0.0.1:{exporter_port}"

        def collected() -> bool:
            # every configured collector has finished a pass over the fleet
            text = client.get(f"{exporter_url}/metrics").text
            collectors = set(re.findall(r'^aws_exporter_collector_interval_seconds\{collector="(\w+)"\}', text, re.M))
            ran = set(re.findall(r'^aws_exporter_collector_last_run_timestamp_seconds\{collector="(\w+)"\}', text, re.M))
            assert exporter.poll() is None, "exporter exited"
            return bool(collectors) and collectors <= ran

        _wait("the exporter's first collection", collected, STARTUP_TIMEOUT, logs)

        rules_dir = tmp / "rules"
        _test_rules(rules_dir)
        config = tmp / "prometheus.yml"
        _test_config(config, exporter_port, rules_dir)
        check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        process = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
            cwd=tmp, stdout=prometheus_log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(process)
        stack = Stack(exporter_url, f"http://127.0.0.1:{prometheus_port}", client, as_of)

        def scraped() -> bool:
            assert process.poll() is None, "prometheus exited"
            # enough scrapes for rate() windows, and the rule groups have evaluated on them
            return bool(stack.query(f'count_over_time(up{{job="{JOB}"}}[1m]) >= 5 and up{{job="{JOB}"}} == 1')
                        and stack.query('ALERTS{alertname="AwsCostSpike", alertstate="firing"}'))

        _wait("Prometheus to scrape the exporter and evaluate the rules", scraped, STARTUP_TIMEOUT, logs)
        yield stack
    finally:
        client.close()
        for process in reversed(processes):
            _stop(process)


# ---------------------------------------------------------------- dashboards

def _panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _expand(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown variable ${name} in {text!r}"
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, text)


def _variable_values(stack: Stack, query: str, values: dict[str, str]) -> list[str]:
    """Evaluate a Grafana Prometheus variable query the way Grafana does (label_values / metrics)."""
    query = _expand(query, values)
    if m := re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query):
        return stack.api(f"label/{m.group(2)}/values", **{"match[]": m.group(1)})
    if m := re.fullmatch(r"label_values\((\w+)\)", query):
        return stack.api(f"label/{m.group(1)}/values")
    if m := re.fullmatch(r"metrics\((.+)\)", query):
        pattern = re.compile(m.group(1))
        return [name for name in stack.api("label/__name__/values") if pattern.search(name)]
    raise AssertionError(f"unsupported variable query {query!r}")


def _all(found: list[str]) -> str:
    """Grafana's "All" without an allValue: every value found, regex-escaped, as one alternation."""
    return "(" + "|".join(re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in sorted(found)) + ")"


def _resolve_variables(stack: Stack, dashboard: dict, chosen: dict[str, str] | None = None) -> dict[str, str]:
    """Each variable as a user first sees it: "All" (its allValue, else every value found) for multi-value
    ones, else the first value; ``chosen`` values are picked instead, and narrow the variables after them."""
    values = dict(BUILTINS)
    for var in dashboard["templating"]["list"]:
        if var["type"] == "datasource":
            values[var["name"]] = "prometheus"
            continue
        found = _variable_values(stack, var["query"], values)
        assert found, f"{dashboard['title']}: variable {var['name']} ({var['query']}) has no values"
        if chosen and var["name"] in chosen:
            values[var["name"]] = chosen[var["name"]]
        elif var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or _all(found)
        else:
            values[var["name"]] = sorted(found)[0]
    return values


def _is_projection(expr: str) -> bool:
    return "_projected_" in expr


def _unexpected_answers(stack: Stack, dashboard: dict, values: dict[str, str],
                        skip: tuple[str, ...] = ()) -> tuple[list[str], int]:
    """Queries that returned no data, and projection queries that returned data before the month has enough
    days for one (their panels must then say "no projection yet"); and how many queries were checked."""
    wrong, checked = [], 0
    for panel in _panels(dashboard):
        if panel["title"] in skip:
            continue
        for target in panel.get("targets", []):
            expr = _expand(target["expr"], values)
            checked += 1
            answered = bool(stack.query(expr))
            where = f"{panel['title']!r} [{target['refId']}]: {expr}"
            if _is_projection(expr) and not stack.projects:
                if answered:
                    wrong.append(f"a projection on day {stack.days_elapsed + 1}: {where}")
                if panel["fieldConfig"]["defaults"].get("noValue") != NO_PROJECTION:
                    wrong.append(f"does not say {NO_PROJECTION!r}: {where}")
            elif not answered:
                wrong.append(f"no data: {where}")
    return wrong, checked


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_query_returns_data(stack: Stack, path: Path):
    dashboard = json.loads(path.read_text())
    wrong, checked = _unexpected_answers(stack, dashboard, _resolve_variables(stack, dashboard))
    assert checked > 0
    assert wrong == [], f"{len(wrong)} of {checked} queries answered wrongly:\n" + "\n".join(wrong)


def test_dashboard_queries_with_one_account_selected_return_data(stack: Stack):
    """Picking the spiking account narrows every cost panel but none goes blank."""
    dashboard = json.loads((ROOT / "grafana" / "dashboards" / "aws-ops-cost.json").read_text())
    values = {**_resolve_variables(stack, dashboard), "project": "data", "account": "data-prod",
              "service": "Amazon SageMaker"}
    wrong, _ = _unexpected_answers(stack, dashboard, values, skip=("Open AWS Health issues",))
    assert wrong == []


def test_month_to_date_and_days_elapsed_follow_the_day(stack: Stack):
    """On the 1st month to date is a real $0 and no day has elapsed; later days count from the 1st."""
    mtd = float(stack.query("fleet:aws_cost_month_to_date_usd:sum")[0]["value"][1])
    elapsed = {float(r["value"][1]) for r in stack.query("account:aws_cost_month_days_elapsed:days")}
    assert elapsed == {float(stack.days_elapsed)}
    assert (mtd == 0) == (stack.days_elapsed == 0)
    projected = stack.query("fleet:aws_cost_month_projected_usd:sum")
    assert bool(projected) == stack.projects
    if projected:  # month to date ÷ days elapsed × days in the month
        days = calendar.monthrange(stack.as_of.year, stack.as_of.month)[1]
        assert float(projected[0]["value"][1]) == pytest.approx(mtd / stack.days_elapsed * days, rel=1e-9)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_a_project_with_all_its_accounts_shows_only_that_projects_accounts(stack: Stack, path: Path):
    """Project "web", Account "All": no panel shows another project's account, including panels whose
    metrics have no project label (collector health, AWS Health subscriptions)."""
    dashboard = json.loads(path.read_text())
    values = _resolve_variables(stack, dashboard, {"project": "web"})
    web = {r["metric"]["account"] for r in stack.query('aws_account_info{project="web"}')}
    assert web and len(web) < len(stack.query("aws_account_info"))
    leaks = []
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            for series in stack.query(_expand(target["expr"], values)):
                if series["metric"].get("account", next(iter(web))) not in web:
                    leaks.append(f"{panel['title']!r}: {series['metric']}")
    assert leaks == []
    if dashboard["uid"] == "aws-ops-health":  # the demo's account without Business support is platform's
        expr = next(t["expr"] for p in _panels(dashboard) if p["title"].startswith("Accounts without AWS Health")
                    for t in p["targets"])
        def value(chosen: dict[str, str]) -> float:
            return float(stack.query(_expand(expr, _resolve_variables(stack, dashboard, chosen)))[0]["value"][1])
        assert (value({"project": "web"}), value({"project": "platform"})) == (0.0, 1.0)


# ---------------------------------------------------------------- alerts

def _firing(stack: Stack, name: str) -> list[dict]:
    return [a for a in stack.api("alerts")["alerts"] if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_cost_spike_fires_for_the_demo_spike_only(stack: Stack):
    firing = _firing(stack, "AwsCostSpike")
    assert [(a["labels"]["account"], a["labels"]["service"]) for a in firing] == [("data-prod", "Amazon SageMaker")]
    alert = firing[0]
    assert alert["labels"]["project"] == "data"
    assert alert["labels"]["severity"] == "warning"
    # the message carries the numbers: yesterday's cost, the baseline and the ratio, as the exporter serves them
    yesterday = float(stack.query('aws_cost_usd{granularity="daily",account="data-prod",service="Amazon SageMaker"}')
                      [0]["value"][1])
    baseline = float(stack.query('aws_cost_daily_baseline_usd{account="data-prod",service="Amazon SageMaker"}')
                     [0]["value"][1])
    description = alert["annotations"]["description"]
    assert f"${yesterday:.2f}" in description and f"${baseline:.2f}/day" in description
    assert f"{yesterday / baseline:.2f}×" in description
    assert "Amazon SageMaker" in alert["annotations"]["summary"] and "data-prod" in alert["annotations"]["summary"]
    # steady services were evaluated (the recorded ratios exist for all of them) and stayed below
    ratios = stack.query("account_service:aws_cost_daily_vs_baseline:ratio")
    assert len(ratios) > 50


def test_health_and_collector_alerts_follow_the_demo(stack: Stack):
    open_issues = {(a["labels"]["account"], a["labels"]["event_type_code"]) for a in _firing(stack, "AwsHealthOpenIssue")}
    expected = {(s["metric"]["account"], s["metric"]["event_type_code"])
                for s in stack.query('aws_health_event_info{category="issue",status="open"}')}
    assert expected and open_issues == expected
    # platform-sandbox has no Business support plan: its health collector is down, which is not an outage
    assert stack.query('aws_health_subscription_required == 1')
    assert _firing(stack, "AwsExporterCollectorDown") == []
    assert _firing(stack, "AwsExporterTargetDown") == []
    assert _firing(stack, "AwsExporterDataStale") == []


# ---------------------------------------------------------------- exposition

def test_promtool_check_metrics_accepts_the_exposition(stack: Stack):
    body = stack.client.get(f"{stack.exporter_url}/metrics").content
    assert b"aws_ec2_cpuutilization_average{" in body and b"_sum{" in body  # CloudWatch families are checked too
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    problems = (result.stdout + result.stderr).decode().strip()
    assert (result.returncode, problems) == (0, "")
