"""``reporter.exporter_urls``: which exporters the reporter pulls ``/snapshot`` from, and how it reaches them.

Each entry is a URL, or a mapping for an exporter served under ``--web.config.file``:

    - http://exporter-a:9780
    - url: https://exporter-b:9780
      ca_file: /etc/aws-ops/ca.pem          # the CA that signed the exporter's certificate (else the system's)
      username: reporter
      password_env: EXPORTER_B_PASSWORD     # or password_file: /run/secrets/exporter-b-password

The password comes from the environment or a file, never from the config itself (nor from the URL);
:func:`resolve_access` reads it when the reporter starts, so the exporter's ``--check-config`` needs none.
"""

from __future__ import annotations

import re
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from exporter.config.validate import ENV_NAME_RE, Section, shown

URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")


@dataclass(frozen=True, slots=True)
class ExporterAccess:
    """TLS and basic auth for one of ``exporter_urls`` (the URL exactly as listed there)."""

    url: str
    index: int  # where it is listed, for the errors found when the reporter starts
    ca_file: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    password: str | None = field(default=None, repr=False)  # by resolve_access


def parse_exporter_urls(s: Section) -> tuple[list[str], list[ExporterAccess]]:
    """The URLs in order, and the entries that carry TLS or credentials; problems go to ``s``."""
    urls: list[str] = []
    access: list[ExporterAccess] = []
    first: dict[str, int] = {}
    for i, entry in s.items("exporter_urls"):
        where = f"exporter_urls[{i}]"
        if isinstance(entry, Mapping):
            e = Section(entry, s.at(where), s.problems)
            url = _url(e, e.string("url", required=True), "url")
            ca_file = e.string("ca_file")
            username = e.string("username")
            password_env = e.string("password_env", pattern=ENV_NAME_RE, explain="not an environment variable name")
            password_file = e.string("password_file")
            e.close()
            if ca_file and url and not url.startswith("https://"):
                e.problem("needs an https:// url (a CA checks the exporter's certificate)", "ca_file")
            if password_env and password_file:
                e.problem("give one of password_env and password_file, not both", "password_file")
            elif username and not (password_env or password_file) and not e.problems_at("password_env"):
                e.problem("is required with username (or password_file): the password is read from it",
                          "password_env")
            elif (password_env or password_file) and not username:
                e.problem("is required with a password", "username")
            if url and (ca_file or username):
                access.append(ExporterAccess(url, i, ca_file, username, password_env, password_file))
        elif isinstance(entry, str):
            url = _url(s, entry, where)
        else:
            url = None
            s.problem(f"must be a URL or a mapping with url, got {type(entry).__name__}", where)
        if url in first:
            s.problem(f"{shown(url)} is listed twice (first at exporter_urls[{first[url]}])", where)
        elif url:
            first[url] = i
            urls.append(url)
    return urls, access


def _url(s: Section, value: str | None, key: str) -> str | None:
    if value is None:
        return None
    url = value.strip()
    if not URL_RE.match(url):
        s.problem(f"not an http(s) URL: {shown(value)}", key)
        return None
    if urllib.parse.urlsplit(url).username is not None:
        # Not echoed: it holds a password.
        s.problem("credentials in the URL are not allowed: use username with password_env or password_file", key)
        return None
    return url.rstrip("/")


def resolve_access(access: tuple[ExporterAccess, ...], environ: Mapping[str, str],
                   problems: list[str]) -> tuple[ExporterAccess, ...]:
    """Each entry with its password read and its CA file checked; problems name the entry's keys."""
    resolved = []
    for entry in access:
        where = f"reporter.exporter_urls[{entry.index}]"
        password = None
        if entry.password_env:
            password = environ.get(entry.password_env) or None
            if password is None:
                problems.append(f"{where}.password_env: environment variable {entry.password_env} is not set")
        elif entry.password_file:
            try:
                with open(entry.password_file, encoding="utf-8") as handle:
                    password = handle.read().strip() or None  # as Prometheus reads a password_file
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{where}.password_file: cannot read {entry.password_file}: "
                                f"{getattr(exc, 'strerror', None) or exc}")
            else:
                if password is None:
                    problems.append(f"{where}.password_file: {entry.password_file} is empty")
        if entry.ca_file:
            try:
                ssl.create_default_context(cafile=entry.ca_file)
            except (OSError, ssl.SSLError) as exc:
                problems.append(f"{where}.ca_file: cannot load {entry.ca_file}: "
                                f"{getattr(exc, 'reason', None) or getattr(exc, 'strerror', None) or exc}")
        resolved.append(replace(entry, password=password))
    return tuple(resolved)
