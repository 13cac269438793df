"""The shipped Prometheus config and rules, checked and unit-tested by the real promtool.

CI installs Debian's ``prometheus`` package (scripts/test.sh); with CI=true a missing promtool fails
these tests instead of skipping them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, missing

PROMETHEUS_DIR = ROOT / "prometheus"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))


def require_tool(name: str) -> str:
    """The tool's path; fail under CI (where scripts/test.sh installs it), skip on a bare dev machine."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} not found (Debian packages prometheus, prometheus-alertmanager; scripts/test.sh installs them)")
    return path


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd)


def alert_rules() -> dict[str, dict]:
    rules = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules[rule["alert"]] = rule
    return rules


def test_config_and_rules_pass_promtool_check():
    promtool = require_tool("promtool")
    config = run(promtool, "check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    # The rules glob in prometheus.yml must load every rules file we ship.
    for path in RULES:
        assert path.name in config.stdout
    rules = run(promtool, "check", "rules", *RULES)
    assert rules.returncode == 0, rules.stdout + rules.stderr


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(unit_test: Path):
    promtool = require_tool("promtool")
    result = run(promtool, "test", "rules", unit_test.name, cwd=unit_test.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_silent_and_resolving():
    """Each alert has a promtool case where it fires, and a later eval in the same case where it is silent."""
    covered: dict[str, set[str]] = {}
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            fired: set[str] = set()
            for check in sorted(case.get("alert_rule_test", []), key=lambda c: _seconds(c["eval_time"])):
                name = check["alertname"]
                if check.get("exp_alerts"):
                    fired.add(name)
                    covered.setdefault(name, set()).add("fires")
                elif name in fired:
                    covered.setdefault(name, set()).add("resolves")
                else:
                    covered.setdefault(name, set()).add("silent")
    missing = {name: {"fires", "resolves"} - covered.get(name, set()) for name in alert_rules()}
    assert {name: gaps for name, gaps in missing.items() if gaps} == {}


def test_every_alert_explains_itself():
    for name, rule in alert_rules().items():
        annotations = rule.get("annotations", {})
        assert {"summary", "description"} <= annotations.keys(), name
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, name


def _seconds(duration: str) -> int:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    total, number = 0, ""
    for char in duration:
        if char.isdigit():
            number += char
        else:
            total += int(number) * units[char]
            number = ""
    return total


# The thresholds are the rules file's tuning knobs: prove that editing them changes what fires.
SPIKE_SERIES = {
    # service: (yesterday, baseline)
    "Amazon SageMaker": (349.52, 41.02),   # 8.5×, $308.50 over
    "Amazon Redshift": (465.0, 310.0),     # 1.5×, $155 over
    "AWS Lambda": (30.0, 9.5),             # 3.2×, $20.50 over
}


def _spike_case(firing: list[str]) -> dict:
    labels = 'account="data-prod",account_id="310987654321",project="data",service="{service}",job="aws-ops-exporter"'
    series = []
    for service, (yesterday, baseline) in SPIKE_SERIES.items():
        series.append({"series": "aws_cost_usd{granularity=\"daily\"," + labels.format(service=service) + "}",
                       "values": f"{yesterday}+0x60"})
        series.append({"series": "aws_cost_daily_baseline_usd{" + labels.format(service=service) + "}",
                       "values": f"{baseline}+0x60"})
    # ALERTS compares labels only (an alert_rule_test would also compare the annotations' full text).
    return {"interval": "1m", "input_series": series, "promql_expr_test": [{
        "expr": 'ALERTS{alertname="AwsCostSpike", alertstate="firing"}', "eval_time": "45m",
        "exp_samples": [{"labels": "ALERTS{" + ",".join(f'{k}="{v}"' for k, v in {
            "alertname": "AwsCostSpike", "alertstate": "firing", "severity": "warning", "account": "data-prod",
            "account_id": "310987654321", "project": "data", "service": service}.items()) + "}", "value": 1}
            for service in firing],
    }]}


def _with_thresholds(tmp_path: Path, **values: float) -> Path:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for path in RULES:
        shutil.copy(path, rules_dir / path.name)
    thresholds = rules_dir / "thresholds.yml"
    document = yaml.safe_load(thresholds.read_text())
    for rule in document["groups"][0]["rules"]:
        key = rule["record"].split(":")[1]
        if key in values:
            rule["expr"] = f"vector({values.pop(key)})"
    assert not values, f"no such threshold: {values}"
    thresholds.write_text(yaml.safe_dump(document))
    return rules_dir


@pytest.mark.parametrize(("thresholds", "firing"), [
    ({}, ["Amazon SageMaker"]),
    ({"cost_spike_ratio": 10}, []),                                   # SageMaker's 8.5× is now below
    ({"cost_spike_increase_usd": 400}, []),                           # and its $308.50 is below this floor
    ({"cost_spike_ratio": 1.4}, ["Amazon Redshift", "Amazon SageMaker"]),  # Redshift's 1.5× now counts
    ({"cost_spike_increase_usd": 10}, ["AWS Lambda", "Amazon SageMaker"]),  # Lambda's $20.50 now counts
], ids=["defaults", "ratio-raised", "floor-raised", "ratio-lowered", "floor-lowered"])
def test_spike_thresholds_are_tunable_in_thresholds_file(tmp_path: Path, thresholds: dict, firing: list[str]):
    promtool = require_tool("promtool")
    rules_dir = _with_thresholds(tmp_path, **thresholds)
    unit = {"rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))], "evaluation_interval": "1m",
            "tests": [_spike_case(firing)]}
    test_file = tmp_path / "spike.test.yml"
    test_file.write_text(yaml.safe_dump(unit))
    result = run(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr
