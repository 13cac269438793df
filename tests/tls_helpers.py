"""Test certificates, made at test time with ``cryptography``: a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate the CA signed, and a client certificate from another CA (a stranger). And
``serve``: the exporter's real server, in-process on a loopback port, under a given web config.

Every certificate is valid from 2000-01-01 to 2099-12-31, so a pinned clock never sees one expired
(scripts/test-pinned-date.sh moves the date; the certificates need not follow it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.exposition import Exposition
from exporter.model import Snapshot
from exporter.server import WebServer
from exporter.telemetry import ApiStats
from exporter.web import WebGuard

NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path


def make_pki(directory: Path) -> Pki:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        from tests.conftest import missing

        missing("the TLS tests make their certificates with the cryptography package (the test extra)")
        raise

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool = False,  # noqa: ANN001
                    sans: list[x509.GeneralName] | None = None, usage=None):  # noqa: ANN001
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer_key is not key:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(path: Path, cert, key=None) -> Path:  # noqa: ANN001
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            path.with_suffix(".key").write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return path

    directory.mkdir(parents=True, exist_ok=True)
    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("ca", "server", "client", "other-ca", "stranger")}
    ca = certificate("aws-ops test CA", keys["ca"], "aws-ops test CA", keys["ca"], ca=True)
    other = certificate("another CA", keys["other-ca"], "another CA", keys["other-ca"], ca=True)
    server = certificate("aws-ops-exporter", keys["server"], "aws-ops test CA", keys["ca"],
                         sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                         usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = certificate("prometheus", keys["client"], "aws-ops test CA", keys["ca"],
                         usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    stranger = certificate("stranger", keys["stranger"], "another CA", keys["other-ca"],
                           usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    write(directory / "other-ca.pem", other)
    return Pki(ca=write(directory / "ca.pem", ca),
               server_cert=write(directory / "server.pem", server, keys["server"]),
               server_key=directory / "server.key",
               client_cert=write(directory / "client.pem", client, keys["client"]),
               client_key=directory / "client.key",
               stranger_cert=write(directory / "stranger.pem", stranger, keys["stranger"]),
               stranger_key=directory / "stranger.key")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def bcrypt_hash(password: str, rounds: int = 4) -> str:
    """A hash as htpasswd makes them (cost 4: tests check the rules, not the cost)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@dataclass
class Served:
    url: str
    web_config: Path
    guard: WebGuard


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict], Served]]:
    """Start the exporter's server with a web config (a dict written as web.yml); stopped after the test."""
    servers: list[WebServer] = []

    def start(document: dict) -> Served:
        web_config = tmp_path / "web.yml"
        web_config.write_text(yaml.safe_dump(document))
        guard = WebGuard.load(str(web_config))
        exposition = Exposition({}, ApiStats(), process_metrics=False)
        snapshot = Snapshot.empty()
        exposition.on_snapshot(snapshot)
        server = WebServer("127.0.0.1", 0, exposition, lambda: snapshot, guard)
        server.start()
        servers.append(server)
        return Served(f"{'https' if guard.tls else 'http'}://127.0.0.1:{server.port}", web_config, guard)

    yield start
    for server in servers:
        server.stop()


def tls(pki: Pki, extra: dict | None = None) -> dict:
    return {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key), **(extra or {})}


def client(pki: Pki, cert: tuple[Path, Path] | None = None, maximum: ssl.TLSVersion | None = None,
           **kwargs) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert:
        context.load_cert_chain(*map(str, cert))
    if maximum:
        context.maximum_version = maximum
    return httpx.Client(verify=context, timeout=10, **kwargs)
