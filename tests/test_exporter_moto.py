"""The exporter against moto's server over real HTTP: STS AssumeRole per account, Cost Explorer, failures."""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
import json
import logging
import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App
from exporter.server import WebServer
from tests.aws_helpers import (
    CostExplorerStandIn, account_doc, config_for, daily_response, deny_cost_explorer, disable_iam_auth,
    enable_iam_auth, monthly_response, provision_roles, serve, standard_seed,
)
from tests.conftest import ROOT, load_fixture, write_config

AS_OF = dt.date(2026, 11, 25)


def samples(text: str | bytes, name: str) -> dict[tuple, float]:
    """{sorted label items: value} for one metric name (after the parser strips _total from counters)."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def by(labels_subset: dict[str, str], found: dict[tuple, float]) -> dict[tuple, float]:
    return {k: v for k, v in found.items() if labels_subset.items() <= dict(k).items()}


def build(config, **kw) -> App:
    return App.build(config, process_metrics=False, **kw)


def test_pagination_and_exact_decimals_end_to_end(aws):
    config = config_for(1)
    aws.seed_cost("000000000001", [load_fixture("ce", "GetCostAndUsage.daily.page1.json"),
                                   load_fixture("ce", "GetCostAndUsage.daily.page2.json"),
                                   load_fixture("ce", "GetCostAndUsage.monthly.json")])
    app = build(config)
    app.collect_once(AS_OF)
    text = app.exposition.metrics().decode()

    daily = samples(text, "aws_cost_usd")
    assert by({"granularity": "daily"}, daily) == {
        (("account", "acct-1"), ("account_id", "000000000001"), ("granularity", "daily"), ("project", "proj-1"),
         ("service", s)): v
        for s, v in {"Amazon Elastic Compute Cloud - Compute": 398.5, "Amazon Simple Storage Service": 44.1000000001,
                     "Tax": 0.0}.items()}
    assert set(samples(text, "aws_cost_month_to_date_usd").values()) == {9120.4, 1050.0000000001}
    # The day on page 1 (the 23rd) feeds the baseline: 412.0712345678 / 14 for EC2.
    baseline = {dict(k)["service"]: v for k, v in samples(text, "aws_cost_daily_baseline_usd").items()}
    assert baseline["Amazon Elastic Compute Cloud - Compute"] == pytest.approx(412.0712345678 / 14)

    # Three Cost Explorer requests for the cost (two pages of DAILY + MONTHLY), and one per spiking service for
    # its drivers: yesterday's EC2 is 13× its baseline and S3 is new since the baseline window. Five cents.
    assert app.clients.stats.requests_for("ce", "GetCostAndUsage") == 5
    assert samples(text, "aws_exporter_cost_explorer_spend_usd_total") == {(): 0.05}
    spikes = app.holder.current.result("cost", "000000000001").detail.signals.drivers
    assert [s.service for s in spikes] == ["Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service"]

    snapshot = json.loads(app.exposition.snapshot_json())
    records = snapshot["collectors"]["cost"]["accounts"]["000000000001"]["records"]
    kms = [r for r in records if r["service"] == "AWS Key Management Service"]
    assert kms == [{"kind": "cost", "service": "AWS Key Management Service", "granularity": "daily",
                    "period_start": "2026-11-23", "period_end": "2026-11-24", "amount": "0.0000001234",
                    "unit": "USD", "metric": "AmortizedCost", "estimated": False}]
    assert Decimal(kms[0]["amount"]) == Decimal("0.0000001234")


def test_with_62_days_of_history_one_request_a_refresh_gives_last_month_and_month_to_date(aws):
    """The DAILY window then holds every day of last month: MONTHLY would cost another cent for nothing."""
    aws.seed_cost("000000000001", [daily_response(AS_OF - dt.timedelta(days=62), 62, {"Amazon EC2": "1.25"})])
    app = build(config_for(1, collectors={"cost": {"enabled": True, "history_days": 62}}))
    app.collect_once(AS_OF)
    text = app.exposition.metrics().decode()
    assert app.clients.stats.requests_for("ce", "GetCostAndUsage") == 1
    assert samples(text, "aws_exporter_cost_explorer_spend_usd_total") == {(): 0.01}
    ec2 = {dict(k)["granularity"]: v for k, v in samples(text, "aws_cost_usd").items()}
    assert ec2 == {"daily": 1.25, "monthly": 31 * 1.25}  # October 2026
    assert list(samples(text, "aws_cost_month_to_date_usd").values()) == [24 * 1.25]  # November 1st-24th


def test_assume_role_once_per_credential_lifetime_and_refreshed_before_expiry(aws):
    offset = [dt.timedelta(0)]

    def clock():
        return dt.datetime.now(dt.timezone.utc) + offset[0]  # clock-ok: botocore compares expiries with it

    config = config_for(1, 2)
    for n in (1, 2):
        aws.seed_cost(f"{n:012d}", standard_seed(AS_OF, {"Amazon EC2": "1"}))
    app = build(config)
    app.clients._clock = clock  # botocore's refresh clock, moved forward below
    app.collect_once(AS_OF)
    app.collect_once(AS_OF)
    assert app.clients.stats.requests_for("sts", "AssumeRole") == 2  # one per account, not per call

    # moto's credentials live an hour; 55 minutes later botocore must refresh them before use. (moto stamps
    # the new ones with its own clock, so our shifted clock sees them near expiry too: at least one refresh
    # per account is what we can assert.)
    offset[0] = dt.timedelta(minutes=55)
    app.collect_once(AS_OF)
    assert app.clients.stats.requests_for("sts", "AssumeRole") >= 4
    up = samples(app.exposition.metrics(), "aws_exporter_collector_up")
    assert set(up.values()) == {1.0}


@pytest.fixture
def iam_fleet(aws, monkeypatch):
    """Accounts 1 and 2 assumable, account 3 not (the main identity may not assume its role); IAM enforced."""
    ids = [f"{n:012d}" for n in (1, 2, 3)]
    keys = provision_roles(ids, allowed=ids[:2])
    for n in (1, 2):
        aws.seed_cost(f"{n:012d}", standard_seed(AS_OF, {"Amazon EC2": f"{n}00.25"}))
    for key, value in keys.items():
        monkeypatch.setenv(key, value)
    enable_iam_auth(aws.endpoint)
    yield keys
    disable_iam_auth(aws.endpoint)


def test_one_account_denied_while_the_others_succeed(iam_fleet, caplog):
    app = build(config_for(1, 2, 3))
    with caplog.at_level(logging.INFO):
        app.collect_once(AS_OF)
    text = app.exposition.metrics().decode()
    up = {dict(k)["account"]: v for k, v in samples(text, "aws_exporter_collector_up").items()}
    assert up == {"acct-1": 1.0, "acct-2": 1.0, "acct-3": 0.0}
    accounts_with_cost = {dict(k)["account"] for k in samples(text, "aws_cost_usd")}
    assert accounts_with_cost == {"acct-1", "acct-2"}
    assert ("sts", "AssumeRole", "AccessDenied") in app.clients.stats.view().errors

    failures = [r.getMessage() for r in caplog.records if "collect_failed" in r.getMessage()]
    assert len(failures) == 1 and "account=acct-3" in failures[0] and "AccessDenied" in failures[0]
    assert "\n" not in failures[0] and not caplog.records[-1].exc_info

    # Secrets never leave the process: not in logs, metrics or the snapshot.
    everything = text + app.exposition.snapshot_json().decode() + caplog.text
    assert iam_fleet["AWS_SECRET_ACCESS_KEY"] not in everything
    assert iam_fleet["AWS_ACCESS_KEY_ID"] not in everything


def test_a_failing_account_keeps_its_last_good_values_with_their_age(iam_fleet, aws):
    app = build(config_for(1, 2))
    app.collect_once(AS_OF)
    first = samples(app.exposition.metrics(), "aws_exporter_collector_last_success_timestamp_seconds")

    disable_iam_auth(aws.endpoint)  # an administrator changes the role's policy
    deny_cost_explorer("000000000002")
    enable_iam_auth(aws.endpoint)
    app.collect_once(AS_OF)
    text = app.exposition.metrics().decode()
    up = {dict(k)["account"]: v for k, v in samples(text, "aws_exporter_collector_up").items()}
    assert up == {"acct-1": 1.0, "acct-2": 0.0}
    kept = by({"account": "acct-2", "granularity": "daily"}, samples(text, "aws_cost_usd"))
    assert list(kept.values()) == [200.25]
    last = samples(text, "aws_exporter_collector_last_success_timestamp_seconds")
    key2 = (("account", "acct-2"), ("collector", "cost"))
    key1 = (("account", "acct-1"), ("collector", "cost"))
    assert last[key2] == first[key2]  # the age of what is served keeps growing
    assert last[key1] > first[key1]
    snapshot = json.loads(app.exposition.snapshot_json())["collectors"]["cost"]["accounts"]["000000000002"]
    assert snapshot["up"] is False and "AccessDenied" in snapshot["error"] and "\n" not in snapshot["error"]
    assert snapshot["records"]


def test_throttling_is_retried_and_counted(aws, monkeypatch):
    as_of = AS_OF
    seed = standard_seed(as_of, {"Amazon EC2": "5"})
    stand_in = CostExplorerStandIn([("error", "LimitExceededException", "Rate exceeded"), *seed])
    with serve(stand_in.handler()) as ce_endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", ce_endpoint)
        app = build(config_for(1, aws={"max_attempts": 3}))
        app.collect_once(as_of)
    text = app.exposition.metrics().decode()
    assert list(samples(text, "aws_exporter_collector_up").values()) == [1.0]
    assert samples(text, "aws_exporter_api_throttles_total") == {  # every operation it may call, from 0
        (("operation", "GetCostAndUsage"), ("service", "ce")): 1.0,
        (("operation", "AssumeRole"), ("service", "sts")): 0.0,
        (("operation", "GetCallerIdentity"), ("service", "sts")): 0.0}
    assert samples(text, "aws_exporter_api_errors_total")[
        (("error", "LimitExceededException"), ("operation", "GetCostAndUsage"), ("service", "ce"))] == 1.0
    assert samples(text, "aws_exporter_api_requests_total")[(("operation", "GetCostAndUsage"), ("service", "ce"))] == 3.0
    assert samples(text, "aws_exporter_cost_explorer_spend_usd_total") == {(): 0.02}  # throttled requests are not billed
    assert [t for t, _ in stand_in.requests] == ["AWSInsightsIndexService.GetCostAndUsage"] * 3


def test_throttled_after_retries_or_timed_out_accounts_fail_alone(aws, monkeypatch):
    seed = standard_seed(AS_OF, {"Amazon EC2": "5"})
    script = [("error", "LimitExceededException", "Rate exceeded")] * 2 + [("sleep", 2.0)] * 2 + seed
    stand_in = CostExplorerStandIn(script)
    with serve(stand_in.handler()) as ce_endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", ce_endpoint)
        # acct-1 is throttled on both its attempts; both of acct-2's attempts time out; acct-3 is served.
        # Accounts are collected one after another, in config order, so the script lines up with them.
        app = build(config_for(1, 2, 3, aws={"max_attempts": 2, "read_timeout": "1s"}))
        app.collect_once(AS_OF)
    snapshot = json.loads(app.exposition.snapshot_json())["collectors"]["cost"]["accounts"]
    assert snapshot["000000000001"]["error"].startswith("LimitExceededException")
    assert "ReadTimeout" in snapshot["000000000002"]["error"]
    assert snapshot["000000000003"]["up"] is True
    assert [a["up"] for a in snapshot.values()] == [False, False, True]


def test_bounded_concurrency_collects_every_account(aws):
    numbers = (1, 2, 3, 4, 5)
    for n in numbers:
        aws.seed_cost(f"{n:012d}", standard_seed(AS_OF, {"Amazon EC2": str(n)}))
    app = build(config_for(*numbers, aws={"concurrency": 3}))
    app.collect_once(AS_OF)
    daily = samples(app.exposition.metrics(), "aws_cost_usd")
    got = {dict(k)["account"]: v for k, v in by({"granularity": "daily"}, daily).items()}
    assert got == {f"acct-{n}": float(n) for n in numbers}


def test_scrapes_never_call_aws_and_reuse_the_rendered_snapshot(aws):
    aws.seed_cost("000000000001", standard_seed(AS_OF, {"Amazon EC2": "7.5"}))
    app = build(config_for(1))
    app.collect_once(AS_OF)
    requests_before, renders_before = app.clients.stats.view().requests, app.exposition.renders
    server = WebServer("127.0.0.1", 0, app.exposition, lambda: app.holder.current)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client() as http:
            plain = http.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"})
            for _ in range(25):
                zipped = http.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"})
            snapshot = http.get(f"{base}/snapshot", headers={"Accept-Encoding": "identity"}).json()
            snapshot_gz = http.get(f"{base}/snapshot", headers={"Accept-Encoding": "gzip"})
            refused = http.get(f"{base}/metrics", headers={"Accept-Encoding": "identity, gzip;q=0"})
            weighted = http.get(f"{base}/metrics", headers={"Accept-Encoding": "br;q=1.0, gzip;q=0.5"})
            assert http.get(f"{base}/healthz").status_code == 200
            landing = http.get(f"{base}/")
            assert http.get(f"{base}/nope").status_code == 404
    finally:
        server.stop()
    assert app.clients.stats.view().requests == requests_before
    assert app.exposition.renders == renders_before
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in refused.headers and refused.headers["Vary"] == "Accept-Encoding"
    assert refused.text == plain.text and weighted.headers["Content-Encoding"] == "gzip"
    # One gzip member any client reads whole: the cached snapshot part and the live counters.
    assert samples(zipped.text, "aws_cost_usd") == samples(plain.text, "aws_cost_usd") != {}
    assert samples(zipped.text, "aws_exporter_api_requests_total") == samples(plain.text, "aws_exporter_api_requests_total") != {}
    body = app.exposition.metrics(gzipped=True)
    assert gzip.decompress(body) == app.exposition.metrics()
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body) == app.exposition.metrics()  # single member
    assert snapshot["collectors"]["cost"]["accounts"]["000000000001"]["up"] is True
    assert snapshot_gz.headers["Content-Encoding"] == "gzip" and snapshot_gz.json() == snapshot
    assert "/metrics" in landing.text and "000000000001" in landing.text


def _run_cli(aws, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, **aws.env(), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_cli_once_on_the_first_of_a_month(aws, tmp_path):
    as_of = dt.date(2026, 12, 1)
    services = {"Amazon EC2": "12.5", "AWS Lambda": "0.0000001234"}
    aws.seed_cost("000000000001", [daily_response(dt.date(2026, 11, 16), 15, services),
                                   monthly_response([(dt.date(2026, 11, 1), dt.date(2026, 12, 1), services)])])
    path = write_config(tmp_path, {"accounts": [account_doc(1)], "collectors": {"cost": {"enabled": True}}})
    proc = _run_cli(aws, "--config", str(path), "--once", "--as-of", as_of.isoformat())
    assert proc.returncode == 0, proc.stderr
    families = {f.name: f for f in text_string_to_metric_families(proc.stdout)}
    # a real $0 on the 1st (no complete day yet), not a gap, and nothing failed
    assert {s.labels["service"]: s.value for s in families["aws_cost_month_to_date_usd"].samples} == {
        "Amazon EC2": 0.0, "AWS Lambda": 0.0}
    monthly = [s for s in families["aws_cost_usd"].samples if s.labels["granularity"] == "monthly"]
    assert {s.labels["service"]: s.value for s in monthly} == {"Amazon EC2": 12.5, "AWS Lambda": 1.234e-07}
    assert [s.value for s in families["aws_exporter_collector_up"].samples] == [1.0]
    period = {s.labels["granularity"]: s.value for s in families["aws_cost_period_start_timestamp_seconds"].samples}
    assert period == {"daily": dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc).timestamp(),
                      "monthly": dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp(),
                      "month_to_date": dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc).timestamp()}


@pytest.mark.parametrize("args,message", [
    (["--once", "--as-of", "2026-13-01"], "not a date"),
    (["--as-of", "2026-11-01"], "--as-of needs --once"),
    ([], "--config FILE is required"),
    (["--web.listen-address", "nowhere"], "--web.listen-address"),
])
def test_cli_bad_arguments_exit_2(aws, tmp_path, args, message):
    path = write_config(tmp_path, {"accounts": [account_doc(1)]})
    full = (["--config", str(path)] if args and "--as-of" in args and "--once" not in args else []) + args
    if args and args[0] == "--web.listen-address":
        full = ["--config", str(path), *args]
    proc = _run_cli(aws, *full, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr


def test_cli_bad_config_exits_2_before_calling_aws(aws, tmp_path):
    path = write_config(tmp_path, {"accounts": [{**account_doc(1), "role_arn": "nope"}]})
    proc = _run_cli(aws, "--config", str(path), "--once", timeout=60)
    assert proc.returncode == 2
    assert "accounts[0].role_arn: not an IAM role ARN: 'nope'" in proc.stderr
    assert proc.stdout == ""


def test_evicted_clients_do_not_cost_another_assume_role(aws):
    numbers = (1, 2, 3)
    for n in numbers:
        aws.seed_cost(f"{n:012d}", standard_seed(AS_OF, {"Amazon EC2": str(n)}))
    app = build(config_for(*numbers, aws={"client_cache_size": 1}))
    app.collect_once(AS_OF)
    app.collect_once(AS_OF)
    assert len(app.clients._clients) == 1  # memory stays bounded …
    assert app.clients.stats.requests_for("sts", "AssumeRole") == 3  # … and credentials are still reused
    up = samples(app.exposition.metrics(), "aws_exporter_collector_up")
    assert list(up.values()) == [1.0, 1.0, 1.0]


def test_every_accounts_clients_sign_with_its_own_role_though_made_from_one_session(aws):
    config = config_for(1, 2, aws={"client_cache_size": 1})  # every client below evicts the one before
    app = build(config)
    one, two = config.accounts

    def caller(account) -> str:
        return app.clients.for_account(account, "sts").get_caller_identity()["Arn"]

    arns = [caller(one), caller(two), caller(one), caller(two)]
    assert [arn.split(":")[4] for arn in arns] == [one.id, two.id, one.id, two.id]
    assert all(":assumed-role/" in arn and arn.endswith(f"-{id_}") for arn, id_ in zip(arns, (one.id, two.id) * 2))
    # A service that keeps data per account: what account 1 writes, account 2 does not see.
    app.clients.for_account(one, "cloudwatch").put_metric_data(
        Namespace="Bench", MetricData=[{"MetricName": "Written", "Value": 1.0}])
    assert [m["MetricName"] for m in app.clients.for_account(one, "cloudwatch").list_metrics(
        Namespace="Bench")["Metrics"]] == ["Written"]
    assert app.clients.for_account(two, "cloudwatch").list_metrics(Namespace="Bench")["Metrics"] == []
    assert len(app.clients._clients) == 1
    assert app.clients.stats.requests_for("sts", "AssumeRole") == 2  # re-made clients reuse the credentials
