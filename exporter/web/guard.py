"""``--web.config.file`` applied to an ``http.server`` server: TLS on each connection, basic auth before any
route, the configured headers on every response. The exporter's server and the reporter's ``/metrics``
both mix these in:

    class Server(GuardedServer, ThreadingHTTPServer): ...     # server.guard = WebGuard.load(path)
    class Handler(GuardedHandler, BaseHTTPRequestHandler): ...

The file and the files it names are read again when they change (checked on each connection and
request; a stat, not a read), so rotated certificates and edited users need no restart, as with the
exporter-toolkit. A change that does not validate is logged and the previous settings stay. Whether TLS is
on is fixed at start: a change that would turn it off (or on) is refused the same way.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from exporter.config import ConfigError, WebConfig, load_web_config
from exporter.web.auth import BasicAuth
from exporter.web.tls import build_context, handshake, quiet_failure

log = logging.getLogger("exporter.web")
REALM = 'Basic realm="aws-ops-exporter", charset="UTF-8"'


@dataclass(frozen=True)
class WebState:
    config: WebConfig
    context: ssl.SSLContext | None
    auth: BasicAuth | None
    signature: tuple[Any, ...]


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class WebGuard:
    def __init__(self, path: str, state: WebState):
        self.path = path
        self._state = state
        self.tls = state.context is not None
        self._lock = threading.Lock()
        self._refused: tuple[Any, ...] | None = None

    @classmethod
    def load(cls, path: str) -> WebGuard:
        """:class:`ConfigError` naming the key when the file or a certificate it names is not usable."""
        return cls(path, _build(path))

    def describe(self) -> str:
        c = self._state.config
        auth = c.tls.client_auth_type if c.tls else "none"
        return f"tls={str(self.tls).lower()} client_auth={auth} basic_auth_users={len(c.users)} headers={len(c.headers)}"

    def _signature(self, config: WebConfig) -> tuple[Any, ...]:
        return (_stat(self.path),) + tuple(_stat(f) for f in (config.tls.files if config.tls else ()))

    def current(self) -> WebState:
        state = self._state
        if self._signature(state.config) == state.signature:
            return state
        with self._lock:
            state = self._state
            signature = self._signature(state.config)
            if signature in (state.signature, self._refused):  # unchanged, or this change was refused already
                return state
            try:
                fresh = _build(self.path)
                if (fresh.context is not None) != self.tls:
                    raise ConfigError(self.path, ["tls_server_config: TLS cannot be turned "
                                                  f"{'off' if self.tls else 'on'} while serving (restart to)"])
            except (ConfigError, OSError) as exc:  # OSError: a file went away while it was being read
                self._refused = signature  # logged once per change, not once per request
                problems = exc.problems if isinstance(exc, ConfigError) else (" ".join(str(exc).split()),)
                log.error('event=web_config_reload_failed file=%s error="%s" kept=previous', self.path,
                          "; ".join(problems))
                return state
            self._state = fresh
            log.info("event=web_config_reloaded file=%s %s", self.path, self.describe())
            return fresh


def _build(path: str) -> WebState:
    config_signature = _stat(path)
    config = load_web_config(path)
    files = tuple(_stat(f) for f in (config.tls.files if config.tls else ()))
    context = build_context(config.tls, config.source) if config.tls else None
    auth = BasicAuth(config.users) if config.users else None
    return WebState(config, context, auth, (config_signature,) + files)


class GuardedServer:
    """Mixed into a ``socketserver`` TCP server: the TLS handshake of each connection runs in the thread that
    serves it (a slow or silent client never holds up ``accept``), within a timeout."""

    guard: WebGuard | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        guard = self.guard
        if guard is None or not guard.tls:
            super().finish_request(request, client_address)
            return
        try:
            connection = handshake(guard.current().context, request)
        except OSError as exc:
            log.log(logging.DEBUG if quiet_failure(exc) else logging.INFO,
                    'event=tls_handshake_failed client=%s error="%s"', client_address[0],
                    " ".join(str(exc).split()) or type(exc).__name__)
            return
        try:
            super().finish_request(connection, client_address)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            # The client went away mid-answer (a scrape timeout): over TLS that is an SSL error, not a
            # BrokenPipeError, and as expected as one. One line, no traceback.
            log.info('event=client_hung_up client=%s tls=true error="%s"', client_address[0],
                     " ".join(str(exc).split()))
        finally:
            self.shutdown_request(connection)


class GuardedHandler:
    """Mixed into a ``BaseHTTPRequestHandler``: every request is authorized before it is routed (whatever its
    method or path), and every response carries the configured headers."""

    server: Any
    headers: Any
    command: str
    _web_headers: tuple[tuple[str, str], ...] = ()

    def parse_request(self) -> bool:
        guard = self.server.guard
        state = guard.current() if guard is not None else None
        self._web_headers = state.config.headers if state is not None else ()
        if not super().parse_request():
            return False
        if state is None or state.auth is None or state.auth.allows(self.headers.get("Authorization")):
            return True
        self._unauthorized()
        return False

    def _unauthorized(self) -> None:
        log.debug("event=http_unauthorized client=%s path=%s", self.client_address[0],
                  self.path.split("?", 1)[0])
        body = b"Unauthorized\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", REALM)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or self.headers.get("Transfer-Encoding"):
            self.send_header("Connection", "close")  # its body is left unread
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def end_headers(self) -> None:
        for name, value in self._web_headers:
            self.send_header(name, value)
        super().end_headers()
