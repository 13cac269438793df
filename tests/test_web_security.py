"""``--web.config.file``: TLS, client certificates, basic auth and headers on every endpoint, as the Prometheus
exporter-toolkit serves them; a bad file is exit 2 naming the key.

The exporter's real server runs in-process on a loopback port with the web config under test; the
certificates are made at test time (tests/tls_helpers.py, valid 2000-2099).
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import ConfigError, load_web_config
from exporter.web import WebGuard
from exporter.web import auth as auth_module, tls as tls_module
from tests.conftest import ROOT
from tests.test_config import expected_problems
from tests.tls_helpers import Pki, bcrypt_hash, client, pki, serve, tls  # noqa: F401 - pki, serve: fixtures

WEB_CONFIGS = Path(__file__).parent / "config" / "web"
ENDPOINTS = ("/metrics", "/snapshot", "/", "/healthz", "/-/healthy", "/-/ready", "/no-such-page")
PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("path", sorted(WEB_CONFIGS.glob("*.bad.yml")), ids=lambda p: p.name)
def test_a_bad_web_config_names_every_bad_key(path: Path):
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    assert sorted(err.value.problems) == sorted(expected_problems(path))


def test_the_full_web_config_loads_with_paths_from_its_own_directory():
    config = load_web_config(WEB_CONFIGS / "full.ok.yml")
    assert config.tls is not None
    assert config.tls.cert_file == str(WEB_CONFIGS / "server.pem")  # relative: beside the web config file
    assert config.tls.key_file == "/etc/aws-ops/tls/server.key"
    assert config.headers == (("X-Frame-Options", "deny"), ("X-Content-Type-Options", "nosniff"))  # blank: unset
    assert list(config.users) == ["prometheus"]


def test_the_shipped_example_is_valid():
    config = load_web_config(ROOT / "deploy" / "tls" / "web-config.yml")
    assert config.tls is not None and config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert list(config.users) == ["prometheus"]


# ---------------------------------------------------------------- serving


def test_https_with_basic_auth_lets_only_a_configured_user_in_on_every_endpoint(serve, pki):
    served = serve({"tls_server_config": tls(pki), "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)}})
    with client(pki) as anonymous, client(pki, auth=("prometheus", PASSWORD)) as user, \
            client(pki, auth=("prometheus", "wrong")) as wrong, client(pki, auth=("nobody", PASSWORD)) as stranger:
        for path in ENDPOINTS:
            answer = user.get(served.url + path)
            assert answer.status_code in (200, 404, 503), path  # routed; what each route answers is its own
            for who in (anonymous, wrong, stranger):
                refused = who.get(served.url + path)
                assert refused.status_code == 401, path
                assert refused.headers["WWW-Authenticate"].startswith("Basic realm=")
                assert b"aws_exporter" not in refused.content
        assert user.get(served.url + "/metrics").text.startswith("# HELP")
        assert user.get(served.url + "/snapshot").json()["schema_version"]
        head = anonymous.head(served.url + "/metrics")
        assert (head.status_code, head.content) == (401, b"")
        # other methods are refused before any route sees them
        assert anonymous.post(served.url + "/-/reload", content=b"x").status_code == 401
        assert anonymous.get(served.url + "/metrics", headers={"Authorization": "Bearer abc"}).status_code == 401
    # plain HTTP on the TLS port gets no answer, and the server goes on serving
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url.replace("https", "http") + "/metrics", timeout=5)
    with client(pki, auth=("prometheus", PASSWORD)) as user:
        assert user.get(served.url + "/healthz").status_code == 200


def test_a_password_longer_than_bcrypts_72_bytes_is_refused_not_cut(serve, pki):
    longest = "p" * 72
    served = serve({"basic_auth_users": {"ops": bcrypt_hash(longest), "admin": bcrypt_hash("x")}})
    assert httpx.get(served.url + "/metrics", auth=("ops", longest)).status_code == 200
    # bcrypt reads only 72 bytes: cut and compared, this one would match
    assert httpx.get(served.url + "/metrics", auth=("ops", longest + "q")).status_code == 401
    assert httpx.get(served.url + "/metrics", auth=("ops", "é" * 40)).status_code == 401  # 80 bytes of UTF-8
    header = {"Authorization": "Basic " + base64.b64encode(b"ops:\xff" + b"p" * 200).decode()}
    assert httpx.get(served.url + "/metrics", headers=header).status_code == 401
    for broken in ("Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic " + "A" * 10_000):
        assert httpx.get(served.url + "/healthz", headers={"Authorization": broken}).status_code == 401


def test_a_successful_check_is_remembered_and_a_failed_one_is_not(serve, pki, monkeypatch):
    served = serve({"basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)}})
    calls = []
    real = auth_module.bcrypt.checkpw
    monkeypatch.setattr(auth_module.bcrypt, "checkpw", lambda pw, hashed: calls.append(pw) or real(pw, hashed))
    with httpx.Client(auth=("prometheus", PASSWORD)) as user:
        for _ in range(5):
            assert user.get(served.url + "/metrics").status_code == 200
    assert len(calls) == 1  # scrapes after the first cost no bcrypt
    for _ in range(3):
        assert httpx.get(served.url + "/metrics", auth=("prometheus", "wrong")).status_code == 401
        assert httpx.get(served.url + "/metrics", auth=("nobody", PASSWORD)).status_code == 401  # a real check too
    assert len(calls) == 7
    assert PASSWORD.encode() not in repr(vars(served.guard.current().auth)).encode()  # kept as a keyed digest only


def test_client_certificates_required_and_verified(serve, pki):
    served = serve({"tls_server_config": tls(pki, {"client_auth_type": "RequireAndVerifyClientCert",
                                                   "client_ca_file": str(pki.ca)})})
    with client(pki, (pki.client_cert, pki.client_key)) as signed:
        assert signed.get(served.url + "/metrics").status_code == 200
    for cert in (None, (pki.stranger_cert, pki.stranger_key)):
        with client(pki, cert) as other, pytest.raises(httpx.TransportError):
            other.get(served.url + "/metrics")


def test_client_certificates_verified_if_given(serve, pki):
    served = serve({"tls_server_config": tls(pki, {"client_auth_type": "VerifyClientCertIfGiven",
                                                   "client_ca_file": str(pki.ca)})})
    for cert in (None, (pki.client_cert, pki.client_key)):
        with client(pki, cert) as fine:
            assert fine.get(served.url + "/healthz").status_code == 200
    with client(pki, (pki.stranger_cert, pki.stranger_key)) as stranger, pytest.raises(httpx.TransportError):
        stranger.get(served.url + "/healthz")


def test_min_version_is_enforced(serve, pki, caplog):
    served = serve({"tls_server_config": tls(pki, {"min_version": "TLS13"})})
    with client(pki) as modern:
        assert modern.get(served.url + "/healthz").status_code == 200
    with caplog.at_level(logging.INFO, logger="exporter.web"):
        with client(pki, maximum=ssl.TLSVersion.TLSv1_2) as old, pytest.raises(httpx.ConnectError):
            old.get(served.url + "/healthz")
        # by the server's thread, maybe after the client gave up: still at INFO while it is waited for
        line = logged(caplog, "event=tls_handshake_failed")
    assert "client=127.0.0.1" in line and "\n" not in line


def logged(caplog: pytest.LogCaptureFixture, text: str, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [r.getMessage() for r in caplog.records if text in r.getMessage()]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"nothing logged with {text!r}")


def test_a_client_that_connects_and_says_nothing_does_not_hold_up_the_others(serve, pki, monkeypatch):
    monkeypatch.setattr(tls_module, "HANDSHAKE_TIMEOUT_SECONDS", 600.0)  # far beyond the client's 10 s timeout
    served = serve({"tls_server_config": tls(pki)})
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)), client(pki) as user:
        assert user.get(served.url + "/healthz").status_code == 200  # the silent one's handshake is in its own thread


def test_configured_headers_are_on_every_response(serve, pki):
    headers = {"X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff",
               "Strict-Transport-Security": "max-age=31536000", "Content-Security-Policy": "default-src 'self'"}
    served = serve({"tls_server_config": tls(pki), "http_server_config": {"headers": headers},
                    "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)}})
    with client(pki, auth=("prometheus", PASSWORD)) as user, client(pki) as anonymous:
        for answer in (user.get(served.url + "/metrics"), user.get(served.url + "/no-such-page"),
                       anonymous.get(served.url + "/metrics")):
            assert {k: answer.headers.get(k) for k in headers} == headers, answer.status_code


def test_changed_users_and_certificates_apply_without_a_restart_and_a_broken_change_is_refused(serve, pki, caplog):
    document = {"tls_server_config": tls(pki), "basic_auth_users": {"old": bcrypt_hash("one")}}
    served = serve(document)
    with client(pki) as c:
        assert c.get(served.url + "/healthz", auth=("old", "one")).status_code == 200
        served.web_config.write_text(yaml.safe_dump({**document, "basic_auth_users": {"new": bcrypt_hash("two")}}))
        assert c.get(served.url + "/healthz", auth=("new", "two")).status_code == 200
        assert c.get(served.url + "/healthz", auth=("old", "one")).status_code == 401
        with caplog.at_level(logging.ERROR, logger="exporter.web"):
            served.web_config.write_text("basic_auth_users: {new: not-a-hash}\ntls_server_config: {cert_file: x}\n")
            assert c.get(served.url + "/healthz", auth=("new", "two")).status_code == 200  # the previous one kept
            assert c.get(served.url + "/healthz", auth=("new", "two")).status_code == 200
        refused = [r.getMessage() for r in caplog.records if "web_config_reload_failed" in r.getMessage()]
        assert len(refused) == 1 and "basic_auth_users.new: not a bcrypt hash" in refused[0]
        served.web_config.write_text(yaml.safe_dump({"basic_auth_users": {"new": bcrypt_hash("two")}}))
        assert c.get(served.url + "/healthz", auth=("new", "two")).status_code == 200  # TLS cannot be turned off
        assert "cannot be turned off" in caplog.records[-1].getMessage()


def test_certificate_problems_name_the_key(tmp_path, pki):
    cases = {
        "cert_file": ({"cert_file": str(tmp_path / "missing.pem"), "key_file": str(pki.server_key)},
                      f"tls_server_config.cert_file: cannot read {tmp_path / 'missing.pem'}: No such file or directory"),
        "not PEM": ({"cert_file": str(pki.server_key), "key_file": str(pki.server_key)},
                    f"tls_server_config.cert_file: {pki.server_key} holds no PEM certificate"),
        "mismatch": ({"cert_file": str(pki.server_cert), "key_file": str(pki.client_key)},
                     "tls_server_config.key_file: does not belong to the certificate in cert_file"),
        "encrypted": ({"cert_file": str(pki.server_cert), "key_file": str(_encrypted_key(pki, tmp_path))},
                      "tls_server_config.key_file: the key is encrypted; give an unencrypted one "
                      "(the file format has no passphrase)"),
    }
    for name, (settings, expected) in cases.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump({"tls_server_config": settings}))
        with pytest.raises(ConfigError) as err:
            WebGuard.load(str(path))
        assert err.value.problems == (expected,), name


def _encrypted_key(pki: Pki, tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), None)
    path = tmp_path / "encrypted.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret")))
    return path


# ---------------------------------------------------------------- the command line


def run_exporter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_a_bad_web_config_exits_2_with_one_message_naming_the_key(tmp_path):
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS9\n")
    for args in (("--check-config", "--config", str(ROOT / "tests/config/minimal.ok.yml")), ("--demo",)):
        result = run_exporter(*args, "--web.config.file", str(web))
        assert result.returncode == 2
        assert result.stderr == (f"aws-ops-exporter: invalid web config {web}: 1 problem(s)\n"
                                 "  tls_server_config.min_version: must be one of TLS10, TLS11, TLS12, TLS13, "
                                 "got 'TLS9'\n")
    web.write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
    result = run_exporter("--check-config", "--config", str(ROOT / "tests/config/minimal.ok.yml"),
                          "--web.config.file", str(web))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"tls_server_config.cert_file: cannot read {tmp_path / 'server.pem'}" in result.stderr


def test_check_config_checks_the_web_config_too(tmp_path, pki):
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": tls(pki, {"client_auth_type": "RequireAndVerifyClientCert",
                                                                  "client_ca_file": str(pki.ca)}),
                                   "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)}}))
    result = run_exporter("--check-config", "--config", str(ROOT / "tests/config/minimal.ok.yml"),
                          "--web.config.file", str(web))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (f"{web}: ok (tls=true client_auth=RequireAndVerifyClientCert "
                                              "basic_auth_users=1 headers=0)")
