"""The Grafana dashboards as files: generated, portable (datasource variable), with units and links.

That their queries return data from a real Prometheus is in tests/test_e2e_prometheus.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_prometheus_rules import RULES

GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))


def _generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            yield panel
        yield from panel.get("panels", [])


def _datasource_refs(node) -> Iterator[dict]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for value in node.values():
            yield from _datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_refs(value)


def test_committed_dashboards_are_what_the_generator_writes():
    generator = _generator()
    assert sorted(generator.DASHBOARDS) == [p.name for p in DASHBOARD_FILES]
    for path in DASHBOARD_FILES:
        assert path.read_text() == generator.render(generator.DASHBOARDS[path.name]), \
            f"{path.name} is out of date: run python grafana/generate.py"


def test_the_four_dashboards_exist():
    titles = {_load(p)["title"] for p in DASHBOARD_FILES}
    assert titles == {"AWS cost overview", "AWS Health", "AWS CloudWatch", "AWS ops exporter"}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_datasource_is_a_variable_never_a_hard_coded_uid(path: Path):
    dashboard = _load(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    refs = [ref for ref in _datasource_refs(dashboard) if ref.get("type") == "prometheus"]
    assert refs and all(ref["uid"] == "${datasource}" for ref in refs)
    assert "aws-ops-prometheus" not in path.read_text()  # the provisioned uid stays out of the dashboards


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_template_variables(path: Path):
    dashboard = _load(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"project", "account"} <= variables.keys()
    if dashboard["uid"] in {"aws-ops-cost", "aws-ops-health"}:
        assert "service" in variables
    for name in ("project", "account", "service"):
        if name in variables:
            var = variables[name]
            assert var["multi"] and var["includeAll"]
    # "All" accounts means the selected projects' accounts, never ".*": metrics without a project label
    # (exporter health, Health subscriptions) would otherwise show every project's accounts.
    assert "allValue" not in variables["account"]
    text = json.dumps([t["expr"] for p in _panels(dashboard) for t in p["targets"]])
    used = set(re.findall(r"\$\{?(\w+)", text))
    # every variable the panels use is defined (or a Grafana built-in), and every filter variable narrows
    # something: the panels, or another variable's options (project → account on the exporter dashboard)
    assert used - variables.keys() <= {"__rate_interval", "__range", "__interval"}
    used |= set(re.findall(r"\$\{?(\w+)", json.dumps([v.get("query") for v in variables.values()])))
    assert set(variables) - {"datasource"} <= used


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_units(path: Path):
    for panel in _panels(_load(path)):
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit, f"{panel['title']}: no unit"
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if panel["type"] in {"stat", "bargauge", "timeseries"}:
            if "* 100" in exprs:
                assert unit == "percent", panel["title"]
            elif re.search(r"_usd\b|_usd:|_usd_total", exprs):
                assert unit == "currencyUSD", panel["title"]
            elif "_seconds" in exprs and "timestamp" not in exprs:
                assert unit == "s", panel["title"]


def test_cost_dashboard_has_the_panels_the_issue_asks_for():
    titles = " | ".join(p["title"] for p in _panels(_load(GRAFANA / "dashboards" / "aws-ops-cost.json"))).lower()
    for words in ("yesterday", "month to date", "last month", "by project", "by account", "top services",
                  "daily cost", "month over month", "spikes", "budget"):
        assert words in titles, words


def test_recording_rules_the_dashboards_use_exist():
    recorded = {rule["record"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
                for rule in group["rules"] if "record" in rule}
    for path in DASHBOARD_FILES:
        for panel in _panels(_load(path)):
            for target in panel["targets"]:
                for name in re.findall(r"\b[a-z_]+:[a-z_]+:[a-z_]+\b", target["expr"]):
                    assert name in recorded, f"{path.name} {panel['title']}: {name} is not a recording rule"


def test_dashboards_link_to_each_other():
    dashboards = [_load(p) for p in DASHBOARD_FILES]
    uids = {d["uid"] for d in dashboards}
    assert len(uids) == len(dashboards)
    for dashboard in dashboards:
        assert "aws-ops" in dashboard["tags"]
        links = dashboard["links"] + [link for panel in _panels(dashboard) for link in panel.get("links", [])]
        targets = {re.match(r"/d/([\w-]+)", link["url"]).group(1) for link in dashboard["links"]}
        assert targets == uids - {dashboard["uid"]}  # the other three, top right
        for link in links:
            assert re.match(r"/d/([\w-]+)", link["url"]).group(1) in uids, link
            # time range, project and account go along; service does not (cost and Health name services
            # differently: a cost service would blank the Health dashboard)
            assert "${__url_time_range}" in link["url"] and "${project:queryparam}" in link["url"]
            assert "service" not in link["url"] and not link.get("includeVars")


def test_provisioning_loads_the_dashboards_and_a_prometheus_datasource():
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [prometheus] = [d for d in datasources["datasources"] if d["type"] == "prometheus"]
    assert prometheus["isDefault"]
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "aws-ops.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib/grafana/dashboards")


def test_cloudwatch_dashboard_gets_a_row_per_namespace_of_your_own_config(tmp_path):
    generator = _generator()
    from tests.conftest import write_config

    path = write_config(tmp_path, {
        "accounts": [{"id": "111111111111", "name": "a", "project": "p", "role_arn": "arn:aws:iam::111111111111:role/r"}],
        "collectors": {"cloudwatch": {"enabled": True, "queries": [
            {"namespace": "AWS/SQS", "metric": "ApproximateNumberOfMessagesVisible", "dimensions": ["QueueName"],
             "stats": ["Maximum"]},
            {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"InstanceId": "i-0abc"},
             "stats": ["Average"]}]}}})
    assert generator.main(["--config", str(path), "--out", str(tmp_path / "out")]) == 0
    board = json.loads((tmp_path / "out" / "aws-ops-cloudwatch.json").read_text())
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows[:2] == ["AWS/SQS", "AWS/EC2"]
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert any(e.startswith("aws_sqs_approximate_number_of_messages_visible_maximum{") for e in exprs)
    cpu = next(p for p in board["panels"] if p["title"] == "CPUUtilization, Average")
    assert cpu["fieldConfig"]["defaults"]["unit"] == "percent"
    assert "{{dimension_InstanceId}}" in cpu["targets"][0]["legendFormat"]


def test_cloudwatch_dashboard_legends_follow_labels_snake_case(tmp_path):
    from tests.conftest import write_config

    path = write_config(tmp_path, {
        "accounts": [{"id": "111111111111", "name": "a", "project": "p", "role_arn": "arn:aws:iam::111111111111:role/r"}],
        "collectors": {"cloudwatch": {"enabled": True, "labels_snake_case": True, "queries": [
            {"namespace": "AWS/RDS", "metric": "FreeStorageSpace", "dimensions": ["DBInstanceIdentifier"],
             "stats": ["Minimum"]}]}}})
    assert _generator().main(["--config", str(path), "--out", str(tmp_path / "out")]) == 0
    board = json.loads((tmp_path / "out" / "aws-ops-cloudwatch.json").read_text())
    panel = next(p for p in board["panels"] if p["title"] == "FreeStorageSpace, Minimum")
    assert panel["targets"][0]["legendFormat"].endswith("{{dimension_dbinstance_identifier}}")
