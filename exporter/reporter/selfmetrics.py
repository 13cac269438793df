"""The reporter's own metrics, served on its own ``/metrics`` port (``reporter.listen_address``).

These describe the reporter process itself (not proxied data), so plain counters and gauges on a
private registry are right here. Labels carry destination names and exporter URLs without
credentials, never webhook URLs or keys.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, MetricsHandler

from exporter import __version__
from exporter.reporter.labels import FALLBACK_REASONS
from exporter.reporter.rows import public_url
from exporter.web import GuardedHandler, GuardedServer, WebGuard


class SelfMetrics:
    def __init__(self, exporters: Iterable[str] = (), destinations: Iterable[str] = ()):
        self.registry = CollectorRegistry()
        r = self.registry
        Gauge("aws_ops_reporter_info", "aws-ops-reporter build information (value 1).", ["version"],
              registry=r).labels(__version__).set(1)
        self.last_pull = Gauge("aws_ops_reporter_last_pull_success_timestamp_seconds",
                               "When /snapshot was last pulled from this exporter and stored in SQLite.",
                               ["exporter"], registry=r)
        self.pulls = Counter("aws_ops_reporter_pulls_total", "Pulls of an exporter's /snapshot, by result.",
                             ["exporter", "result"], registry=r)
        self.last_post = Gauge("aws_ops_reporter_last_post_timestamp_seconds",
                               "When a daily summary was last posted to this chat destination (a 2xx answer).",
                               ["destination"], registry=r)
        self.posts = Counter("aws_ops_reporter_posts_total",
                             "Posts of the daily summary per destination, by result (ok, failed, unknown).",
                             ["destination", "result"], registry=r)
        self.llm_failures = Counter("aws_ops_reporter_llm_failures_total",
                                    "LLM calls (/v1/chat/completions) that gave no usable answer, by reason.",
                                    ["reason"], registry=r)
        self.fallbacks = Counter("aws_ops_reporter_fallbacks_total",
                                 "Daily summaries that used the deterministic text instead of the model's, by reason "
                                 f"({', '.join(FALLBACK_REASONS)}).", ["reason"], registry=r)
        self.claims = Counter("aws_ops_reporter_claims_total",
                              "Statements (claims) of the model's answers, by result of the check against the facts "
                              "(accepted, dropped).", ["result"], registry=r)
        self.summaries = Counter("aws_ops_reporter_summaries_total", "Daily summaries composed, by source.",
                                 ["source"], registry=r)
        for url in exporters:
            for result in ("ok", "failed"):
                self.pulls.labels(public_url(url), result)
        for name in destinations:
            for result in ("ok", "failed"):
                self.posts.labels(name, result)
        for reason in FALLBACK_REASONS:
            self.fallbacks.labels(reason)
        for result in ("accepted", "dropped"):
            self.claims.labels(result)

    def pulled(self, url: str, ok: bool) -> None:
        self.pulls.labels(public_url(url), "ok" if ok else "failed").inc()
        if ok:
            self.last_pull.labels(public_url(url)).set(time.time())

    def posted(self, destination: str, result: str) -> None:
        self.posts.labels(destination, result).inc()
        if result == "ok":
            self.last_post.labels(destination).set(time.time())

    def serve(self, host: str, port: int, guard: WebGuard | None = None) -> tuple[ThreadingHTTPServer, threading.Thread]:
        """``/metrics`` (any path, as prometheus_client serves it) in a thread; ``guard``: --web.config.file."""
        address = host or "0.0.0.0"
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

        class Handler(GuardedHandler, MetricsHandler):
            registry = self.registry

        class Server(GuardedServer, ThreadingHTTPServer):
            daemon_threads = True
            address_family = family

        server = Server((address, port), Handler)
        server.guard = guard
        thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
        thread.start()
        return server, thread
