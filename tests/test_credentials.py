"""A clean first run: the main credentials checked at start (one line when they fail, exit 2 with --once, the
exporter up and retrying when serving), --check-credentials, --once's exit codes, counters that start at 0,
the main region and STS's regional endpoint."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import NoCredentialsError
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App
from exporter.aws import AwsClients, sts_region
from exporter.config import AwsSettings, ConfigError, parse
from exporter.credentials import backoff
from tests.aws_helpers import (CostExplorerStandIn, account_doc, disable_iam_auth, enable_iam_auth, provision_roles,
                               serve, standard_seed, wait_for)
from tests.conftest import AWS_TEST_UNSET, ROOT, free_port, write_config
from tests.test_discovery import Organization
from tests.test_prometheus_rules import require_tool

AS_OF = dt.date(2026, 11, 25)


def _env(**overrides: str) -> dict[str, str]:
    """The process's environment without any AWS credentials, profile, endpoint or instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    env.update({"PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_DEFAULT_REGION": "us-east-1"})
    env.update(overrides)
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def _config(tmp_path: Path, *numbers: int, **sections) -> Path:
    return write_config(tmp_path, {"accounts": [account_doc(n) for n in numbers],
                                   "collectors": {"cost": {"enabled": True}}, **sections})


def _sso_profile(tmp_path: Path) -> dict[str, str]:
    """An AWS IAM Identity Center profile whose cached token expired (botocore reads it, no network)."""
    start_url = "https://example.awsapps.com/start"
    cache = tmp_path / "home" / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    (cache / f"{hashlib.sha1(start_url.encode()).hexdigest()}.json").write_text(json.dumps(  # noqa: S324 - botocore's
        {"startUrl": start_url, "region": "us-east-1", "accessToken": "expired",
         "expiresAt": "2020-01-01T00:00:00Z"}))
    config = tmp_path / "home" / ".aws" / "config"
    config.write_text(f"[profile team]\nsso_start_url = {start_url}\nsso_region = us-east-1\n"
                      "sso_account_id = 111111111111\nsso_role_name = ReadOnly\n")
    return {"HOME": str(tmp_path / "home"), "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "team"}


class NotSts(BaseHTTPRequestHandler):
    """What answers when AWS_ENDPOINT_URL points at something else: an empty 404, or a 200 HTML page."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>Sign in</body></html>" if self.path.startswith("/html") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ---------------------------------------------------------------------------------- --once, no credentials


@pytest.mark.parametrize("case,reason,says", [
    ("none", "NoCredentials", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ("profile", "ProfileNotFound", "the AWS profile 'nope' is in no AWS config file"),
    ("sso", "SSOTokenExpired", "aws sso login"),
    ("unreachable", "EndpointUnreachable", "cannot reach STS in eu-west-1"),
    ("empty", "MalformedResponse", "is not STS's"),
    ("html", "MalformedResponse", "is not STS's"),
])
def test_once_without_working_credentials_exits_2_with_one_line(tmp_path, case, reason, says):
    with serve(NotSts) as not_sts:
        proc = _once_with(tmp_path, case, not_sts)
    line = _one_line(proc)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "event=main_credentials_failed" in line and f"reason={reason} " in line and says in line, line
    assert "secret" not in line


def _once_with(tmp_path: Path, case: str, not_sts: str) -> subprocess.CompletedProcess[str]:
    keys = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    env = {"none": lambda: _env(),
           "profile": lambda: _env(AWS_PROFILE="nope"),
           "sso": lambda: _env(**_sso_profile(tmp_path)),
           "unreachable": lambda: _env(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
                                       AWS_REGION="eu-west-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}"),
           "empty": lambda: _env(**keys, AWS_ENDPOINT_URL=not_sts),
           "html": lambda: _env(**keys, AWS_ENDPOINT_URL=f"{not_sts}/html")}[case]()
    return _cli(env, "--config", str(_config(tmp_path, 1)), "--once")


def test_an_access_key_aws_does_not_know_is_its_error_code(aws, tmp_path):
    enable_iam_auth(aws.endpoint)
    try:
        proc = _cli(_env(**{**aws.env(), "AWS_ACCESS_KEY_ID": "AKIAUNKNOWN00000000", "AWS_SECRET_ACCESS_KEY": "nope"}),
                    "--config", str(_config(tmp_path, 1)), "--once")
    finally:
        disable_iam_auth(aws.endpoint)
    line = _one_line(proc)
    assert proc.returncode == 2 and "reason=InvalidClientTokenId" in line and "AWS_ACCESS_KEY_ID" in line, line


# ------------------------------------------------------------------------------------ --once, exit codes


def test_once_exits_0_and_reports_the_main_credentials_up(aws, tmp_path):
    aws.seed_cost("000000000001", standard_seed(AS_OF, {"Amazon EC2": "1.5"}))
    proc = _cli(_env(**aws.env()), "--config", str(_config(tmp_path, 1)), "--once", "--as-of", AS_OF.isoformat())
    assert proc.returncode == 0, proc.stderr
    families = {f.name: f for f in text_string_to_metric_families(proc.stdout)}
    assert [s.value for s in families["aws_exporter_main_credentials_up"].samples] == [1.0]
    assert "sts:GetCallerIdentity" in families["aws_exporter_main_credentials_up"].documentation
    requests = {(s.labels["service"], s.labels["operation"]): s.value
                for s in families["aws_exporter_api_requests"].samples}
    assert requests[("sts", "GetCallerIdentity")] == 1 and requests[("sts", "AssumeRole")] == 1
    assert "event=main_credentials_ok account_id=123456789012" in proc.stderr


@pytest.mark.parametrize("failing,code", [(2, 1), (1, 0)])
def test_once_exits_1_only_when_a_collector_failed_for_every_account(aws, tmp_path, failing, code):
    """Two accounts; Cost Explorer refuses the first ``failing`` requests (AccessDenied is not retried, and the
    first account's first request fails it)."""
    refuse = ("error", "AccessDeniedException", "not authorized to perform ce:GetCostAndUsage")
    stand_in = CostExplorerStandIn([refuse] if failing == 1 else [refuse] * 10)
    with serve(stand_in.handler()) as endpoint:
        proc = _cli(_env(**aws.env(), AWS_ENDPOINT_URL_COST_EXPLORER=endpoint),
                    "--config", str(_config(tmp_path, 1, 2)), "--once", "--as-of", AS_OF.isoformat())
    assert proc.returncode == code, proc.stderr
    assert "aws_exporter_collector_up" in proc.stdout  # the exposition is printed either way
    assert ("event=once_failed failed=cost" in proc.stderr) == (code == 1)
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------ serving


def test_serving_without_credentials_stays_up_reports_0_and_collects_nothing(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(_config(tmp_path, 1)),
                             "--web.listen-address", f"127.0.0.1:{port}"], env=_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []  # stderr, read as it comes: the check runs beside the server, which starts first
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_for(lambda: any("event=main_credentials_failed" in line for line in lines))
        text = wait_for(lambda: _scrape(port, "aws_exporter_main_credentials_up 0.0"))
        families = {f.name: f for f in text_string_to_metric_families(text)}
        requests = {(s.labels["service"], s.labels["operation"]): s.value
                    for s in families["aws_exporter_api_requests"].samples}
        assert requests == {("ce", "GetCostAndUsage"): 0, ("sts", "AssumeRole"): 0,
                            ("sts", "GetCallerIdentity"): 0}  # no request reached AWS: none was sent
        assert "aws_exporter_collector_up" not in {s.name for f in families.values() for s in f.samples}
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert proc.returncode == 0
    stderr = "".join(lines)
    failed = [line for line in stderr.splitlines() if "event=main_credentials_failed" in line]
    assert len(failed) == 1 and "reason=NoCredentials" in failed[0] and "retry_in_seconds=30" in failed[0]
    assert "Traceback" not in stderr and "collect_start" not in stderr


def _scrape(port: int, wanted: str) -> str | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return text if wanted in text else None


def test_serving_starts_collecting_once_the_credentials_work(aws, tmp_path):
    aws.seed_cost("000000000001", standard_seed(AS_OF, {"Amazon EC2": "1.5"}))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(_config(tmp_path, 1)),
                             "--web.listen-address", f"127.0.0.1:{port}"], env=_env(**aws.env()), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _scrape(port, 'aws_exporter_collector_up{account="acct-1",collector="cost"} 1.0'))
        assert _scrape(port, "aws_exporter_main_credentials_up 1.0")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_the_check_is_retried_with_a_back_off_until_the_credentials_work(aws, caplog):
    app = App.build(parse({"accounts": [account_doc(1)]}), process_metrics=False)
    answers = [NoCredentialsError(), NoCredentialsError(), ("123456789012", "arn:aws:iam::123456789012:user/x")]

    def identity():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    app.clients.caller_identity = identity  # type: ignore[method-assign]
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout=None):  # the back-off's sleeps, recorded instead of slept
            waits.append(timeout)
            return False

    assert app.credentials.wait(Stop()) is True
    assert waits == [30.0, 60.0] and app.credentials.identity == ("123456789012", "arn:aws:iam::123456789012:user/x")
    assert app.clients.stats.view().main_credentials_up is True
    failed = [r for r in caplog.records if "main_credentials_failed" in r.getMessage()]
    assert [("retry_in_seconds=30" in r.getMessage(), "retry_in_seconds=60" in r.getMessage()) for r in failed] == [
        (True, False), (False, True)]
    assert not any(r.exc_info for r in failed)


def test_the_back_off_doubles_up_to_five_minutes():
    delays = backoff()
    assert [next(delays) for _ in range(7)] == [30, 60, 120, 240, 300, 300, 300]


# ------------------------------------------------------------------------------- --check-credentials


def test_check_credentials_tries_each_role_and_lists_the_reason(aws, tmp_path):
    ids = [f"{n:012d}" for n in (1, 2)]
    keys = provision_roles(ids, allowed=ids[:1])
    enable_iam_auth(aws.endpoint)
    try:
        proc = _cli(_env(**{**aws.env(), **keys}), "--check-config", "--check-credentials",
                    "--config", str(_config(tmp_path, 1, 2)))
    finally:
        disable_iam_auth(aws.endpoint)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[0].endswith(": ok (2 accounts; collectors: cost)")
    assert rows[1].split() == ["ACCOUNT", "ROLE", "RESULT"]
    assert rows[2].split()[:3] == ["main", "-", "ok:"] and "user/aws-ops-exporter" in rows[2]
    assert rows[3].split() == ["acct-1", "(000000000001)", "arn:aws:iam::000000000001:role/ops-exporter", "ok"]
    assert rows[4].split()[:4] == ["acct-2", "(000000000002)", "arn:aws:iam::000000000002:role/ops-exporter",
                                   "AccessDenied:"]
    assert rows[5] == "credentials: 1 of 3 failed" and len(rows) == 6
    assert keys["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr


def test_check_credentials_in_an_organization_discovers_then_tries_each_member_role(aws, tmp_path):
    org = Organization()
    web = org.account("web", org.prod, project="web")
    path = write_config(tmp_path, {"organization": {"enabled": True, "member_role_arn":
                                                    "arn:aws:iam::{account_id}:role/ops-exporter"}})
    proc = _cli(_env(**aws.env()), "--check-config", "--check-credentials", "--config", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[3] == ["discovery", "-", "ok:", "2", "accounts", "in", "scope"]
    assert sorted(r[1] for r in rows[4:-1]) == sorted([f"({web})", f"({org.management})"])
    assert all(r[-1] == "ok" for r in rows[4:-1]) and rows[-1] == ["credentials:", "ok"]


def test_check_credentials_with_a_shard_tries_only_its_share(aws, tmp_path):
    from exporter.shards import shard_of

    ids = [f"{n:012d}" for n in range(1, 9)]
    keys = provision_roles(ids, allowed=ids)
    path = _config(tmp_path, *range(1, 9))
    tried: dict[int, list[str]] = {}
    for index in range(3):
        proc = _cli(_env(**{**aws.env(), **keys}), "--check-config", "--check-credentials", "--shard", f"{index}/3",
                    "--config", str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        rows = [line.split() for line in proc.stdout.splitlines()[3:-1]]
        tried[index] = [r[1].strip("()") for r in rows]
        assert tried[index] == [i for i in ids if shard_of(i, 3) == index]
    assert sorted(sum(tried.values(), [])) == ids  # every role tried once over the three replicas


def test_check_credentials_stops_at_main_credentials_that_do_not_work(tmp_path):
    proc = _cli(_env(AWS_PROFILE="nope"), "--check-config", "--check-credentials",
                "--config", str(_config(tmp_path, 1)))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[2].startswith("main") and "ProfileNotFound: the AWS profile 'nope'" in rows[2]
    assert rows[3] == "credentials: 1 of 1 failed"


def test_check_credentials_needs_check_config(tmp_path):
    proc = _cli(_env(), "--check-credentials", "--config", str(_config(tmp_path, 1)))
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1] == (
        "aws-ops-exporter: error: --check-credentials goes with --check-config")


# ------------------------------------------------------------------------------- counters from 0


def _zero_series(app: App, name: str) -> set[tuple[str, str]]:
    text = app.exposition.metrics().decode()
    return {(s.labels["service"], s.labels["operation"]) for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == name and s.value == 0}


PER_ACCOUNT = {
    "accounts": [account_doc(1)],
    "collectors": {"cost": {"enabled": True}, "health": {"enabled": True},
                   "cloudwatch": {"enabled": True, "queries": [{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                                                "stats": ["Average"]}]}}}
ORGANIZATION = {
    "organization": {"enabled": True, "role_arn": "arn:aws:iam::111111111111:role/org-reader",
                     "include_ous": ["ou-ab12-cdef3456"]},
    "collectors": {"cost": {"enabled": True, "mode": "payer"}, "health": {"enabled": True, "organization": True},
                   "cloudwatch": {"enabled": True, "monitoring_account": True,
                                  "queries": [{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                               "stats": ["Average"]}]}}}


@pytest.mark.parametrize("doc,expected", [
    (PER_ACCOUNT, {("sts", "GetCallerIdentity"), ("sts", "AssumeRole"), ("ce", "GetCostAndUsage"),
                   ("health", "DescribeEvents"), ("health", "DescribeEntityAggregates"),
                   ("health", "DescribeEventDetails"), ("cloudwatch", "ListMetrics"),
                   ("cloudwatch", "GetMetricData")}),
    (ORGANIZATION, {("sts", "GetCallerIdentity"), ("sts", "AssumeRole"), ("ce", "GetCostAndUsage"),
                    ("health", "DescribeEventsForOrganization"), ("health", "DescribeAffectedAccountsForOrganization"),
                    ("health", "DescribeEntityAggregatesForOrganization"),
                    ("health", "DescribeEventDetailsForOrganization"), ("cloudwatch", "ListMetrics"),
                    ("cloudwatch", "GetMetricData"), ("oam", "ListSinks"), ("oam", "ListAttachedLinks"),
                    ("organizations", "ListAccounts"), ("organizations", "ListTagsForResource"),
                    ("organizations", "ListParents"), ("organizations", "ListOrganizationalUnitsForParent")}),
    ({**PER_ACCOUNT, "collectors": {"cost": {"enabled": False}, "health": {"enabled": False}}},
     {("sts", "GetCallerIdentity")}),  # nothing enabled: only the start-up check, no role assumed
    ({"organization": {"enabled": True}, "collectors": {"cost": {"enabled": True, "mode": "payer"}}},
     {("sts", "GetCallerIdentity"), ("ce", "GetCostAndUsage"), ("organizations", "ListAccounts"),
      ("organizations", "ListTagsForResource"), ("organizations", "ListParents")}),  # the management account itself
])
def test_request_and_throttle_counters_of_every_operation_start_at_0(doc, expected):
    app = App.build(parse(doc), process_metrics=False)
    assert _zero_series(app, "aws_exporter_api_requests_total") == expected
    assert _zero_series(app, "aws_exporter_api_throttles_total") == expected
    models = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    for service, operation in expected:  # botocore's names, as the request hook counts them
        assert operation in models.client(service).meta.service_model.operation_names


def test_promtool_accepts_the_first_scrape():
    promtool = require_tool("promtool")
    app = App.build(parse(ORGANIZATION), process_metrics=False)
    app.clients.stats.main_credentials(False)
    check = subprocess.run([promtool, "check", "metrics"], input=app.exposition.metrics().decode(),
                           capture_output=True, text=True, timeout=60)
    assert (check.returncode, check.stdout + check.stderr) == (0, "")


# ------------------------------------------------------------------------------- region and STS endpoint


@pytest.mark.parametrize("environment,config_region,region,source", [
    ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-central-1"}, None, "eu-west-1", "AWS_REGION"),
    ({"AWS_DEFAULT_REGION": "eu-central-1"}, None, "eu-central-1", "AWS_DEFAULT_REGION"),
    ({"AWS_REGION": "eu-west-1"}, "ap-south-1", "ap-south-1", "config"),
    ({}, None, "us-east-1", "default"),
])
def test_the_main_region_is_the_configs_else_the_environments(monkeypatch, environment, config_region, region,
                                                              source):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    config = parse({"accounts": [account_doc(1)], **({"aws": {"region": config_region}} if config_region else {})})
    assert (config.aws.region, config.aws.region_source) == (region, source)
    assert config.accounts[0].regions == (region,)  # an account without regions: the main region


def test_a_region_variable_that_is_not_a_region_is_a_config_error(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "europe")
    with pytest.raises(ConfigError) as error:
        parse({"accounts": [account_doc(1)]})
    assert "aws.region: not set, and the environment variable AWS_REGION is not an AWS region: 'europe'" in str(
        error.value)


@pytest.mark.parametrize("region,role_arn,url", [
    ("eu-west-1", "arn:aws:iam::000000000001:role/r", "https://sts.eu-west-1.amazonaws.com/"),
    ("us-east-1", "arn:aws:iam::000000000001:role/r", "https://sts.us-east-1.amazonaws.com/"),
    ("cn-northwest-1", "arn:aws-cn:iam::000000000001:role/r", "https://sts.cn-northwest-1.amazonaws.com.cn/"),
    ("us-east-1", "arn:aws-cn:iam::000000000001:role/r", "https://sts.cn-north-1.amazonaws.com.cn/"),
    ("us-gov-east-1", "arn:aws-us-gov:iam::000000000001:role/r", "https://sts.us-gov-east-1.amazonaws.com/"),
    ("eu-west-1", "arn:aws-us-gov:iam::000000000001:role/r", "https://sts.us-gov-west-1.amazonaws.com/"),
])
def test_sts_is_asked_at_the_regional_endpoint_of_the_roles_partition(monkeypatch, region, role_arn, url):
    for key in (*AWS_TEST_UNSET, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")  # the global endpoint, were it honoured
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    clients = AwsClients(AwsSettings(region=region))
    sent: list[str] = []
    clients.base._session.register("before-send.sts", lambda request, **_: _answer(request, sent))
    clients.base._session.set_credentials("AKIDEXAMPLE", "secret")
    clients.try_assume_role(role_arn, None, "000000000001")
    clients.caller_identity()
    assert sent == [url, f"https://sts.{region}.amazonaws.com{'.cn' if region.startswith('cn-') else ''}/"]
    assert sts_region(role_arn, region) in url


ANSWERS = {
    "AssumeRole": "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
                  "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
                  "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
    "GetCallerIdentity": "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/x</Arn>"
                         "<UserId>X</UserId><Account>000000000001</Account></GetCallerIdentityResult>"
                         "</GetCallerIdentityResponse>",
}


def _answer(request, sent: list[str]) -> AWSResponse:
    """Answers the request here (botocore sends nothing when a before-send handler returns a response)."""
    sent.append(request.url)
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    action = dict(pair.split("=") for pair in body.split("&"))["Action"]

    class Raw:
        def stream(self, **_):
            yield ANSWERS[action].encode()

    return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, Raw())
