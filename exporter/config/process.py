"""The exporter process's own sections: ``web:`` (where it serves) and ``log:`` (how it logs)."""

from __future__ import annotations

from exporter.config.model import DEFAULT_LISTEN_ADDRESS, LogSettings, WebSettings
from exporter.config.validate import Section


def parse_web(s: Section) -> WebSettings:
    settings = WebSettings(s.listen_address("listen_address", DEFAULT_LISTEN_ADDRESS))
    s.close()
    return settings


def parse_log(s: Section) -> LogSettings:
    settings = LogSettings(
        level=s.string("level", "info", choices=("debug", "info", "warning", "error")) or "info",
        format=s.string("format", "logfmt", choices=("logfmt", "json")) or "logfmt",
    )
    s.close()
    return settings
