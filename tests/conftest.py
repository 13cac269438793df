"""Shared fixtures: moto's server on a free loopback port (real HTTP for boto3), config helpers."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_TEST_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


@dataclass
class MotoServer:
    endpoint: str

    def reset(self) -> None:
        httpx.post(f"{self.endpoint}/moto-api/reset").raise_for_status()

    def seed_cost(self, account_id: str, results: list[dict[str, Any]]) -> None:
        """Queue GetCostAndUsage answers for an account; moto replays them in request order."""
        httpx.post(f"{self.endpoint}/moto-api/static/ce/cost-and-usage-results",
                   json={"account_id": account_id, "results": results}).raise_for_status()

    def env(self) -> dict[str, str]:
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto request drowns test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto (reset per test) that every boto3 client in this process talks to over HTTP."""
    moto_server.reset()
    for key in AWS_TEST_UNSET:
        monkeypatch.delenv(key, raising=False)
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


def missing(message: str) -> None:
    """A tool the test needs is not installed: a failure in CI (scripts/test.sh installs every one, and a
    skipped test proves nothing), a skip on a bare dev machine."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, document: dict[str, Any], name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def load_fixture(*parts: str) -> Any:
    import json

    return json.loads(FIXTURES.joinpath(*parts).read_text())


def aws_response(service: str, operation: str, *parts: str) -> dict[str, Any]:
    """A fixture holding an AWS JSON-protocol response body, parsed by botocore exactly as boto3 returns it
    (epoch seconds become aware datetimes); fit for ``Stubber.add_response``, which checks it against the model."""
    import json

    import botocore.session
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    body = json.dumps(load_fixture(*parts)).encode()
    parsed = create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed
