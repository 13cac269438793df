"""Serving under ``--web.config.file``: TLS, basic auth and response headers for every endpoint (the
exporter's and the reporter's ``/metrics``), as the Prometheus exporter-toolkit serves them."""

from exporter.web.guard import GuardedHandler, GuardedServer, WebGuard
from exporter.web.request import QuickRequest

__all__ = ["GuardedHandler", "GuardedServer", "QuickRequest", "WebGuard"]
