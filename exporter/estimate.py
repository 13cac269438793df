"""``--estimate-cost``: what this config will cost in AWS API charges, without calling AWS.

Per collector: the requests one refresh sends (the cost collectors' own ``planned_requests``; CloudWatch and
Health counted from their settings here), times the refreshes a day (``interval``), priced with the one table in
:mod:`exporter.telemetry`. Each collector is shown both ways, per account (a role in each account) and
fleet-wide (payer Cost Explorer, organization Health, a CloudWatch monitoring account), so the choice is visible.
Assumed: each request is one billed page (NextPageToken pages add to it); a CloudWatch query whose dimension is
discovered (``~``) is one series. A month is 30 days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from exporter.collectors.cloudwatch import MAX_QUERIES_PER_REQUEST
from exporter.collectors.cost import CostCollector
from exporter.collectors.cost_payer import PayerCostCollector
from exporter.config import Config
from exporter.config.model import PAYER, PER_ACCOUNT, Account
from exporter.model import utcnow
from exporter.telemetry import PRICES

WARN_USD_PER_DAY = Decimal(5)  # --check-config warns above this when nothing caps the spend
DAY_SECONDS = 86400
MONTH_DAYS = 30
PER_ACCOUNT_MODE, FLEET_MODE = "per-account", "fleet-wide"


@dataclass(frozen=True, slots=True)
class Line:
    """One collector in one mode: what a day of refreshes asks and costs."""

    collector: str
    service: str  # the PRICES key
    requests_per_refresh: int
    billed_per_refresh: int  # billed units: requests (pages) for Cost Explorer, metrics for CloudWatch
    refreshes_per_day: float
    at_most: bool = False  # some requests depend on what a refresh finds (cost drivers)

    @property
    def requests_per_day(self) -> float:
        return self.requests_per_refresh * self.refreshes_per_day

    @property
    def billed_per_day(self) -> float:
        return self.billed_per_refresh * self.refreshes_per_day

    @property
    def usd_per_day(self) -> Decimal:
        return PRICES[self.service][1] * Decimal(self.billed_per_refresh) * Decimal(str(self.refreshes_per_day))


def _per_day(interval_seconds: float) -> float:
    return DAY_SECONDS / interval_seconds


def cost_lines(config: Config, accounts: int, as_of: dt.date) -> dict[str, Line]:
    s = config.collectors.cost
    out = {}
    for mode, collector in ((PER_ACCOUNT_MODE, CostCollector(replace(s, mode=PER_ACCOUNT), lambda *_: None)),
                            (FLEET_MODE, PayerCostCollector(replace(s, mode=PAYER), lambda: None))):
        plan = collector.planned_requests(as_of, accounts)
        n = sum(p.requests for p in plan)
        out[mode] = Line("cost", "ce", n, n, _per_day(s.interval_seconds), any(p.at_most for p in plan))
    return out


def health_lines(config: Config, accounts: int) -> dict[str, Line]:
    """DescribeEvents per account (or one DescribeEventsForOrganization), plus the per-event calls a refresh
    needs (at most): free either way."""
    s = config.collectors.health
    per_day = _per_day(s.interval_seconds)
    return {PER_ACCOUNT_MODE: Line("health", "health", accounts, 0, per_day, True),
            FLEET_MODE: Line("health", "health", 1, 0, per_day, True)}


def cloudwatch_lines(config: Config, accounts: Sequence[Account], count: int) -> dict[str, Line]:
    """GetMetricData bills each metric requested: queries × statistics in each region; requests are the
    500-query batches (ListMetrics added for discovered queries, once per discovery cache)."""
    s = config.collectors.cloudwatch
    per_day = _per_day(s.interval_seconds)
    listed = [scope for scope in (s.scope(a) for a in accounts) if scope is not None]
    if not listed:  # organization mode with --accounts N: the collector's settings in every account
        regions = s.regions or (config.aws.region,)
        per_region = [sum(len(q.stats) for q in s.queries)] * len(regions) * count
        discovered = sum(q.discover for q in s.queries) * len(regions) * count
    else:
        per_region = [sum(len(q.stats) for q in scope.queries) for scope in listed for _ in scope.regions]
        discovered = sum(sum(q.discover for q in scope.queries) * len(scope.regions) for scope in listed)
    metrics = sum(per_region)
    list_metrics = discovered * min(1.0, s.interval_seconds / s.discovery_cache_seconds)
    per_account_requests = sum(math.ceil(m / MAX_QUERIES_PER_REQUEST) for m in per_region) + math.ceil(list_metrics)
    regions = sorted({r for scope in listed for r in scope.regions}) or list(s.regions or (config.aws.region,))
    fleet_requests = sum(math.ceil(metrics / len(regions) / MAX_QUERIES_PER_REQUEST) for _ in regions) + \
        math.ceil(list_metrics)
    at_most = discovered > 0
    return {PER_ACCOUNT_MODE: Line("cloudwatch", "cloudwatch", per_account_requests, metrics, per_day, at_most),
            FLEET_MODE: Line("cloudwatch", "cloudwatch", fleet_requests, metrics, per_day, at_most)}


def organizations_line(config: Config, accounts: int) -> Line:
    """Discovery: ListAccounts (20 a page), then ListTagsForResource and ListParents per account; free."""
    o = config.organization
    return Line("discovery", "organizations", math.ceil(accounts / 20) + 2 * accounts, 0,
                _per_day(o.refresh_interval_seconds))


def estimate(config: Config, as_of: dt.date, accounts: int | None = None) -> dict[str, list[Line]]:
    """mode → one line per enabled collector (and discovery when on), for ``accounts`` accounts (default: the
    accounts the config lists)."""
    n = len(config.accounts) if accounts is None else accounts
    enabled = config.collectors.enabled()
    listed = config.accounts if accounts is None or accounts == len(config.accounts) else ()
    parts = []
    if "cost" in enabled:
        parts.append(cost_lines(config, n, as_of))
    if "health" in enabled:
        parts.append(health_lines(config, n))
    if "cloudwatch" in enabled:
        parts.append(cloudwatch_lines(config, listed, n))
    out: dict[str, list[Line]] = {mode: [p[mode] for p in parts] for mode in (PER_ACCOUNT_MODE, FLEET_MODE)}
    if config.organization.enabled:
        for lines in out.values():
            lines.append(organizations_line(config, n))
    return out


def current_mode(config: Config) -> str:
    return FLEET_MODE if config.organization.enabled and not config.collectors.per_account() else PER_ACCOUNT_MODE


def total_usd_per_day(config: Config, as_of: dt.date, accounts: int | None = None) -> Decimal:
    """What this config (in its own modes) costs a day: the sum ``--check-config`` warns about."""
    c = config.collectors
    fleet = {"cost": c.cost.mode == PAYER, "health": c.health.organization, "cloudwatch": c.cloudwatch.monitoring_account,
             "discovery": True}
    lines = estimate(config, as_of, accounts)
    return sum((line.usd_per_day for mode, ls in lines.items() for line in ls
                if (mode == FLEET_MODE) == fleet[line.collector]), Decimal(0))


def _num(x: float, at_most: bool = False) -> str:
    text = f"{x:,.0f}" if x >= 10 or x == int(x) else f"{x:,.1f}"
    return f"≤{text}" if at_most else text


def render(config: Config, as_of: dt.date, accounts: int | None = None) -> str:
    lines = estimate(config, as_of, accounts)
    n = len(config.accounts) if accounts is None else accounts
    head = (f"{'collector':<11} {'mode':<11} {'requests/day':>13} {'billed/day':>12} {'USD/day':>9} "
            f"{'USD/month':>10}  billed unit")
    out = [f"estimate for {config.source}: {n} accounts, as of {as_of}, 1 billed page per request assumed, "
           f"{MONTH_DAYS}-day month; in use: {describe_modes(config)}", head]
    totals = {}
    for i in range(len(lines[PER_ACCOUNT_MODE])):
        for mode in (PER_ACCOUNT_MODE, FLEET_MODE):
            line = lines[mode][i]
            usd = line.usd_per_day
            totals[mode] = totals.get(mode, Decimal(0)) + usd
            out.append(f"{line.collector:<11} {mode:<11} {_num(line.requests_per_day, line.at_most):>13} "
                       f"{_num(line.billed_per_day, line.at_most and line.billed_per_refresh > 0):>12} "
                       f"{usd:>9.2f} {usd * MONTH_DAYS:>10.2f}  {PRICES[line.service][0]}")
    for mode in (PER_ACCOUNT_MODE, FLEET_MODE):
        total = totals.get(mode, Decimal(0))
        out.append(f"{'total':<11} {mode:<11} {'':>13} {'':>12} {total:>9.2f} {total * MONTH_DAYS:>10.2f}")
    if any(line.at_most for ls in lines.values() for line in ls):
        out.append("≤: at most (cost drivers depend on the spikes a refresh finds; Health on the events open)")
    out.append(f"this config: {total_usd_per_day(config, as_of, accounts):.2f} USD/day")
    out.append("prices: " + "; ".join(f"{svc} {price} USD per {unit} ({url})" for svc, (unit, price, url) in PRICES.items()))
    return "\n".join(out) + "\n"


def describe_modes(config: Config) -> str:
    c = config.collectors
    modes = {"cost": "payer" if c.cost.mode == PAYER else PER_ACCOUNT_MODE,
             "health": "organization" if c.health.organization else PER_ACCOUNT_MODE,
             "cloudwatch": "monitoring account" if c.cloudwatch.monitoring_account else PER_ACCOUNT_MODE}
    return ", ".join(f"{name} {modes[name]}" for name in c.enabled()) or "no collectors"


def spend_warning(config: Config, as_of: dt.date | None = None) -> str | None:
    """``--check-config``: a warning when this config, uncapped, is estimated over WARN_USD_PER_DAY."""
    n = max(len(config.accounts), 1) if config.organization.enabled else None
    usd = total_usd_per_day(config, as_of or utcnow().date(), n)
    limits = config.aws.spend_limits
    capped = limits.cost_explorer_usd_per_day is not None and limits.cloudwatch_usd_per_day is not None
    if usd <= WARN_USD_PER_DAY or capped:
        return None
    return (f"this config is estimated at {usd:.2f} USD/day in AWS API charges (over {WARN_USD_PER_DAY}; see "
            "--estimate-cost; aws.spend_limits caps it)")


def command(config: Config, as_of: dt.date | None, accounts: int | None, discover: bool) -> tuple[int, str]:
    """``--estimate-cost``: (exit code, what to print). ``discover``: list the organization's accounts first
    (the only AWS calls made; Organizations is free); else organization mode needs ``accounts``."""
    if discover:
        from exporter.app import App  # the discovery code as the exporter runs it

        app = App.build(config, process_metrics=False)
        if app.discovery is None or not app.discovery.run():
            return 1, "aws-ops-exporter: --discover: organization discovery failed (see the log line above)\n"
        config = replace(config, accounts=app.runner.fleet.accounts)
    elif config.organization.enabled and accounts is None:
        return 2, "aws-ops-exporter: organization mode: give --accounts N (or --discover to list them)\n"
    return 0, render(config, as_of or utcnow().date(), accounts)
