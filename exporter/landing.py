"""The landing page ``/``: what an operator opens first, rendered from the snapshot (and the schedule's next runs).

Per collector: its interval, how many accounts are up, down, in an expected condition (AWS Health without a
Business support plan: not DOWN) or not collected yet, its last pass and the time until the next. Per
project: accounts and how many have a problem. Per account (name, project, id): each collector's state, the
age of its data and its last error, on one line.

Bounded for any fleet: the account table lists the accounts with a problem first (DOWN, then not collected yet),
then the others by name, at most :data:`MAX_ACCOUNTS` rows with a count of the rest; the project table at most
:data:`MAX_PROJECTS`. The complete picture is ``/snapshot`` and the ``aws_exporter_collector_*`` metrics.

One HTML document with inline CSS (no external assets), readable on a phone (the tables become cards on a
narrow screen). Every value is escaped: account names and projects come from AWS Organizations tags.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter import __version__
from exporter.model import AccountInfo, AccountResult, HealthDetail, Snapshot, utcnow

MAX_ACCOUNTS = 200
MAX_PROJECTS = 50
ERROR_CHARS = 160
UP, DOWN, EXPECTED, PENDING = "up", "DOWN", "expected", "pending"
_RANK = {DOWN: 0, PENDING: 1, EXPECTED: 2, UP: 2}


def first_pass_pending(snapshot: Snapshot, collectors: Iterable[str]) -> list[str]:
    """The collectors that have not finished a pass over the fleet yet (readiness waits for them)."""
    return [name for name in collectors
            if (state := snapshot.collectors.get(name)) is None or state.run is None]


@dataclass(frozen=True, slots=True)
class Cell:
    state: str  # UP | DOWN | EXPECTED | PENDING
    text: str  # what the state means here, short
    error: str = ""


def cell(result: AccountResult | None, now: dt.datetime) -> Cell:
    if result is None:
        return Cell(PENDING, "not collected yet")
    age = f"data {_duration(now - result.last_success)} old" if result.last_success else "no data yet"
    if result.up:
        return Cell(UP, age)
    detail = result.detail
    if isinstance(detail, HealthDetail) and detail.subscription_required:
        again = (f"; asked again in {_duration(detail.subscription_retry_after - now)}"
                 if detail.subscription_retry_after and detail.subscription_retry_after > now else "")
        return Cell(EXPECTED, f"no Business support plan (AWS Health needs one){again}")
    return Cell(DOWN, age, _one_line(result.error or "failed"))


def _one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(delta: dt.timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    if s < 90:
        return f"{s}s"
    if s < 90 * 60:
        return f"{round(s / 60)}m"
    if s < 48 * 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _next(runs: Mapping[str, dt.datetime | None], key: str, now: dt.datetime) -> str:
    if key not in runs:
        return "—"
    at = runs[key]
    if at is None:
        return "after the first discovery"
    return "due now" if at <= now else f"in {_duration(at - now)}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1280px;padding:8px 12px;
color:#1b1b1b;background:#fff}
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}
nav a{margin-right:.8em;white-space:nowrap}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:4px 8px;
border-bottom:1px solid #ddd}th{background:#f3f3f3}
.up{color:#17672b}.DOWN{color:#b00020;font-weight:600}.expected{color:#5f5f5f}.pending{color:#7a5b00}
.err{display:block;font-size:.85em;color:#444;word-break:break-word}.id{color:#666;font-size:.85em}
.note{color:#444}
@media (max-width:700px){table.cards thead{display:none}table.cards tr{display:block;border:1px solid #ccc;
border-radius:6px;margin:8px 0;padding:4px 6px}table.cards td{display:block;border:0;padding:2px 0}
table.cards td[data-label]::before{content:attr(data-label) ": ";font-weight:600}}
"""


def landing_page(snapshot: Snapshot, intervals: Mapping[str, float] | None = None,
                 next_runs: Mapping[str, dt.datetime | None] | None = None,
                 reloads: tuple[bool, float] | None = None, telemetry_path: str = "/metrics",
                 now: dt.datetime | None = None) -> str:
    """``intervals``: the running collectors and their intervals (else the snapshot's collectors);
    ``next_runs``: the schedule's (:meth:`exporter.scheduler.Schedule.next_runs`); ``reloads``: (the last reload
    succeeded, when the config in use was loaded)."""
    now = now or utcnow()
    intervals = dict(intervals) if intervals is not None else {name: 0.0 for name in snapshot.collectors}
    runs = next_runs or {}
    names = list(intervals)
    cells = {a.id: [cell(snapshot.result(name, a.id), now) for name in names] for a in snapshot.accounts}
    body = [
        f"<h1>aws-ops-exporter {_e(__version__)}</h1>",
        f'<nav><a href="{_e(telemetry_path)}">{_e(telemetry_path)}</a><a href="/snapshot">/snapshot</a> (JSON)'
        '<a href="/-/ready">/-/ready</a><a href="/-/healthy">/-/healthy</a><a href="/healthz">/healthz</a></nav>',
        f'<p class="note">{len(snapshot.accounts)} accounts served. Snapshot published '
        f"{_e(_duration(now - snapshot.taken_at))} ago (generation {snapshot.generation}).{_reload_note(reloads, now)}"
        "</p>",
        _discovery(snapshot, runs, now),
        _collectors(snapshot, intervals, cells, runs, now),
        _projects(snapshot.accounts, cells),
        _accounts(snapshot.accounts, names, cells, runs, now),
    ]
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>aws-ops-exporter</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body></html>\n")


def _reload_note(reloads: tuple[bool, float] | None, now: dt.datetime) -> str:
    if reloads is None:
        return ""
    ok, at = reloads
    loaded = _duration(now - dt.datetime.fromtimestamp(at, dt.timezone.utc))
    if ok:
        return f" Config loaded {_e(loaded)} ago."
    return (f' <span class="DOWN">The last config reload failed</span> (the config loaded {_e(loaded)} ago is still '
            "in use; the log says why).")


def _discovery(snapshot: Snapshot, runs: Mapping[str, dt.datetime | None], now: dt.datetime) -> str:
    d = snapshot.discovery
    if d is None:
        return ""
    last = d.last_success.isoformat(timespec="seconds") if d.last_success else "never"
    error = f" ({_e(_one_line(d.error))})" if d.error else ""
    return (f'<p class="{"note" if d.up else DOWN}">AWS Organizations discovery: {"up" if d.up else "DOWN"}, '
            f"{d.discovered_accounts} accounts in scope, last success {_e(last)}{error}; next "
            f"{_e(_next(runs, 'discovery', now))}.</p>")


def _collectors(snapshot: Snapshot, intervals: Mapping[str, float], cells: Mapping[str, list[Cell]],
                runs: Mapping[str, dt.datetime | None], now: dt.datetime) -> str:
    rows = []
    for i, (name, interval) in enumerate(intervals.items()):
        count = {UP: 0, DOWN: 0, EXPECTED: 0, PENDING: 0}
        for row in cells.values():
            count[row[i].state] += 1
        run = (state := snapshot.collectors.get(name)) and state.run
        took = _duration(dt.timedelta(seconds=run.duration_seconds)) if run else ""
        last = f"started {_duration(now - run.started)} ago, took {took}" if run else "first pass not finished"
        retry = f"; retry of failed accounts {_next(runs, name + '-retry', now)}" if name + "-retry" in runs else ""
        every = _duration(dt.timedelta(seconds=interval)) if interval else "—"
        rows.append(
            f'<tr><td data-label="collector">{_e(name)}</td><td data-label="every">{_e(every)}</td>'
            f'<td data-label="accounts"><span class="up">{count[UP]} up</span>, '
            f'<span class="{DOWN if count[DOWN] else "note"}">{count[DOWN]} down</span>'
            + (f', <span class="expected">{count[EXPECTED]} without a support plan</span>' if count[EXPECTED] else "")
            + (f', <span class="pending">{count[PENDING]} not collected yet</span>' if count[PENDING] else "")
            + f'</td><td data-label="last pass">{_e(last)}</td>'
            f'<td data-label="next pass">{_e(_next(runs, name, now) + retry)}</td></tr>')
    if not rows:
        return "<h2>Collectors</h2><p>No collector is enabled.</p>"
    return ('<h2>Collectors</h2><table class="cards"><thead><tr><th>collector</th><th>every</th><th>accounts</th>'
            "<th>last pass</th><th>next pass</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _rank(row: list[Cell]) -> int:
    return min((_RANK[c.state] for c in row), default=2)


def _projects(accounts: tuple[AccountInfo, ...], cells: Mapping[str, list[Cell]]) -> str:
    projects: dict[str, list[int]] = {}
    for a in accounts:
        counts = projects.setdefault(a.project, [0, 0, 0])
        counts[0] += 1
        rank = _rank(cells[a.id])
        counts[1] += rank == 0
        counts[2] += rank == 1
    if len(projects) < 2:
        return ""
    order = sorted(projects.items(), key=lambda kv: (-kv[1][1], -kv[1][2], kv[0]))
    rows = [f'<tr><td data-label="project">{_e(p)}</td><td data-label="accounts">{n}</td>'
            f'<td data-label="down"><span class="{DOWN if down else "note"}">{down}</span></td>'
            f'<td data-label="not collected yet">{pending}</td></tr>'
            for p, (n, down, pending) in order[:MAX_PROJECTS]]
    more = (f'<p class="note">… and {len(order) - MAX_PROJECTS} more projects, none with more problems.</p>'
            if len(order) > MAX_PROJECTS else "")
    return ('<h2>Projects</h2><table class="cards"><thead><tr><th>project</th><th>accounts</th>'
            "<th>with a collector down</th><th>not collected yet</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>" + more)


def _accounts(accounts: tuple[AccountInfo, ...], names: list[str], cells: Mapping[str, list[Cell]],
              runs: Mapping[str, dt.datetime | None], now: dt.datetime) -> str:
    if not accounts:
        return "<h2>Accounts</h2><p>No account is served yet.</p>"
    order = sorted(accounts, key=lambda a: (_rank(cells[a.id]), a.name, a.id))
    shown = order[:MAX_ACCOUNTS]
    failing = sum(1 for a in accounts if _rank(cells[a.id]) == 0)
    rows = []
    for a in shown:
        tds = [f'<td data-label="account">{_e(a.name)} <span class="id">{_e(a.id)}</span></td>'
               f'<td data-label="project">{_e(a.project)}</td>']
        for name, c in zip(names, cells[a.id]):
            text = f"{c.text}; next pass {_next(runs, name, now)}" if c.state == PENDING and name in runs else c.text
            error = f'<span class="err">{_e(c.error)}</span>' if c.error else ""
            tds.append(f'<td data-label="{_e(name)}"><span class="{c.state}">{_e(c.state)}</span> {_e(text)}'
                       f"{error}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    note = (f'<p class="note">{failing} of {len(accounts)} accounts have a collector down; showing '
            f"{len(shown)} of {len(accounts)}, problems first. Every account: /snapshot, or "
            "aws_exporter_collector_up in the metrics.</p>" if len(shown) < len(accounts) else
            f'<p class="note">{failing} of {len(accounts)} accounts have a collector down.</p>')
    head = "".join(f"<th>{_e(name)}</th>" for name in names)
    return ('<h2>Accounts</h2>' + note + '<table class="cards"><thead><tr><th>account</th><th>project</th>'
            f"{head}</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
