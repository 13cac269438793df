"""``--web.config.file``: TLS, basic auth and response headers, in the Prometheus exporter-toolkit's format.

    tls_server_config:   {cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version,
                          cipher_suites, prefer_server_cipher_suites}
    http_server_config:  {headers: {Content-Security-Policy, X-Frame-Options, X-Content-Type-Options,
                                    X-XSS-Protection, Strict-Transport-Security}, http2}
    basic_auth_users:    {username: bcrypt hash}

Relative paths are read from the web config file's directory, as the toolkit does. Keys the toolkit has and
this server does not support are refused by name (a file written for another exporter must not silently
mean less here). This module only checks the file's shape; the certificates are loaded where TLS is served
(:mod:`exporter.web.tls`), with errors that name the same keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.config.loading import read_document
from exporter.config.validate import ConfigError, Section, shown

TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# Go's tls.ClientAuthType names. RequestClientCert asks for a certificate and never looks at it, which is
# no check at all: it is served as NoClientCert. RequireAnyClientCert (require one, verify nothing) cannot
# be expressed with Python's ssl module, which verifies every certificate it requires.
CLIENT_AUTH_TYPES = ("NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
                     "RequireAndVerifyClientCert")
VERIFYING = ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
# The toolkit's closed list of headers (and, where it has one, of values): exporter-toolkit web/handler.go.
HEADERS: Mapping[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
# Go's secure TLS 1.2 suites (tls.CipherSuites()) and their IANA numbers; TLS 1.3's are always on.
CIPHER_SUITES: Mapping[str, int] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
}
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
# The toolkit's keys this server does not serve, and what to use instead.
UNSUPPORTED = {
    "tls_server_config": {"cert": "use cert_file", "key": "use key_file", "client_ca": "use client_ca_file",
                          "client_allowed_sans": "", "curve_preferences": ""},
    "": {"rate_limit": "put a reverse proxy in front"},
}
BCRYPT_RE = re.compile(r"^\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()  # empty: OpenSSL's defaults
    prefer_server_cipher_suites: bool = True

    @property
    def files(self) -> tuple[str, ...]:
        return (self.cert_file, self.key_file) + ((self.client_ca_file,) if self.client_ca_file else ())


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A web config file, validated. ``tls`` None: plain HTTP; ``users`` empty: no basic auth."""

    tls: TlsSettings | None = None
    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # username → bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    source: str = "<memory>"


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate a web config file; :class:`ConfigError` names every bad key."""
    return parse_web_config(read_document(path), str(path), base=Path(path).parent)


def parse_web_config(data: object, source: str = "<memory>", base: Path = Path(".")) -> WebConfig:
    problems: list[str] = []
    top = Section(data, "", problems)
    tls = _parse_tls(top.section("tls_server_config"), base)
    headers = _parse_http(top.section("http_server_config"))
    users = _parse_users(top)
    _refuse_unsupported(top, "")
    top.close()
    if problems:
        raise ConfigError(source, problems)
    return WebConfig(tls=tls, users=users, headers=headers, source=source)


def _refuse_unsupported(s: Section, where: str) -> None:
    for key, instead in UNSUPPORTED[where].items():
        if s.has(key):
            s.raw(key)
            s.problem("not supported by this exporter" + (f": {instead}" if instead else ""), key)


def _parse_tls(s: Section, base: Path) -> TlsSettings | None:
    _refuse_unsupported(s, "tls_server_config")
    if not s.data:
        s.close()
        return None
    cert = s.string("cert_file", required=True)
    key = s.string("key_file", required=True)
    auth = s.string("client_auth_type", "NoClientCert", choices=CLIENT_AUTH_TYPES) or "NoClientCert"
    if auth == "RequireAnyClientCert":
        s.problem("RequireAnyClientCert (require a certificate, verify nothing) is not supported: use "
                  "RequireAndVerifyClientCert with client_ca_file", "client_auth_type")
    ca = s.string("client_ca_file")
    if ca and auth in ("NoClientCert", "RequestClientCert"):
        s.problem(f"is set but client_auth_type is {auth}: no client certificate would be verified "
                  "(use RequireAndVerifyClientCert)", "client_ca_file")
    if not ca and auth in VERIFYING:
        s.problem(f"is required with client_auth_type {auth} (the CA that signs client certificates)",
                  "client_ca_file")
    low = s.string("min_version", "TLS12", choices=TLS_VERSIONS) or "TLS12"
    high = s.string("max_version", "TLS13", choices=TLS_VERSIONS) or "TLS13"
    if TLS_VERSIONS.index(low) > TLS_VERSIONS.index(high):
        s.problem(f"{low} is above max_version {high}", "min_version")
    suites = []
    for index, name in s.items("cipher_suites"):
        if not isinstance(name, str):
            s.problem(f"must be a cipher suite name, got {shown(name)}", f"cipher_suites[{index}]")
        elif name in TLS13_SUITES:
            s.problem(f"{name} is a TLS 1.3 suite: those are always on and cannot be chosen",
                      f"cipher_suites[{index}]")
        elif name not in CIPHER_SUITES:
            s.problem(f"unknown cipher suite {shown(name)} (one of {', '.join(CIPHER_SUITES)})", f"cipher_suites[{index}]")
        else:
            suites.append(name)
    prefer = s.boolean("prefer_server_cipher_suites", True)
    s.close()
    if not (cert and key):
        return None
    return TlsSettings(cert_file=_resolve(base, cert), key_file=_resolve(base, key),
                       client_auth_type="NoClientCert" if auth == "RequestClientCert" else auth,
                       client_ca_file=_resolve(base, ca) if ca else None, min_version=low, max_version=high,
                       cipher_suites=tuple(suites), prefer_server_cipher_suites=prefer)


def _resolve(base: Path, path: str) -> str:
    return str(base / path)  # an absolute path stays as it is


def _parse_http(s: Section) -> tuple[tuple[str, str], ...]:
    s.boolean("http2", True)  # accepted as the toolkit's; this server speaks HTTP/1.1 only
    h = s.section("headers")
    headers = []
    for name, value in h.data.items():
        h.raw(name)
        if name not in HEADERS:
            h.problem(f"this header cannot be set (only {', '.join(HEADERS)})", str(name))
        elif not isinstance(value, str) and value is not None:
            h.problem(f"must be a string, got {type(value).__name__}", name)
        elif value and (any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
            h.problem("must be one line of printable characters", name)
        elif value and HEADERS[name] and value not in HEADERS[name]:
            h.problem(f"must be one of {', '.join(HEADERS[name])}, got {shown(value)}", name)
        elif value:  # blank: unset, as the toolkit has it
            headers.append((name, value))
    h.close()
    s.close()
    return tuple(headers)


def _parse_users(top: Section) -> Mapping[str, str]:
    s = top.section("basic_auth_users")
    users: dict[str, str] = {}
    for name, hashed in s.data.items():
        s.raw(name)
        if not isinstance(name, str) or not name:
            s.problem(f"username {shown(name)} must be a non-empty string (quote it)")
        elif ":" in name or any(ord(c) < 0x20 for c in name):
            s.problem("a username cannot hold ':' or control characters (basic auth splits at the first ':')", name)
        elif not isinstance(hashed, str) or not BCRYPT_RE.match(hashed):
            # The value is not shown: it may be the password itself, pasted by mistake.
            s.problem("not a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')", name)
        else:
            users[name] = hashed
    s.close()
    return users
