"""The exporter's settings: frozen dataclasses and their defaults, as the section parsers fill them in.

The reporter's settings sit beside these in :mod:`exporter.config.reporter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_LISTEN_ADDRESS = ":9780"


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
    ou: str = ""  # the parent OU (or root) id AWS Organizations reports; "" when not discovered
    source: str = "config"  # "config" (listed in accounts:, discovered or not) | "organizations"


@dataclass(frozen=True, slots=True)
class SpendLimits:
    """``aws.spend_limits``: hard caps on the exporter's own AWS bill per UTC day (None = no cap); the day's
    spend is kept in ``state_file`` so a restart does not reset it (written only when a cap is set)."""

    cost_explorer_usd_per_day: Decimal | None = None
    cloudwatch_usd_per_day: Decimal | None = None
    state_file: str = "aws-ops-exporter-spend.json"

    @property
    def capped(self) -> bool:
        return self.cost_explorer_usd_per_day is not None or self.cloudwatch_usd_per_day is not None


@dataclass(frozen=True, slots=True)
class AwsSettings:
    region: str = "us-east-1"  # the main session's: aws.region, else AWS_REGION / AWS_DEFAULT_REGION, else this
    region_source: str = "default"  # "config", "AWS_REGION", "AWS_DEFAULT_REGION" or "default"
    role_session_name: str = "aws-ops-exporter"
    max_attempts: int = 8
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    # aws.rate_limits: (service or "service.Operation", requests per second), process-wide (exporter.ratelimit).
    rate_limits: tuple[tuple[str, float], ...] = ()
    # > 0: the same limit for every API that rate_limits does not name (the older key); 0 = the defaults.
    max_requests_per_second: float = 0.0
    # Accounts collected at the same time per collector; 1 = one after another (AWS rate limits).
    concurrency: int = 1
    # boto3 clients kept (one per service × account × region; ~0.3 MiB each); more are re-created as needed.
    client_cache_size: int = 200
    spend_limits: SpendLimits = field(default_factory=SpendLimits)


PER_ACCOUNT, PAYER = "per_account", "payer"  # CostSettings.mode


@dataclass(frozen=True, slots=True)
class DriverSettings:
    """``collectors.cost.drivers``: one more GetCostAndUsage per spiking service, grouped by USAGE_TYPE. A spike is
    :func:`exporter.periods.is_spike` (the reporter's definition) with these thresholds."""

    enabled: bool = True
    spike_ratio: Decimal = Decimal("2")  # yesterday ≥ ratio × the daily baseline …
    spike_min_usd: Decimal = Decimal("10")  # … and at least this much above it (a new service: at least this much)
    max_spikes: int = 5  # per account and refresh, biggest increase first: bounds the requests on a fleet-wide day


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """``collectors.cost.forecast``: GetCostForecast for the month's end. Payer mode asks one forecast for the
    organization, and one per account only with ``per_account``; per-account mode asks each account's."""

    enabled: bool = False
    per_account: bool = False


@dataclass(frozen=True, slots=True)
class CostSettings:
    enabled: bool = True
    # per_account: each account's own Cost Explorer (through its role); payer: one query set from the
    # organization's management account, grouped by LINKED_ACCOUNT and SERVICE.
    mode: str = PER_ACCOUNT
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
    # AWS's own signals beside the cost (exporter.collectors.cost_signals); each request costs $0.01 too.
    drivers: DriverSettings = field(default_factory=DriverSettings)
    record_types: bool = False  # collectors.cost.record_types.enabled: the RECORD_TYPE split, one more request
    anomalies: bool = False  # collectors.cost.anomalies.enabled: GetAnomalies, open anomalies
    forecast: ForecastSettings = field(default_factory=ForecastSettings)


@dataclass(frozen=True, slots=True)
class ShardSettings:
    """``shard:``: this replica collects the accounts of share ``index`` of ``count`` (``--shard I/N`` overrides)."""

    index: int = 0
    count: int = 1


@dataclass(frozen=True, slots=True)
class HealthSettings:
    enabled: bool = False
    interval_seconds: float = 300
    # The Health API is global: botocore sends us-east-1 to the global endpoint, which AWS moves to the active
    # region by DNS. A failover region ("" = none) is asked again when the active endpoint errors; botocore
    # marks us-east-2's regional endpoint deprecated (and warns when a client is made for it), so none is the default.
    region: str = "us-east-1"
    failover_region: str = ""
    closed_window_seconds: float = 7 * 86400  # closed events reported if they ended this recently
    organization: bool = False  # one set of *ForOrganization calls from the main account
    # Accounts without Business/Enterprise support: how long to leave them alone after SubscriptionRequired.
    subscription_backoff_seconds: float = 3600


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
    # CloudWatch cross-account observability: read every linked account from the monitoring account
    # (the exporter's identity, or monitoring_role_arn) instead of assuming a role in each.
    monitoring_account: bool = False
    monitoring_role_arn: str | None = None

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

    def per_account(self) -> tuple[str, ...]:
        """The enabled collectors that assume a role in each account (the others ask one account for all)."""
        fleet_wide = {"cost": self.cost.mode == PAYER, "health": self.health.organization,
                      "cloudwatch": self.cloudwatch.monitoring_account}
        return tuple(name for name in self.enabled() if not fleet_wide[name])


@dataclass(frozen=True, slots=True)
class OrganizationSettings:
    """``organization:``: the accounts AWS Organizations lists, discovered on their own schedule."""

    enabled: bool = False
    role_arn: str | None = None  # None: the exporter's own identity (run in the management account)
    external_id: str | None = None  # from external_id_env; also sent when assuming member_role_arn
    member_role_arn: str | None = None  # with "{account_id}"; required only when a collector runs per account
    project_tag: str = "project"
    name_tag: str = ""  # "": the account's name in Organizations
    default_project: str = "unassigned"
    include_ous: tuple[str, ...] = ()  # () = the whole organization
    exclude_accounts: tuple[str, ...] = ()
    refresh_interval_seconds: float = 3600

    def member_role(self, account_id: str) -> str:
        return (self.member_role_arn or "").replace("{account_id}", account_id)


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
    organization: OrganizationSettings = field(default_factory=OrganizationSettings)
    shard: ShardSettings = field(default_factory=ShardSettings)
    # The reporter sidecar's section as written: its shape is checked here (exporter.config.reporter), its
    # secrets are read only by the reporter itself (load_settings).
    reporter: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    def account(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.id == account_id:
                return account
        raise KeyError(account_id)
