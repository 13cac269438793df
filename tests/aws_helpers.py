"""Helpers for tests that talk to moto (or a local AWS stand-in) over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
import httpx

from aws_ops_demo.loopback import serve  # noqa: F401 - the tests' loopback server
from exporter.config import Config, parse


def account_doc(n: int, **extra: Any) -> dict[str, Any]:
    account_id = f"{n:012d}"
    return {"id": account_id, "name": f"acct-{n}", "project": f"proj-{n % 2}",
            "role_arn": f"arn:aws:iam::{account_id}:role/ops-exporter", **extra}


def config_for(*numbers: int, **sections: Any) -> Config:
    doc = {"accounts": [account_doc(n) for n in numbers], "collectors": {"cost": {"enabled": True}}}
    doc.update(sections)
    return parse(doc)


def daily_response(start: dt.date, days: int, services: dict[str, str], estimated: bool = False,
                   token: str | None = None) -> dict[str, Any]:
    results = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        results.append({"TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
                        "Total": {}, "Estimated": estimated,
                        "Groups": [{"Keys": [s], "Metrics": {"AmortizedCost": {"Amount": a, "Unit": "USD"}}}
                                   for s, a in services.items()]})
    response: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": []}
    if token:
        response["NextPageToken"] = token
    return response


def monthly_response(periods: list[tuple[dt.date, dt.date, dict[str, str]]]) -> dict[str, Any]:
    return {"ResultsByTime": [
        {"TimePeriod": {"Start": s.isoformat(), "End": e.isoformat()}, "Total": {}, "Estimated": False,
         "Groups": [{"Keys": [k], "Metrics": {"AmortizedCost": {"Amount": v, "Unit": "USD"}}} for k, v in svc.items()]}
        for s, e, svc in periods], "DimensionValueAttributes": []}


def standard_seed(as_of: dt.date, services: dict[str, str]) -> list[dict[str, Any]]:
    """Answers for one refresh as of ``as_of``: the DAILY window, then the MONTHLY window."""
    first = as_of.replace(day=1)
    last_month = (first - dt.timedelta(days=1)).replace(day=1)
    periods = [(last_month, first, services)] + ([(first, as_of, services)] if as_of > first else [])
    return [daily_response(as_of - dt.timedelta(days=15), 15, services), monthly_response(periods)]


# ------------------------------------------------------------------------------------------ IAM


def enable_iam_auth(endpoint: str) -> None:
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()


def disable_iam_auth(endpoint: str) -> None:
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()


def provision_roles(account_ids: list[str], allowed: list[str]) -> dict[str, str]:
    """Create the exporter's IAM user in the main account (allowed to assume only ``allowed`` roles) and an
    ``ops-exporter`` role with the README's least-privilege policy in each account. Returns the user's keys."""
    iam = boto3.client("iam")
    user = iam.create_user(UserName="aws-ops-exporter")["User"]
    key = iam.create_access_key(UserName="aws-ops-exporter")["AccessKey"]
    for account_id in account_ids:
        creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/bootstrap",
                                                RoleSessionName="bootstrap")["Credentials"]
        account_iam = boto3.client("iam", aws_access_key_id=creds["AccessKeyId"],
                                   aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}]}
        account_iam.create_role(RoleName="ops-exporter", AssumeRolePolicyDocument=json.dumps(trust))
        account_iam.put_role_policy(RoleName="ops-exporter", PolicyName="cost", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}]}))
    iam.put_user_policy(UserName="aws-ops-exporter", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Resource": [f"arn:aws:iam::{a}:role/ops-exporter" for a in allowed]}]}))
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def deny_cost_explorer(account_id: str) -> None:
    """Replace the account role's policy with an explicit deny (as an SCP or a policy change would)."""
    creds = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/bootstrap", RoleSessionName="bootstrap")["Credentials"]
    account_iam = boto3.client("iam", aws_access_key_id=creds["AccessKeyId"],
                               aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    account_iam.put_role_policy(RoleName="ops-exporter", PolicyName="cost", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ce:*", "Resource": "*"}]}))


# --------------------------------------------------------------------------- Cost Explorer stand-in


class CostExplorerStandIn:
    """A local Cost Explorer endpoint speaking botocore's JSON 1.1 protocol, answering from a script.

    Each item is a response body dict (200), ``("error", code, message)`` (400), or ``("sleep", seconds)``
    (answers nothing useful that late: the client has timed out). Requests are recorded with their X-Amz-Target.
    """

    def __init__(self, script: list[Any]):
        self.script = list(script)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with stand_in.lock:
                    stand_in.requests.append((self.headers.get("X-Amz-Target", ""), body))
                    item = stand_in.script.pop(0) if stand_in.script else {"ResultsByTime": []}
                if isinstance(item, tuple) and item[0] == "sleep":
                    import time

                    time.sleep(item[1])
                    item = {"ResultsByTime": []}
                if isinstance(item, tuple) and item[0] == "error":
                    self._reply(400, {"__type": item[1], "message": item[2]})
                else:
                    self._reply(200, item)

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (read timeout)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
