"""``aws-ops-reporter --demo``: the reporter against a running ``aws-ops-exporter --demo``, as a newcomer tries it.

It reads the demo's own config (:mod:`aws_ops_demo.config`: the fleet's accounts and the project budgets that
fit its spend), keeps the history in memory, waits for the exporter's first cost collection, and prints the
summary of the last full day the exporter has (the demo's spike day, whatever ``--as-of`` the exporter runs
with): the deterministic summary (no LLM), in the report's order, its links listed under it. Nothing is
posted and nothing is written to disk. The demo is an optional package: imported only here, only with
``--demo``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from typing import IO

from exporter.config import parse
from exporter.config.reporter import ReporterSettings
from exporter.reporter.rows import public_url
from exporter.reporter.store import Store

DEFAULT_URL = "http://localhost:9780"
GRAFANA_URL = "http://localhost:3000"  # the monitoring stack's Grafana (docker compose)
LINK_RE = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s)]+)\)")


def _last_full_day(store: Store) -> dt.date | None:
    """The day before the exporter's newest cost collection treated as today."""
    days = [s["as_of"] for s in store.collector_status() if s["collector"] == "cost" and s.get("as_of")]
    return dt.date.fromisoformat(max(days)) - dt.timedelta(days=1) if days else None


def footnoted(text: str) -> str:
    """Links as numbered notes under the text: a terminal shows long URLs better that way."""
    urls: list[str] = []

    def note(m: re.Match[str]) -> str:
        if m.group(2) not in urls:
            urls.append(m.group(2))
        return f"{m.group(1)} [{urls.index(m.group(2)) + 1}]"

    body = LINK_RE.sub(note, text)
    return body + ("\n\n" + "\n".join(f"[{i}] {url}" for i, url in enumerate(urls, 1)) if urls else "")


def run(url: str = DEFAULT_URL, language: str = "en", wait_seconds: float = 180.0, out: IO[str] | None = None,
        err: IO[str] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    from aws_ops_demo.config import config_document  # the demo's own config: imported only with --demo

    from exporter.reporter.runner import Reporter

    out, err = out or sys.stdout, err or sys.stderr
    config = parse(config_document(), source="<demo>")
    settings = ReporterSettings(exporter_urls=(url,), database=":memory:", language=language,
                                grafana_url=GRAFANA_URL)
    store = Store.open(":memory:")
    store.upsert_accounts((a.id, a.name, a.project) for a in config.accounts)
    reporter = Reporter(settings, store, project_budgets=config.budgets.projects,
                        cost_metric=config.collectors.cost.metric)
    deadline = time.monotonic() + wait_seconds  # clock-ok: how long to wait for the exporter, not a date
    told = False
    while True:
        day = _last_full_day(store) if reporter.pull() else None
        if day is not None and store.daily_costs(day, day + dt.timedelta(days=1), reporter.cost_metric):
            break
        if time.monotonic() > deadline:  # clock-ok
            err.write(f"aws-ops-reporter: no demo data from {public_url(url)} after {wait_seconds:.0f}s: start the "
                      "demo exporter first (aws-ops-exporter --demo)\n")
            return 1
        if not told:
            err.write(f"aws-ops-reporter: waiting for the demo exporter at {public_url(url)} to collect "
                      "(start it with: aws-ops-exporter --demo)\n")
            told = True
        sleep(2.0)
    message = reporter.compose(day)
    out.write(f"{message.title}\n{footnoted(message.text)}\n")
    store.close()
    return 0
