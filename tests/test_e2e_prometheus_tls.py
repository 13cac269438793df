"""A real Prometheus scrapes the exporter over TLS, with a client certificate and basic auth.

The exporter runs ``--demo`` with a ``--web.config.file`` that requires both (RequireAndVerifyClientCert and
a bcrypt user, cost 10 as ``htpasswd -nBC 10`` makes them); Prometheus (Debian's package) scrapes it with
``scheme: https``, ``tls_config`` (the test CA, its client certificate) and ``basic_auth``. A second job with
a wrong password must be down with Prometheus's own "401 Unauthorized", so the first being up proves the
credentials were checked. The certificates are valid 2000-2099 (tests/tls_helpers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.conftest import ROOT, free_port
from tests.test_e2e_prometheus import STARTUP_TIMEOUT, _stop, _wait
from tests.test_prometheus_rules import require_tool
from tests.tls_helpers import bcrypt_hash, pki  # noqa: F401 - pki is a fixture

PASSWORD = "prometheus-scrape-password"


def _scrape_job(name: str, port: int, pki, password_file: Path) -> dict:  # noqa: ANN001
    # 2 s, not 1: each scrape with the wrong password costs a bcrypt check (cost 10) on a shared machine
    return {"job_name": name, "scheme": "https", "scrape_interval": "2s", "scrape_timeout": "2s",
            "tls_config": {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)},
            "basic_auth": {"username": "prometheus", "password_file": str(password_file)},
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}


def test_prometheus_scrapes_the_exporter_over_tls_with_a_client_certificate_and_basic_auth(tmp_path, pki):
    prometheus = require_tool("prometheus")
    promtool = require_tool("promtool")
    exporter_port, prometheus_port = free_port(), free_port()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                              "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": str(pki.ca)},
        "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD, rounds=10)},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}}}))
    (tmp_path / "password").write_text(PASSWORD + "\n")
    (tmp_path / "wrong").write_text("not-the-password\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [_scrape_job("aws-ops-exporter", exporter_port, pki, tmp_path / "password"),
                           _scrape_job("wrong-password", exporter_port, pki, tmp_path / "wrong")]}))
    check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr

    logs = [tmp_path / "exporter.log", tmp_path / "prometheus.log"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "exporter", "--demo", "--web.config.file", str(web),
         "--web.listen-address", f"127.0.0.1:{exporter_port}"],
        cwd=ROOT, env=env, stdout=logs[0].open("wb"), stderr=subprocess.STDOUT)]
    try:
        processes.append(subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
            cwd=tmp_path, stdout=logs[1].open("wb"), stderr=subprocess.STDOUT))
        api = f"http://127.0.0.1:{prometheus_port}/api/v1"

        def query(expr: str) -> list[dict]:
            assert all(p.poll() is None for p in processes), "a process exited"
            body = httpx.get(f"{api}/query", params={"query": expr}, timeout=10).json()
            assert body["status"] == "success", body
            return body["data"]["result"]

        def targets() -> dict[str, dict]:
            active = httpx.get(f"{api}/targets", timeout=10).json()["data"]["activeTargets"]
            return {t["labels"]["job"]: t for t in active}

        _wait("Prometheus to scrape the exporter over TLS",
              lambda: query('up{job="aws-ops-exporter"} == 1') and query('aws_exporter_build_info{job="aws-ops-exporter"}'),
              STARTUP_TIMEOUT, logs)
        # (before the exporter listened, its error was "connection refused")
        _wait("the wrong password's scrape to be refused",
              lambda: "401 Unauthorized" in targets()["wrong-password"]["lastError"], STARTUP_TIMEOUT, logs)
        assert query('up{job="wrong-password"}')[0]["value"][1] == "0"
        assert targets()["aws-ops-exporter"]["scrapeUrl"].startswith("https://")
        assert query('scrape_samples_scraped{job="aws-ops-exporter"} > 10')
    finally:
        for process in reversed(processes):
            _stop(process)
    exporter_log = logs[0].read_text()
    assert "tls=true client_auth=RequireAndVerifyClientCert basic_auth_users=1" in exporter_log
    assert PASSWORD not in exporter_log
