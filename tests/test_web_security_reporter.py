"""The reporter under TLS and basic auth: it pulls ``/snapshot`` from an exporter served with a web config
(``reporter.exporter_urls`` entries with ``ca_file``, ``username``, ``password_env`` / ``password_file``), and
serves its own ``/metrics`` under ``--web.config.file`` too."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import httpx
import pytest
import yaml

from exporter.config import ConfigError
from exporter.config.reporter import load_settings
from exporter.reporter.runner import Reporter
from exporter.reporter.schema import open_database
from exporter.reporter.selfmetrics import SelfMetrics
from exporter.reporter.store import Store
from exporter.web import WebGuard
from tests.aws_helpers import account_doc
from tests.conftest import ROOT, write_config
from tests.tls_helpers import Pki, bcrypt_hash, client, pki, serve, tls  # noqa: F401 - pki, serve: fixtures

NOW = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.timezone.utc)
PASSWORD = "s3cret-reporter-password"


def settings_for(entries: list, environ: dict[str, str] | None = None):  # noqa: ANN201
    return load_settings({"exporter_urls": entries}, "<test>", environ or {})


def pull(entries: list, environ: dict[str, str] | None = None) -> tuple[bool, list[dict]]:
    store = Store(open_database(":memory:"))
    ok = Reporter(settings_for(entries, environ), store, now=lambda: NOW).pull()
    return ok, [dict(row) for row in store.db.query("SELECT exporter, error FROM pulls")]


@pytest.fixture
def exporter(serve, pki: Pki) -> str:
    return serve({"tls_server_config": tls(pki), "basic_auth_users": {"reporter": bcrypt_hash(PASSWORD)}}).url


def test_the_reporter_pulls_over_tls_with_basic_auth(exporter, pki, tmp_path):
    entry = {"url": exporter, "ca_file": str(pki.ca), "username": "reporter", "password_env": "EXPORTER_PASSWORD"}
    assert pull([entry], {"EXPORTER_PASSWORD": PASSWORD}) == (True, [{"exporter": exporter, "error": None}])
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")  # a trailing newline, as `echo` and Kubernetes secrets leave it
    entry = {"url": exporter, "ca_file": str(pki.ca), "username": "reporter", "password_file": str(password_file)}
    assert pull([entry]) == (True, [{"exporter": exporter, "error": None}])


def test_a_pull_refused_or_unverified_is_a_failed_pull_with_the_reason(exporter, pki):
    wrong = {"url": exporter, "ca_file": str(pki.ca), "username": "reporter", "password_env": "P"}
    assert pull([wrong], {"P": "not it"}) == (False, [{"exporter": exporter, "error": "HTTP 401"}])
    assert pull([{"url": exporter, "ca_file": str(pki.ca)}]) == (False, [{"exporter": exporter, "error": "HTTP 401"}])
    ok, rows = pull([exporter])  # the system's CAs do not know the test CA
    assert not ok and rows[0]["error"].startswith("TLS: [SSL: CERTIFICATE_VERIFY_FAILED]")


def test_exporter_url_entries_are_validated_with_their_place():
    entries = [
        "http://plain:9780",
        {"url": "https://a:9780", "username": "ops"},
        {"url": "http://b:9780", "ca_file": "ca.pem"},
        {"url": "https://c:9780", "username": "ops", "password_env": "X", "password_file": "/run/p"},
        {"url": "https://d:9780", "password_env": "X"},
        {"url": "https://e:9780", "usrname": "ops"},
        "https://ops:hunter2@f:9780",
        42,
        "http://plain:9780/",
        {"ca_file": "ca.pem"},
    ]
    with pytest.raises(ConfigError) as err:
        settings_for(entries)
    assert sorted(err.value.problems) == sorted([
        "reporter.exporter_urls[1].password_env: is required with username (or password_file): the password is "
        "read from it",
        "reporter.exporter_urls[2].ca_file: needs an https:// url (a CA checks the exporter's certificate)",
        "reporter.exporter_urls[3].password_file: give one of password_env and password_file, not both",
        "reporter.exporter_urls[4].username: is required with a password",
        "reporter.exporter_urls[5].usrname: unknown key (did you mean 'username'?)",
        "reporter.exporter_urls[6]: credentials in the URL are not allowed: use username with password_env or "
        "password_file",
        "reporter.exporter_urls[7]: must be a URL or a mapping with url, got int",
        "reporter.exporter_urls[8]: 'http://plain:9780' is listed twice (first at exporter_urls[0])",
        "reporter.exporter_urls[9].url: is required",
    ])
    assert "hunter2" not in str(err.value)


def test_missing_secrets_and_ca_files_are_reported_when_the_reporter_starts(tmp_path):
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("hello\n")
    entries = [{"url": "https://a:9780", "username": "ops", "password_env": "UNSET_PASSWORD"},
               {"url": "https://b:9780", "username": "ops", "password_file": str(tmp_path / "missing")},
               {"url": "https://c:9780", "ca_file": str(not_a_ca)},
               {"url": "https://d:9780", "ca_file": str(tmp_path / "missing-ca.pem")}]
    with pytest.raises(ConfigError) as err:
        settings_for(entries)
    problems = list(err.value.problems)
    assert problems[:2] == [
        "reporter.exporter_urls[0].password_env: environment variable UNSET_PASSWORD is not set",
        f"reporter.exporter_urls[1].password_file: cannot read {tmp_path / 'missing'}: No such file or directory"]
    assert problems[2].startswith(f"reporter.exporter_urls[2].ca_file: cannot load {not_a_ca}: ")
    assert problems[3] == (f"reporter.exporter_urls[3].ca_file: cannot load {tmp_path / 'missing-ca.pem'}: "
                           "No such file or directory")


def test_the_reporter_cli_exits_2_on_a_bad_entry_or_web_config(tmp_path):
    path = write_config(tmp_path, {"accounts": [account_doc(1)], "reporter": {
        "database": str(tmp_path / "h.db"),
        "exporter_urls": [{"url": "https://a:9780", "username": "ops", "password_env": "NOT_SET_ANYWHERE"}]}})
    run = [sys.executable, "-m", "exporter.reporter.cli", "--config", str(path)]
    result = subprocess.run(run + ["--once", "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "reporter.exporter_urls[0].password_env: environment variable NOT_SET_ANYWHERE is not set" in result.stderr
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users: {ops: plaintext}\n")
    result = subprocess.run(run + ["--web.config.file", str(web)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "NOT_SET_ANYWHERE": "x"})
    assert (result.returncode, result.stderr) == (2, f"aws-ops-reporter: invalid web config {web}: 1 problem(s)\n"
                                                     "  basic_auth_users.ops: not a bcrypt hash (make one with: "
                                                     "htpasswd -nBC 10 \"\" | tr -d ':\\n')\n")
    assert "plaintext" not in result.stderr


def test_the_reporters_metrics_are_served_under_the_web_config(tmp_path, pki):
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": tls(pki), "basic_auth_users": {"prometheus": bcrypt_hash("pw")},
                                   "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}}}))
    server, _ = SelfMetrics().serve("127.0.0.1", 0, WebGuard.load(str(web)))
    url = f"https://127.0.0.1:{server.server_port}/metrics"
    try:
        with client(pki) as anonymous, client(pki, auth=("prometheus", "pw")) as user:
            refused = anonymous.get(url)
            assert (refused.status_code, refused.headers["X-Content-Type-Options"]) == (401, "nosniff")
            answer = user.get(url)
            assert answer.status_code == 200 and "aws_ops_reporter_info{" in answer.text
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https", "http"), timeout=5)
    finally:
        server.shutdown()
        server.server_close()
