"""The server's TLS context from a web config's ``tls_server_config``, and the handshake of one connection.

A certificate that cannot be loaded is a :class:`ConfigError` naming the key, like any other bad setting.
"""

from __future__ import annotations

import socket
import ssl

from exporter.config import ConfigError, TlsSettings
from exporter.config.webconfig import CIPHER_SUITES

VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
            "TLS13": ssl.TLSVersion.TLSv1_3}
VERIFY_MODES = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
HANDSHAKE_TIMEOUT_SECONDS = 10.0  # a client that connects and says nothing does not hold a thread for long


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for the key's passphrase, and hang a service.
    raise _EncryptedKey


def build_context(tls: TlsSettings, source: str) -> ssl.SSLContext:
    """The context a listening server wraps each connection with; :class:`ConfigError` when it cannot be built."""
    problems: list[str] = []
    where = "tls_server_config"
    for key in ("cert_file", "key_file", "client_ca_file"):
        path = getattr(tls, key)
        if path is None:
            continue
        try:
            with open(path, "rb") as handle:
                head = handle.read(1 << 20)
        except OSError as exc:
            problems.append(f"{where}.{key}: cannot read {path}: {exc.strerror or exc}")
            continue
        marker = b"PRIVATE KEY-----" if key == "key_file" else b"-----BEGIN CERTIFICATE-----"
        if marker not in head:
            problems.append(f"{where}.{key}: {path} holds no PEM {'private key' if key == 'key_file' else 'certificate'}")
    if problems:
        raise ConfigError(source, problems)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigError(source, [f"{where}.key_file: the key is encrypted; give an unencrypted one "
                                   "(the file format has no passphrase)"]) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(source, [f"{where}.key_file: does not belong to the certificate in cert_file"]) from None
        raise ConfigError(source, [f"{where}.cert_file: cannot load with key_file: {exc.reason or exc}"]) from None
    try:
        context.minimum_version = VERSIONS[tls.min_version]
        context.maximum_version = VERSIONS[tls.max_version]
    except ValueError as exc:
        raise ConfigError(source, [f"{where}.min_version: not available here: {exc}"]) from None
    context.verify_mode = VERIFY_MODES[tls.client_auth_type]
    if tls.client_ca_file:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            raise ConfigError(source, [f"{where}.client_ca_file: cannot load: {exc.reason or exc}"]) from None
    if tls.cipher_suites:
        context.set_ciphers(_openssl_names(tls.cipher_suites, source))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def _openssl_names(suites: tuple[str, ...], source: str) -> str:
    """Go's (IANA) suite names as the OpenSSL cipher string ``set_ciphers`` takes, in the given order."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    probe.set_ciphers("ALL")
    by_number = {c["id"] & 0xFFFF: c["name"] for c in probe.get_ciphers()}
    missing = [f"tls_server_config.cipher_suites[{i}]: {name} is not available in {ssl.OPENSSL_VERSION}"
               for i, name in enumerate(suites) if CIPHER_SUITES[name] not in by_number]
    if missing:
        raise ConfigError(source, missing)
    return ":".join(by_number[CIPHER_SUITES[name]] for name in suites)


def handshake(context: ssl.SSLContext, connection: socket.socket) -> ssl.SSLSocket:
    """The accepted connection as TLS, handshake done (in the caller's thread, within a timeout); the
    socket's own timeout is restored afterwards. Raises :class:`OSError` (``ssl.SSLError`` among them)."""
    timeout = connection.gettimeout()
    connection.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
    wrapped = context.wrap_socket(connection, server_side=True)
    wrapped.settimeout(timeout)
    return wrapped


def quiet_failure(exc: OSError) -> bool:
    """A client that went away before or during the handshake (a TCP probe, a port scan): not worth a line
    above debug. A handshake that failed on its merits (plain HTTP, an unknown client certificate) is."""
    return isinstance(exc, ssl.SSLEOFError) or not isinstance(exc, ssl.SSLError)
