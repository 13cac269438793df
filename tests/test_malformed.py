"""No silent bad data: a malformed or truncated AWS answer fails that account's collector (``up 0``, an error
that starts with ``MalformedResponse``, the last good values kept), with one log line and no traceback.

Every shape (a 200 with a truncated body, a body shorter than its Content-Length, an HTML page, well-formed
answers of the wrong shape) against every service the collectors read (Cost Explorer, Health, CloudWatch
GetMetricData, STS AssumeRole), through real boto3 clients talking to :class:`tests.faults.FaultyAws`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.answers import CheckedParser, MalformedResponse, check_body
from exporter.aws import AwsClients
from exporter.collectors.cloudwatch import CloudWatchCollector
from exporter.collectors.cost import CostCollector
from exporter.collectors.health import HealthCollector
from exporter.config import parse
from exporter.model import Snapshot
from exporter.scheduler import Runner
from exporter.snapshot import SnapshotHolder
from tests.aws_helpers import account_doc
from tests.conftest import AWS_TEST_ENV, AWS_TEST_UNSET
from tests.faults import BODY_FAULTS, SECRET, SESSION_TOKEN, SHAPES, FaultyAws, protocol_of

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
AS_OF = NOW.date()
ACCOUNT = "000000000001"

CONFIG = parse({
    "accounts": [account_doc(1)],
    "aws": {"max_attempts": 2},
    "collectors": {
        "cost": {"enabled": True},
        "health": {"enabled": True},
        "cloudwatch": {"enabled": True, "regions": ["us-east-1"], "queries": [
            {"namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"InstanceId": "i-0abc1234"},
             "stats": ["Average"]}]},
    },
})

# (collector, operation): which collector reads which answer; AssumeRole is read on the way to any of them.
READS = [("cost", "GetCostAndUsage"), ("health", "DescribeEvents"), ("cloudwatch", "GetMetricData"),
         ("cost", "AssumeRole")]
CASES = [pytest.param(collector, operation, shape, id=f"{operation}-{shape}")
         for collector, operation in READS
         for shape in BODY_FAULTS + ("wrong_type", "not_a_list", "missing_key")
         if shape in BODY_FAULTS or (operation, shape) in SHAPES]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyAws]:
    for key in AWS_TEST_UNSET:
        monkeypatch.delenv(key, raising=False)
    with FaultyAws() as stand_in:
        for key, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": stand_in.endpoint}.items():
            monkeypatch.setenv(key, value)
        yield stand_in


def collector(name: str, clients: AwsClients) -> Any:
    """One collector over fresh clients (a pass after a fresh start: AssumeRole is asked again)."""
    c = CONFIG.collectors
    if name == "cost":
        return CostCollector(c.cost, lambda account, service: clients.for_account(account, service, "us-east-1"))
    if name == "health":
        return HealthCollector(c.health, lambda account, region: clients.for_account(account, "health", region),
                               clock=lambda: NOW)
    return CloudWatchCollector(c.cloudwatch, lambda account, region: clients.for_account(account, "cloudwatch", region),
                               clock=lambda: NOW)


def one_pass(runner: Runner, name: str) -> tuple[AwsClients, Snapshot]:
    clients = AwsClients(CONFIG.aws, clock=lambda: NOW)
    snapshot = runner.run(collector(name, clients), as_of=AS_OF)
    assert snapshot is not None
    return clients, snapshot


@pytest.mark.parametrize("name,operation,shape", CASES)
def test_a_malformed_answer_fails_the_account_and_keeps_its_last_good_values(
        aws: FaultyAws, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
        name: str, operation: str, shape: str):
    runner = Runner(CONFIG.accounts, SnapshotHolder(Snapshot.empty()))
    _, good = one_pass(runner, name)
    before = good.result(name, ACCOUNT)
    assert before is not None and before.up and before.records, "the good pass collected nothing"

    aws.fault(operation, shape)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        clients, bad = one_pass(runner, name)

    after = bad.result(name, ACCOUNT)
    assert after is not None and not after.up
    assert after.error is not None and after.error.startswith(f"MalformedResponse: {operation}: "), after.error
    assert after.records == before.records and after.last_success == before.last_success
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(" ", 1)[0] for r in lines] == ["event=collect_failed"], caplog.text
    assert "error='MalformedResponse: " in lines[0].getMessage() or 'error="MalformedResponse: ' in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    output = caplog.text + capfd.readouterr().err
    assert "Traceback" not in output
    assert SECRET not in output and SESSION_TOKEN not in output and SECRET not in after.error
    # A metric label carries the class only, never the reason.
    errors = {code for (_, op, code) in clients.stats.view().errors if op == operation}
    assert errors <= {"MalformedResponse"}


def test_the_stand_in_speaks_the_protocol_botocore_uses(aws: FaultyAws):
    """The matrix is only worth something if botocore takes the good answers: one good pass of each collector
    reads a value from every service (and CloudWatch's protocol is the one botocore picks, whichever it is)."""
    runner = Runner(CONFIG.accounts, SnapshotHolder(Snapshot.empty()))
    for name in ("cost", "health", "cloudwatch"):
        _, snapshot = one_pass(runner, name)
        result = snapshot.result(name, ACCOUNT)
        assert result is not None and result.up and result.records, (name, result)
    assert protocol_of("cloudwatch") in {"json", "smithy-rpc-v2-cbor", "query"}
    assert {"AssumeRole", "GetCostAndUsage", "DescribeEvents", "GetMetricData"} <= set(aws.calls)


# ---------------------------------------------------------------------- the checks, protocol by protocol


def answer(body: bytes, content_type: str = "application/x-amz-json-1.1", length: int | None = None) -> dict:
    return {"status_code": 200, "body": body,
            "headers": {"Content-Type": content_type, "Content-Length": str(len(body) if length is None else length)}}


class Shape:
    members = {"Items": object()}
    serialization: dict[str, Any] = {}


@pytest.mark.parametrize("protocol,response,reason", [
    ("json", answer(b'{"ResultsByTime": [{"Time'), "not valid JSON"),
    ("json", answer(b'{"a": 1}', length=90), "answer cut short: 8 of 90 bytes"),
    ("json", answer(b""), "empty body"),
    ("json", answer(b"[1, 2]"), "a JSON list, not an object"),
    ("json", answer(b"<html><body>Sign in</body></html>", "text/html"), "an HTML page"),
    ("query", answer(b"<!DOCTYPE html><html></html>", "text/xml"), "an HTML page"),
    ("query", answer(b"", "text/xml"), "empty body"),
    ("smithy-rpc-v2-cbor", answer(b"\x82\x01\x02", "application/cbor"), "not a CBOR map"),
    ("smithy-rpc-v2-cbor", answer(b"", "application/cbor"), "empty body"),
])
def test_check_body_refuses_what_botocore_would_read_as_empty(protocol: str, response: dict, reason: str):
    with pytest.raises(MalformedResponse, match=reason):
        check_body(protocol, response, Shape())


def test_check_body_lets_whole_answers_and_errors_through():
    check_body("json", answer(b'{"Items": []}'), Shape())
    check_body("smithy-rpc-v2-cbor", answer(b"\xa0", "application/cbor"), Shape())  # an empty map
    check_body("json", answer(b""), None)  # an operation without output


def test_a_truncated_cbor_answer_is_malformed_not_a_crash():
    import botocore.session
    from botocore.parsers import create_parser

    from tests.faults import cbor

    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("GetMetricData").output_shape
    parser = CheckedParser(create_parser("smithy-rpc-v2-cbor"), "smithy-rpc-v2-cbor")
    body = cbor({"MetricDataResults": [{"Id": "m0", "Label": "a" * 40, "Values": [1.0, 2.0]}]})
    assert parser.parse(answer(body, "application/cbor"), shape)["MetricDataResults"][0]["Values"] == [1.0, 2.0]
    with pytest.raises(MalformedResponse, match="unreadable smithy-rpc-v2-cbor answer"):
        parser.parse(answer(body[:30], "application/cbor"), shape)


# ------------------------------------------------- expected errors: one line per account, never a traceback


TWO_ACCOUNTS = parse({
    "accounts": [account_doc(1), account_doc(2)],
    "aws": {"max_attempts": 2},
    "collectors": {"cost": {"enabled": True}, "health": {"enabled": True, "failover_region": "us-east-2"}},
})


def failures(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> list[str]:
    """The warning-or-worse lines of a pass, after checking none carried a traceback."""
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text + capfd.readouterr().err
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def run_pass(name: str, caplog: pytest.LogCaptureFixture) -> Snapshot:
    clients = AwsClients(TWO_ACCOUNTS.aws, clock=lambda: NOW)
    settings = TWO_ACCOUNTS.collectors
    chosen = (CostCollector(settings.cost, lambda a, service: clients.for_account(a, service, "us-east-1"))
              if name == "cost" else
              HealthCollector(settings.health, lambda a, region: clients.for_account(a, "health", region),
                              clock=lambda: NOW))
    with caplog.at_level(logging.INFO):
        snapshot = Runner(TWO_ACCOUNTS.accounts, SnapshotHolder(Snapshot.empty())).run(chosen, as_of=AS_OF)
    assert snapshot is not None
    return snapshot


@pytest.mark.parametrize("name", ["cost", "health"])
def test_access_denied_on_assume_role_is_one_line_per_account(aws: FaultyAws, caplog, capfd, name: str):
    aws.fault("AssumeRole", "access_denied")
    snapshot = run_pass(name, caplog)
    for account in TWO_ACCOUNTS.accounts:
        result = snapshot.result(name, account.id)
        assert result is not None and not result.up and result.error.startswith("AccessDenied: User: ")
    lines = failures(caplog, capfd)
    assert [line.split(" ", 1)[0] for line in lines] == ["event=collect_failed"] * 2, lines  # no failover either
    assert {"DescribeEvents", "GetCostAndUsage"}.isdisjoint(aws.calls)


@pytest.mark.parametrize("name", ["cost", "health"])
def test_no_credentials_at_all_is_one_line_per_account_and_no_failover(aws: FaultyAws, monkeypatch, caplog, capfd,
                                                                       name: str):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(key, raising=False)
    snapshot = run_pass(name, caplog)
    for account in TWO_ACCOUNTS.accounts:
        result = snapshot.result(name, account.id)
        assert result is not None and result.error == "NoCredentialsError: Unable to locate credentials"
    lines = failures(caplog, capfd)
    # Not botocore's "Refreshing temporary credentials failed" with its traceback, nor a Health failover
    # (the passive endpoint has the same missing credentials) with botocore's deprecated-endpoint warning.
    assert [line.split(" ", 1)[0] for line in lines] == ["event=collect_failed"] * 2, lines
    assert aws.calls == []


def test_health_asks_only_the_global_endpoint_by_default(aws: FaultyAws, caplog, capfd):
    """botocore sends us-east-1 to global.health.amazonaws.com (AWS moves it to the active region) and marks
    us-east-2's regional endpoint deprecated: by default an error is not "failed over" to it."""
    aws.fault("DescribeEvents", "server_error")
    runner = Runner(CONFIG.accounts, SnapshotHolder(Snapshot.empty()))
    with caplog.at_level(logging.INFO):
        clients, snapshot = one_pass(runner, "health")
    result = snapshot.result("health", ACCOUNT)
    assert result is not None and result.error.startswith("InternalFailure")
    lines = failures(caplog, capfd)
    assert [line.split(" ", 1)[0] for line in lines] == ["event=collect_failed"], lines
    assert {region for service, _, region in clients._clients if service == "health"} == {"us-east-1"}


def test_the_command_line_logs_one_line_per_failed_account(aws: FaultyAws, tmp_path):
    """The real CLI (its log format included): AssumeRole refused for both accounts → two one-line failures."""
    import subprocess
    import sys

    from tests.conftest import ROOT, write_config

    aws.fault("AssumeRole", "access_denied")
    config = write_config(tmp_path, {"accounts": [account_doc(1), account_doc(2)], "aws": {"max_attempts": 1},
                                     "collectors": {"cost": {"enabled": True}}})
    done = subprocess.run([sys.executable, "-m", "exporter", "--config", str(config), "--once", "--as-of",
                           AS_OF.isoformat()], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr and all(line.startswith("ts=") for line in lines), done.stderr
    failed = [line for line in lines if "level=warning" in line or "level=error" in line]
    per_account = [line for line in failed if "event=collect_failed collector=cost" in line and "AccessDenied" in line]
    summary = [line for line in failed if "event=once_failed" in line]  # the exit code's reason
    assert len(per_account) == 2 and len(summary) == 1 and len(failed) == 3, done.stderr
    assert done.returncode == 1


def test_a_body_cut_short_is_malformed_whichever_way_botocore_reports_it():
    """botocore 1.44 hands a short body to the parser (refused above); earlier versions raise
    ConnectionClosedError around urllib3's IncompleteRead, after their retries: the same MalformedResponse."""
    from botocore.exceptions import ConnectionClosedError
    from urllib3.exceptions import IncompleteRead, ProtocolError

    from exporter.answers import malformed_after_call
    from exporter.telemetry import ApiStats

    event = "after-call-error.cost-explorer.GetCostAndUsage"
    cut = ConnectionClosedError(endpoint_url="http://127.0.0.1:1", error=ProtocolError(
        "Connection broken: IncompleteRead(40 bytes read, 87 more expected)", IncompleteRead(40, 87)))
    with pytest.raises(MalformedResponse, match=r"^GetCostAndUsage: answer cut short \(.*IncompleteRead"):
        malformed_after_call(ApiStats(), "ce", exception=cut, event_name=event)
    # A connection closed before any answer stays what it is: a network error.
    assert malformed_after_call(ApiStats(), "ce", exception=ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
                                 event_name=event) is None


def test_botocore_warnings_about_expected_errors_lose_their_traceback_and_bugs_keep_it(caplog):
    from botocore.exceptions import ClientError, NoCredentialsError

    from exporter.aws import quiet_library_errors

    quiet_library_errors()
    logger = logging.getLogger("botocore.credentials")
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")
    with caplog.at_level(logging.WARNING, logger="botocore.credentials"):
        for period, exc in (("advisory", denied), ("mandatory", NoCredentialsError()), ("advisory", KeyError("x"))):
            try:
                raise exc
            except Exception:  # noqa: BLE001 - what botocore does
                logger.warning("Refreshing temporary credentials failed during %s refresh period.", period,
                               exc_info=True)
    advisory, bug = caplog.records  # the mandatory one is raised to the collector, which logs it once
    assert advisory.getMessage() == ('msg="Refreshing temporary credentials failed during advisory refresh period." '
                                     "error='AccessDenied: not authorized'") and not advisory.exc_info
    assert bug.exc_info is not None
