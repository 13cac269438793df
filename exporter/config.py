"""Configuration: YAML in, frozen dataclasses out, validated once at start.

This is the only module that reads YAML or environment variables. Every problem in a config file is
collected with its path (``accounts[2].role_arn: not an IAM role ARN``) and reported at once, so a
user fixes a file in one pass instead of one error per restart.

Each top-level section is parsed by its own function over a :class:`Section`, which tracks the path,
rejects unknown keys (typos) and records problems instead of raising.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
DURATION_RE = re.compile(r"^(\d+)\s*(ms|s|m|h|d)?$")
LISTEN_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
EXTERNAL_ID_RULE = "an ExternalId is 2-1224 characters of letters, digits and +=,.@:/- (the value is not shown)"

COST_METRICS = ("AmortizedCost", "UnblendedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost")
DEFAULT_LISTEN_ADDRESS = ":9780"
MIN_INTERVAL_SECONDS = 10


class ConfigError(Exception):
    """A config that must not be started. ``problems`` lists every one of them with its path."""

    def __init__(self, source: str, problems: Iterable[str]):
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n" + "\n".join(f"  {p}" for p in self.problems))


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    project: str
    role_arn: str
    external_id: str | None = None
    regions: tuple[str, ...] = ("us-east-1",)
    budget_usd: Decimal | None = None
    cloudwatch: CloudWatchOverride | None = None  # accounts[].cloudwatch


@dataclass(frozen=True, slots=True)
class AwsSettings:
    region: str = "us-east-1"
    role_session_name: str = "aws-ops-exporter"
    max_attempts: int = 8
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    # 0 = not limited. Applied to every AWS request the exporter makes, across threads.
    max_requests_per_second: float = 0.0
    # Accounts collected at the same time per collector; 1 = one after another (AWS rate limits).
    concurrency: int = 1
    # boto3 clients kept (one per service × account × region; ~0.3 MiB each); more are re-created as needed.
    client_cache_size: int = 1000


@dataclass(frozen=True, slots=True)
class CostSettings:
    enabled: bool = True
    interval_seconds: float = 6 * 3600
    metric: str = "AmortizedCost"
    baseline_days: int = 14
    # How far back a still-Estimated daily period is re-fetched on later refreshes.
    refetch_estimated_days: int = 62
    # Days of DAILY history each refresh fetches (and /snapshot carries for the reporter); at least
    # baseline_days + 1. More days cost no extra requests, only bigger (possibly more) pages.
    history_days: int = 0  # 0 = baseline_days + 1
    # Accounts that failed are tried again this long after, instead of waiting a whole interval.
    retry_interval_seconds: float = 15 * 60


@dataclass(frozen=True, slots=True)
class HealthSettings:
    enabled: bool = False
    interval_seconds: float = 300
    # The Health API is global: one active endpoint, a passive one to fail over to.
    region: str = "us-east-1"
    failover_region: str = "us-east-2"
    closed_window_seconds: float = 7 * 86400  # closed events reported if they ended this recently
    organization: bool = False  # one set of *ForOrganization calls from the main account
    # Accounts without Business/Enterprise support: how long to leave them alone after SubscriptionRequired.
    subscription_backoff_seconds: float = 3600


CLOUDWATCH_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE_RE = re.compile(r"^p(\d{1,2}(\.\d{0,2})?|100)$")  # as YACE accepts them: p50, p99, p99.9, p100


@dataclass(frozen=True, slots=True)
class CloudWatchQuery:
    namespace: str
    metric: str
    # (name, value) pairs; value None = discover every recently active value with ListMetrics.
    dimensions: tuple[tuple[str, str | None], ...]
    stats: tuple[str, ...]

    @property
    def discover(self) -> bool:
        return any(value is None for _, value in self.dimensions)


@dataclass(frozen=True, slots=True)
class CloudWatchScope:
    """What to collect for one account: the collector's settings with the account's overrides applied."""

    regions: tuple[str, ...]
    period_seconds: int
    delay_seconds: int
    queries: tuple[CloudWatchQuery, ...]


@dataclass(frozen=True, slots=True)
class CloudWatchOverride:
    """``accounts[].cloudwatch``: any key given replaces the collector's value for that account."""

    enabled: bool | None = None
    regions: tuple[str, ...] | None = None
    period_seconds: int | None = None
    delay_seconds: int | None = None
    queries: tuple[CloudWatchQuery, ...] | None = None


@dataclass(frozen=True, slots=True)
class CloudWatchSettings:
    enabled: bool = False
    interval_seconds: float = 300
    regions: tuple[str, ...] | None = None  # None = each account's regions
    period_seconds: int = 300
    delay_seconds: int = 600
    queries: tuple[CloudWatchQuery, ...] = ()
    discovery_cache_seconds: float = 3600  # ListMetrics results reused this long
    labels_snake_case: bool = False  # YACE's -labels-snake-case: dimension_instance_id, not dimension_InstanceId

    def scope(self, account: Account) -> CloudWatchScope | None:
        """The account's effective settings, or None when the account opts out."""
        o = account.cloudwatch or CloudWatchOverride()
        if o.enabled is False:
            return None
        return CloudWatchScope(
            regions=o.regions or self.regions or account.regions,
            period_seconds=o.period_seconds or self.period_seconds,
            delay_seconds=self.delay_seconds if o.delay_seconds is None else o.delay_seconds,
            queries=self.queries if o.queries is None else o.queries,
        )


@dataclass(frozen=True, slots=True)
class Collectors:
    cost: CostSettings = field(default_factory=CostSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    cloudwatch: CloudWatchSettings = field(default_factory=CloudWatchSettings)

    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in ("cost", "health", "cloudwatch") if getattr(self, name).enabled)


@dataclass(frozen=True, slots=True)
class WebSettings:
    listen_address: str = DEFAULT_LISTEN_ADDRESS


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "logfmt"


@dataclass(frozen=True, slots=True)
class Budgets:
    projects: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    accounts: tuple[Account, ...]
    collectors: Collectors = field(default_factory=Collectors)
    aws: AwsSettings = field(default_factory=AwsSettings)
    web: WebSettings = field(default_factory=WebSettings)
    log: LogSettings = field(default_factory=LogSettings)
    budgets: Budgets = field(default_factory=Budgets)
    # The reporter sidecar's section, validated by the reporter (exporter.reporter.settings).
    reporter: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    def account(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.id == account_id:
                return account
        raise KeyError(account_id)


# --------------------------------------------------------------------------------------- validation


class Section:
    """A mapping read at a path. Records problems instead of raising; rejects unknown keys on close."""

    def __init__(self, data: Any, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem(f"must be a mapping, got {type(data).__name__}")
            data = {}
        self.data: Mapping[str, Any] = data

    def at(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def problem(self, message: str, key: str | int | None = None) -> None:
        where = self.at(key) if key is not None else (self.path or "(top level)")
        self.problems.append(f"{where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def section(self, key: str) -> Section:
        return Section(self.raw(key), self.at(key), self.problems)

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, explain: str = "", choices: Iterable[str] = (),
               secret: bool = False) -> str | None:
        """``secret``: a malformed value is not quoted in the error (it would end up in logs)."""
        value = self.raw(key)
        if value is None:
            if required:
                self.problem("is required", key)
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(f"must be a string, got {type(value).__name__}", key)
            return default
        value = str(value).strip()
        if required and not value:
            self.problem("must not be empty", key)
            return default
        choices = tuple(choices)
        if choices and value not in choices:
            self.problem(f"must be one of {', '.join(choices)}, got {value!r}", key)
            return default
        if pattern is not None and not pattern.match(value):
            self.problem(f"{explain or 'malformed'}" + ("" if secret else f": {value!r}"), key)
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"must be true or false, got {value!r}", key)
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"must be a whole number, got {value!r}", key)
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(f"must be between {minimum} and {maximum}, got {value}", key)
            return default
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f"must be a number, got {value!r}", key)
            return default
        if value < minimum:
            self.problem(f"must be at least {minimum:g}, got {value}", key)
            return default
        return float(value)

    def money(self, key: str) -> Decimal | None:
        value = self.raw(key)
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            amount = Decimal(str(value))
        except InvalidOperation:
            self.problem(f"must be an amount in USD, got {value!r}", key)
            return None
        if not amount.is_finite() or amount < 0:
            self.problem(f"must be a non-negative amount in USD, got {value!r}", key)
            return None
        return amount

    def duration(self, key: str, default: float, *, minimum: float = MIN_INTERVAL_SECONDS) -> float:
        value = self.raw(key)
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            self.problem(f"must be a duration like 300s, 5m, 6h or 1d, got {value!r}", key)
            return default
        if seconds < minimum:
            self.problem(f"must be at least {minimum:g}s, got {value!r}", key)
            return default
        return seconds

    def items(self, key: str) -> list[tuple[int, Any]]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"must be a list, got {type(value).__name__}", key)
            return []
        return list(enumerate(value))

    def problems_at(self, key: str) -> bool:
        prefix = self.at(key)
        return any(p.startswith(prefix) for p in self.problems)

    def close(self) -> None:
        """Report keys nobody asked for: in a config file they are typos. At the top level, ``x-`` keys are
        the file's own (a place for YAML anchors, as in Compose files)."""
        for key in self.data:
            if not self.path and str(key).startswith("x-"):
                continue
            if key not in self.seen:
                hint = _closest(str(key), self.seen)
                self.problem("unknown key" + (f" (did you mean {hint!r}?)" if hint else ""), str(key))


def _closest(key: str, known: Iterable[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def parse_duration(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if not isinstance(value, str):
        return None
    match = DURATION_RE.match(value.strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "s"
    seconds = number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return float(seconds) if seconds > 0 else None


def parse_listen_address(value: str) -> tuple[str, int]:
    """``:9780`` / ``127.0.0.1:9780`` / ``[::1]:9780`` → (host, port); empty host = all interfaces."""
    match = LISTEN_RE.match(value.strip())
    if not match or not 0 <= int(match.group(2)) <= 65535:
        raise ValueError(f"not HOST:PORT: {value!r}")
    host = match.group(1).strip("[]")
    return host, int(match.group(2))


# ---------------------------------------------------------------------------------------- sections


def _parse_aws(s: Section) -> AwsSettings:
    d = AwsSettings()
    settings = AwsSettings(
        region=s.string("region", d.region, pattern=REGION_RE, explain="not an AWS region"),
        role_session_name=s.string("role_session_name", d.role_session_name,
                                   pattern=re.compile(r"^[\w+=,.@-]{2,64}$"), explain="not a valid RoleSessionName"),
        max_attempts=s.integer("max_attempts", d.max_attempts, minimum=1, maximum=20),
        connect_timeout_seconds=s.duration("connect_timeout", d.connect_timeout_seconds, minimum=0.1),
        read_timeout_seconds=s.duration("read_timeout", d.read_timeout_seconds, minimum=0.1),
        max_requests_per_second=s.number("max_requests_per_second", d.max_requests_per_second),
        concurrency=s.integer("concurrency", d.concurrency, minimum=1, maximum=64),
        client_cache_size=s.integer("client_cache_size", d.client_cache_size, minimum=1, maximum=1_000_000),
    )
    s.close()
    return settings


def _parse_accounts(s: Section, default_region: str) -> tuple[Account, ...]:
    accounts: list[Account] = []
    first_seen: dict[str, int] = {}
    names: dict[str, int] = {}
    items = s.items("accounts")
    if not items and not s.problems_at("accounts"):
        s.problem("at least one account is required", "accounts")
    for index, raw in items:
        a = Section(raw, s.at("accounts") + f"[{index}]", s.problems)
        account_id = a.string("id", required=True, pattern=ACCOUNT_ID_RE, explain="not a 12-digit AWS account id")
        name = a.string("name", required=True, pattern=re.compile(r"^[\w.@+-]{1,64}$"),
                        explain="use letters, digits and . _ - @ + (at most 64)")
        project = a.string("project", required=True, pattern=re.compile(r"^[\w.@+-]{1,64}$"),
                           explain="use letters, digits and . _ - @ + (at most 64)")
        role_arn = a.string("role_arn", required=True, pattern=ROLE_ARN_RE, explain="not an IAM role ARN")
        external_id = a.string("external_id", pattern=EXTERNAL_ID_RE, explain=EXTERNAL_ID_RULE, secret=True)
        external_id_env = a.string("external_id_env", pattern=ENV_NAME_RE, explain="not an environment variable name")
        if external_id_env:
            from_env = os.environ.get(external_id_env)
            if not from_env:
                a.problem(f"environment variable {external_id_env} is not set", "external_id_env")
            elif external_id:
                a.problem("give external_id or external_id_env, not both", "external_id_env")
            elif not EXTERNAL_ID_RE.match(from_env.strip()):
                a.problem(f"the value of {external_id_env}: {EXTERNAL_ID_RULE}", "external_id_env")
            else:
                external_id = from_env.strip()
        regions = _regions(a, "regions", (default_region,))
        budget = a.money("budget_usd")
        cloudwatch = None
        if a.has("cloudwatch"):
            cw_s = a.section("cloudwatch")
            cloudwatch = _parse_cloudwatch_override(cw_s)
            cw_s.close()
        a.close()
        if account_id and role_arn:
            role_account = ROLE_ARN_RE.match(role_arn).group(1)  # type: ignore[union-attr]
            if role_account != account_id:
                a.problem(f"role is in account {role_account}, not in {account_id}", "role_arn")
        if account_id:
            if account_id in first_seen:
                a.problem(f"duplicate account id {account_id} (first at accounts[{first_seen[account_id]}])", "id")
            first_seen.setdefault(account_id, index)
        if name:
            if name in names:
                a.problem(f"duplicate account name {name!r} (first at accounts[{names[name]}])", "name")
            names.setdefault(name, index)
        if account_id and name and project and role_arn:
            accounts.append(Account(account_id, name, project, role_arn, external_id or None, regions, budget,
                                    cloudwatch))
    return tuple(accounts)


def _regions(s: Section, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if not s.has(key):
        s.raw(key)
        return default
    regions = []
    for i, region in s.items(key):
        if not isinstance(region, str) or not REGION_RE.match(region):
            s.problem(f"not an AWS region: {region!r}", f"{key}[{i}]")
        elif region not in regions:
            regions.append(region)
    if not regions and not s.problems_at(key):
        s.problem("must list at least one region", key)
    return tuple(regions) or default


def _parse_collectors(s: Section) -> Collectors:
    cost_s = s.section("cost")
    d = CostSettings()
    cost = CostSettings(
        enabled=cost_s.boolean("enabled", d.enabled),
        interval_seconds=cost_s.duration("interval", d.interval_seconds, minimum=60),
        metric=cost_s.string("metric", d.metric, choices=COST_METRICS),
        baseline_days=cost_s.integer("baseline_days", d.baseline_days, minimum=1, maximum=60),
        refetch_estimated_days=cost_s.integer("refetch_estimated_days", d.refetch_estimated_days, minimum=0, maximum=400),
        history_days=cost_s.integer("history_days", d.history_days, minimum=0, maximum=400),
        retry_interval_seconds=cost_s.duration("retry_interval", d.retry_interval_seconds, minimum=60),
    )
    cost_s.close()

    health_s = s.section("health")
    hd = HealthSettings()
    health = HealthSettings(
        enabled=health_s.boolean("enabled", hd.enabled),
        interval_seconds=health_s.duration("interval", hd.interval_seconds),
        region=health_s.string("region", hd.region, pattern=REGION_RE, explain="not an AWS region"),
        failover_region=health_s.string("failover_region", hd.failover_region, pattern=REGION_RE,
                                        explain="not an AWS region"),
        closed_window_seconds=health_s.duration("closed_window", hd.closed_window_seconds, minimum=0.001),
        organization=health_s.boolean("organization", hd.organization),
        subscription_backoff_seconds=health_s.duration("subscription_backoff", hd.subscription_backoff_seconds),
    )
    health_s.close()

    cw_s = s.section("cloudwatch")
    cd = CloudWatchSettings()
    cw = _parse_cloudwatch_override(cw_s)
    cloudwatch = CloudWatchSettings(
        enabled=cw.enabled if cw.enabled is not None else cd.enabled,
        interval_seconds=cw_s.duration("interval", cd.interval_seconds),
        regions=cw.regions,
        period_seconds=cw.period_seconds or cd.period_seconds,
        delay_seconds=cd.delay_seconds if cw.delay_seconds is None else cw.delay_seconds,
        queries=cw.queries or (),
        discovery_cache_seconds=cw_s.duration("discovery_cache", cd.discovery_cache_seconds, minimum=0.001),
        labels_snake_case=cw_s.boolean("labels_snake_case", cd.labels_snake_case),
    )
    cw_s.close()
    s.close()
    return Collectors(cost=cost, health=health, cloudwatch=cloudwatch)


# Dimension names become dimension_<name> labels as YACE sanitizes them (these characters → "_").
DIMENSION_NAME_RE = re.compile(r"^[A-Za-z_][\w .:/@<>()=,\\-]{0,254}$", re.ASCII)
NAMESPACE_RE = re.compile(r"^[^:].{0,254}$")


def _parse_cloudwatch_override(s: Section) -> CloudWatchOverride:
    """The keys ``collectors.cloudwatch`` and ``accounts[].cloudwatch`` share; absent keys stay None."""
    s.seen.update(("enabled", "regions", "period_seconds", "delay_seconds", "queries"))  # known, for typo hints
    enabled = s.boolean("enabled", False) if s.has("enabled") else None
    regions = None
    if s.has("regions"):
        regions = _regions(s, "regions", ())
    period = None
    if s.has("period_seconds"):
        period = s.integer("period_seconds", 0, minimum=1, maximum=86400 * 7) or None
        if period and period not in (1, 5, 10, 20, 30) and period % 60:
            s.problem(f"CloudWatch periods are 1, 5, 10, 20, 30 or a multiple of 60 seconds, got {period}",
                      "period_seconds")
            period = None
    delay = s.integer("delay_seconds", 0, minimum=0, maximum=86400 * 14) if s.has("delay_seconds") else None
    queries = None
    if s.has("queries"):
        queries = tuple(q for i, raw in s.items("queries")
                        if (q := _parse_cloudwatch_query(raw, s.at("queries") + f"[{i}]", s.problems)))
    return CloudWatchOverride(enabled, regions, period, delay, queries)


def _parse_cloudwatch_query(raw: Any, path: str, problems: list[str]) -> CloudWatchQuery | None:
    problems_before = len(problems)
    q = Section(raw, path, problems)
    if len(problems) > problems_before:  # not a mapping: nothing more to say about it
        return None
    namespace = q.string("namespace", required=True, pattern=NAMESPACE_RE,
                         explain="not a CloudWatch namespace (1-255 characters, not starting with ':')")
    metric = q.string("metric", required=True, pattern=re.compile(r"^.{1,255}$"), explain="1-255 characters")
    dimensions: list[tuple[str, str | None]] = []
    raw_dimensions = q.raw("dimensions")
    where = q.at("dimensions")
    if isinstance(raw_dimensions, Mapping):
        pairs = [(k, v, f"{where}.{k}") for k, v in raw_dimensions.items()]
        for name, value, at in pairs:
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value):
                q.problems.append(f"{at}: must be a dimension value (a string), got {value!r}")
            else:
                dimensions.append((str(name), str(value)))
    elif isinstance(raw_dimensions, list):
        for i, name in enumerate(raw_dimensions):
            if not isinstance(name, str):
                q.problems.append(f"{where}[{i}]: must be a dimension name, got {name!r}")
            else:
                dimensions.append((name, None))
    elif raw_dimensions is not None:
        q.problem("must be a mapping of names to values (one series) or a list of names (discover every "
                  f"series), got {type(raw_dimensions).__name__}", "dimensions")
    for name, _ in dimensions:
        if not DIMENSION_NAME_RE.match(name):
            q.problems.append(f"{where}: not a usable dimension name: {name!r}")
    if len({name for name, _ in dimensions}) != len(dimensions):
        q.problem("a dimension name is given twice", "dimensions")
    if len(dimensions) > 30:
        q.problem(f"CloudWatch allows at most 30 dimensions, got {len(dimensions)}", "dimensions")
    stats: list[str] = []
    items = q.items("stats")
    if not items and not q.problems_at("stats"):
        q.problem("list at least one statistic (e.g. [Average])", "stats")
    for i, stat in items:
        if not isinstance(stat, str) or not (stat in CLOUDWATCH_STATS or PERCENTILE_RE.match(stat)):
            q.problems.append(f"{q.at('stats')}[{i}]: must be one of {', '.join(CLOUDWATCH_STATS)} or a "
                              f"percentile like p99, got {stat!r}")
        elif stat not in stats:
            stats.append(stat)
    q.close()
    if namespace and metric and stats and len(q.problems) == problems_before:
        return CloudWatchQuery(namespace, metric, tuple(dimensions), tuple(stats))
    return None


def _parse_web(s: Section) -> WebSettings:
    address = s.string("listen_address", DEFAULT_LISTEN_ADDRESS) or DEFAULT_LISTEN_ADDRESS
    try:
        parse_listen_address(address)
    except ValueError as exc:
        s.problem(str(exc), "listen_address")
        address = DEFAULT_LISTEN_ADDRESS
    s.close()
    return WebSettings(address)


def _parse_log(s: Section) -> LogSettings:
    settings = LogSettings(
        level=s.string("level", "info", choices=("debug", "info", "warning", "error")) or "info",
        format=s.string("format", "logfmt", choices=("logfmt", "json")) or "logfmt",
    )
    s.close()
    return settings


def _parse_budgets(s: Section, known: set[str]) -> Budgets:
    """``known``: the projects the accounts name, including accounts with other problems (their projects
    are not typos here)."""
    projects_s = s.section("projects")
    projects = {}
    for key in list(projects_s.data):
        amount = projects_s.money(str(key))
        if known and str(key) not in known:  # a typo here would be a budget that never alerts
            hint = _closest(str(key), known)
            projects_s.problem("no account has this project" + (f" (did you mean {hint!r}?)" if hint else ""),
                               str(key))
        elif amount is not None:
            projects[str(key)] = amount
    s.close()
    return Budgets(projects=projects)


# The reporter validates its own section (exporter.reporter.settings), imported lazily so the exporter's
# --check-config reports reporter typos too without importing the reporter at start.
def _validate_reporter(s: Section) -> Mapping[str, Any]:
    from exporter.reporter.settings import parse_reporter  # noqa: PLC0415

    parse_reporter(s)
    return dict(s.data)


# ------------------------------------------------------------------------------------------ loading


def parse(data: Any, source: str = "<memory>") -> Config:
    """Validate a parsed YAML document; raise :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    top = Section(data, "", problems)
    aws = _parse_aws(top.section("aws"))
    accounts = _parse_accounts(top, aws.region)
    collectors = _parse_collectors(top.section("collectors"))
    if collectors.cloudwatch.enabled and not collectors.cloudwatch.queries and not any(
            a.cloudwatch and a.cloudwatch.queries for a in accounts) and not top.problems_at("collectors"):
        top.problem("list at least one query (here or in accounts[].cloudwatch.queries)",
                    "collectors.cloudwatch.queries")
    web = _parse_web(top.section("web"))
    log = _parse_log(top.section("log"))
    raw_accounts = top.raw("accounts") if isinstance(top.raw("accounts"), list) else []
    budgets = _parse_budgets(top.section("budgets"),
                             {str(a["project"]) for a in raw_accounts if isinstance(a, dict) and a.get("project")})
    reporter = _validate_reporter(top.section("reporter")) if top.has("reporter") else {}
    top.close()
    if problems:
        raise ConfigError(source, problems)
    return Config(accounts=accounts, collectors=collectors, aws=aws, web=web, log=log, budgets=budgets,
                  reporter=reporter, source=source)


def load(path: str | os.PathLike[str]) -> Config:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read: {exc.strerror or exc}"]) from None
    duplicates: list[str] = []
    try:
        data = yaml.load(text, Loader=_strict_loader(duplicates))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, [f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if duplicates:  # YAML keeps the last of two equal keys: a second accounts: block would drop the first
        raise ConfigError(source, duplicates)
    return parse(data, source)


def _strict_loader(duplicates: list[str]) -> type[yaml.SafeLoader]:
    """A SafeLoader that lists every key given twice in one mapping (with both lines) in ``duplicates``."""

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *anchor": the explicit keys beside it override the merged ones
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue  # unhashable keys are refused by the base class
                line = key_node.start_mark.line + 1
                if key in first_line:
                    duplicates.append(f"line {line}: duplicate key {key!r} (first on line {first_line[key]}); "
                                      "YAML would keep only the last")
                else:
                    first_line[key] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader
