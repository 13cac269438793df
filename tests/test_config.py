"""Config validation: every bad file in tests/config/ gives exactly the errors its `# expect:` lines name."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from exporter.config import ConfigError, load, parse, parse_duration, parse_listen_address
from exporter.config.reporter import SummarySettings

CONFIGS = Path(__file__).parent / "config"


def expected_problems(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")  # some bad files are not UTF-8 past their # expect: lines
    return [line.split("# expect: ", 1)[1] for line in text.splitlines() if line.startswith("# expect: ")]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.bad.yml")), ids=lambda p: p.name)
def test_bad_config_lists_every_problem_with_its_path(path: Path):
    with pytest.raises(ConfigError) as err:
        load(path)
    assert sorted(err.value.problems) == sorted(expected_problems(path))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.ok.yml")), ids=lambda p: p.name)
def test_good_config_loads(path: Path):
    config = load(path)
    assert config.accounts or config.organization.enabled


def test_organization_mode_needs_no_accounts_and_no_member_role_when_nothing_runs_per_account():
    config = load(CONFIGS / "organization.ok.yml")
    assert config.accounts == () and config.collectors.per_account() == ()
    assert config.organization.include_ous == ("ou-ab12-34cd56ef",) and config.organization.project_tag == "team"
    assert config.budgets.projects == {"only-discovered": 1000}  # a project only discovered accounts may have
    assert config.collectors.cloudwatch.monitoring_role_arn == "arn:aws:iam::222222222222:role/monitoring-reader"


def test_organization_external_id_comes_from_the_environment_and_goes_to_member_roles_too(monkeypatch):
    monkeypatch.setenv("ORG_EXTERNAL_ID", "org-shared-secret")
    config = parse({"organization": {"enabled": True, "external_id_env": "ORG_EXTERNAL_ID",
                                     "member_role_arn": "arn:aws:iam::{account_id}:role/ops-exporter"}})
    assert config.organization.external_id == "org-shared-secret"
    assert config.organization.member_role("123456789012") == "arn:aws:iam::123456789012:role/ops-exporter"


def test_yaml_anchors_and_merge_keys_work_and_are_not_duplicates():
    config = load(CONFIGS / "merge-keys.ok.yml")
    assert [(a.name, a.project, a.regions) for a in config.accounts] == [
        ("prod-web", "web", ("ap-northeast-2", "us-east-1")), ("stage-web", "web", ("us-east-1",))]


def test_minimum_config_gets_sensible_defaults():
    config = load(CONFIGS / "minimal.ok.yml")
    account = config.accounts[0]
    assert (account.id, account.name, account.project, account.external_id) == ("111111111111", "prod-web", "web", "optional")
    assert config.collectors.enabled() == ("cost",)
    assert config.collectors.cost.interval_seconds == 6 * 3600
    assert config.collectors.cost.metric == "AmortizedCost"
    assert config.collectors.cost.baseline_days == 14
    # Spike drivers on (they cost a request only on a spike), with the reporter's spike thresholds; the other
    # cost signals cost a request every refresh: off.
    cost, summary = config.collectors.cost, SummarySettings()
    assert cost.drivers.enabled and (cost.drivers.spike_ratio, cost.drivers.spike_min_usd) == (
        summary.spike_ratio, summary.spike_min_usd)
    assert (cost.record_types, cost.anomalies, cost.forecast.enabled, cost.forecast.per_account) == (
        False, False, False, False)
    assert config.aws.region == "us-east-1" and config.aws.concurrency == 1
    assert config.web.listen_address == ":9780"


def test_the_repository_example_config_is_valid():
    config = load(Path(__file__).parent.parent / "config.yaml")
    assert config.budgets.projects["web"] == Decimal("50000")


def test_external_id_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROD_EXTERNAL_ID", "s3cr3t-external")
    doc = {"accounts": [{"id": "111111111111", "name": "a", "project": "p",
                         "role_arn": "arn:aws:iam::111111111111:role/r", "external_id_env": "PROD_EXTERNAL_ID"}]}
    assert parse(doc).accounts[0].external_id == "s3cr3t-external"
    monkeypatch.delenv("PROD_EXTERNAL_ID")
    with pytest.raises(ConfigError, match=r"accounts\[0\].external_id_env: environment variable PROD_EXTERNAL_ID is not set"):
        parse(doc)
    monkeypatch.setenv("PROD_EXTERNAL_ID", "has spaces & secrets")
    with pytest.raises(ConfigError) as err:
        parse(doc)
    assert list(err.value.problems) == ["accounts[0].external_id_env: the value of PROD_EXTERNAL_ID: an ExternalId is "
                                  "2-1224 characters of letters, digits and +=,.@:/- (the value is not shown)"]


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text,seconds", [("300s", 300), ("5m", 300), ("6h", 21600), ("1d", 86400), (90, 90), ("0s", None),
                                           ("5 minutes", None), (True, None)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text,expected", [(":9780", ("", 9780)), ("127.0.0.1:80", ("127.0.0.1", 80)),
                                           ("[::1]:9780", ("::1", 9780))])
def test_listen_addresses(text, expected):
    assert parse_listen_address(text) == expected


def test_check_config_exits_2_and_prints_every_problem():
    bad = CONFIGS / "missing-and-duplicates.bad.yml"
    proc = subprocess.run([sys.executable, "-m", "exporter", "--check-config", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    for problem in expected_problems(bad):
        assert problem in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "exporter", "--check-config", "--config", str(CONFIGS / "minimal.ok.yml")],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ok (1 accounts; collectors: cost)" in ok.stdout


def test_check_config_warns_when_the_reports_spikes_are_not_the_exporters(tmp_path):
    """The reporter names spikes with reporter.summary's thresholds, the exporter asks their drivers with
    collectors.cost.drivers': when the file sets them apart, --check-config says so (and still exits 0), and the
    reporter says it once as it starts."""
    account = {"id": "000000000001", "name": "a", "project": "p", "role_arn": "arn:aws:iam::000000000001:role/x"}
    path = tmp_path / "config.yaml"
    import yaml

    def check(reporter: dict) -> subprocess.CompletedProcess:
        path.write_text(yaml.safe_dump({"accounts": [account], "reporter": reporter}))
        return subprocess.run([sys.executable, "-m", "exporter.cli", "--check-config", "--config", str(path)],
                              capture_output=True, text=True, timeout=60)

    same = check({"summary": {"spike_ratio": 2, "spike_min_usd": 10}})
    assert same.returncode == 0 and "warning" not in same.stderr
    apart = check({"summary": {"spike_ratio": 3, "baseline_days": 7}})
    assert apart.returncode == 0, apart.stderr
    warnings = [line for line in apart.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2
    assert "reporter.summary.spike_ratio (3.0) differs from collectors.cost.drivers.spike_ratio (2.0)" in warnings[0]
    assert "reporter.summary.baseline_days (7) differs from collectors.cost.baseline_days (14)" in warnings[1]
    reporter = subprocess.run([sys.executable, "-m", "exporter.reporter.cli", "--config", str(path), "--once",
                               "--date", "2026-06-30", "--dry-run"], capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert reporter.stderr.count("event=config_warning") == 2, reporter.stderr
