"""AssumeRole requests as AWS's model defines them (botocore's Stubber validates the parameters)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.stub import Stubber

from exporter.aws import AwsClients, cost_explorer_region, error_message
from exporter.config import AwsSettings, parse


def _account(**extra):
    return parse({"accounts": [{"id": "111111111111", "name": "prod-web", "project": "web",
                                "role_arn": "arn:aws:iam::111111111111:role/ops-exporter", **extra}]}).accounts[0]


def _response(expires: dt.datetime) -> dict:
    return {"Credentials": {"AccessKeyId": "ASIAEXAMPLEEXAMPLE", "SecretAccessKey": "s" * 40,
                            "SessionToken": "t" * 64, "Expiration": expires},
            "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:aws-ops-exporter-111111111111",
                                "Arn": "arn:aws:sts::111111111111:assumed-role/ops-exporter/aws-ops-exporter-111111111111"}}


def test_assume_role_sends_the_external_id_and_a_session_name_naming_the_account(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = AwsClients(AwsSettings(role_session_name="finops-exporter"))
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)  # clock-ok: an expiry, no date logic
    with Stubber(clients.main("sts")) as stub:
        stub.add_response("assume_role", _response(expires), {
            "RoleArn": "arn:aws:iam::111111111111:role/ops-exporter",
            "RoleSessionName": "finops-exporter-111111111111", "ExternalId": "shared-secret-42"})
        stub.add_response("assume_role", _response(expires), {
            "RoleArn": "arn:aws:iam::111111111111:role/ops-exporter", "RoleSessionName": "finops-exporter-111111111111"})
        a = _account(external_id="shared-secret-42")
        creds = clients._assume_role(a.role_arn, a.external_id, a.id)
        clients._assume_role(_account().role_arn, None, _account().id)  # no ExternalId configured: none sent
        stub.assert_no_pending_responses()
    assert creds["access_key"] == "ASIAEXAMPLEEXAMPLE" and creds["expiry_time"] == expires.isoformat()


def test_error_messages_are_one_bounded_line():
    exc = RuntimeError("line one\nline two " + "x" * 1000)
    message = error_message(exc)
    assert "\n" not in message and len(message) <= 400 and message.startswith("RuntimeError: line one line two")


def test_cost_explorer_is_called_where_the_roles_partition_has_it():
    assert cost_explorer_region("arn:aws:iam::111111111111:role/ops") == "us-east-1"
    assert cost_explorer_region("arn:aws-cn:iam::111111111111:role/ops") == "cn-northwest-1"
    with pytest.raises(ValueError, match="no endpoint in the aws-us-gov partition"):
        cost_explorer_region("arn:aws-us-gov:iam::111111111111:role/ops")
