"""The reporter sidecar's settings: the ``reporter:`` section, validated into frozen dataclasses, secrets
resolved apart.

:func:`parse_reporter` only checks the section's shape, so ``aws-ops-exporter --check-config`` reports
reporter typos with their paths (``reporter.chat[1].webhook_url_env: ...``) without needing the
reporter's secrets in the exporter's environment (:func:`exporter.config.parse` calls it for the section).
:func:`resolve_secrets` reads the environment variables the section names (the LLM key, the webhook URLs)
when the reporter itself starts; the values live only in memory, never in logs, SQLite or metrics.
"""

from __future__ import annotations

import math
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from exporter.config.pull import URL_RE, ExporterAccess, parse_exporter_urls, resolve_access
from exporter.config.spikes import parse_spike_thresholds, spike_definition_mismatches
from exporter.config.validate import ENV_NAME_RE, ConfigError, Section, shown

CHAT_TYPES = ("slack", "teams", "google_chat", "webhook")
LANGUAGES = ("en", "ko")
DEFAULT_DATABASE = "data/aws-ops.db"
DEFAULT_LISTEN_ADDRESS = ":9781"
HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class LlmSettings:
    base_url: str  # OpenAI-compatible, e.g. https://ai-gateway.internal/v1 (POST {base_url}/chat/completions)
    model: str
    api_key_env: str | None = None
    timeout_seconds: float = 60.0
    max_attempts: int = 4
    temperature: float = 0.2
    api_key: str | None = field(default=None, repr=False)  # from api_key_env, by resolve_secrets


@dataclass(frozen=True, slots=True)
class ChatDestination:
    name: str  # in logs, metrics and SQLite instead of the URL
    type: str  # slack | teams | google_chat | webhook
    webhook_url_env: str
    timeout_seconds: float = 15.0
    webhook_url: str | None = field(default=None, repr=False)  # from webhook_url_env, by resolve_secrets


@dataclass(frozen=True, slots=True)
class Retention:
    """Days kept per table; older rows are deleted once a day so the database never grows without bound."""

    cost_days: int = 800
    health_days: int = 400  # closed events, by when they closed (AWS's last update, or leaving the results)
    cloudwatch_days: int = 35
    pulls_days: int = 30  # also collector_status rows not attempted for that long (removed accounts)
    posts_days: int = 400


@dataclass(frozen=True, slots=True)
class SummarySettings:
    top_services: int = 5
    top_movers: int = 5
    baseline_days: int = 14
    spike_ratio: Decimal = Decimal("2")  # cost ≥ ratio × trailing mean …
    spike_min_usd: Decimal = Decimal("10")  # … and at least this much above it
    # A CloudWatch series shown next to a spike or mover: its mean on the day moved at least this many percent
    # from its baseline mean, either way (exporter.reporter.cwcontext).
    cloudwatch_min_change_pct: Decimal = Decimal("50")
    # No budget projection before this many complete days of the month (the Prometheus rules' own
    # aws_ops:budget_min_days_elapsed:threshold, prometheus/rules/thresholds.yml): fees billed on the 1st make
    # one day × the days in the month meaningless. A month to date already over the budget is over it all the same.
    budget_min_days_elapsed: int = 3


@dataclass(frozen=True, slots=True)
class ReporterSettings:
    exporter_urls: tuple[str, ...] = ("http://localhost:9780",)
    # TLS and basic auth for the exporter_urls entries that carry them (exporter.config.pull)
    exporter_access: tuple[ExporterAccess, ...] = ()
    database: str = DEFAULT_DATABASE
    pull_interval_seconds: float = 900.0
    pull_timeout_seconds: float = 30.0
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    timezone: str = "UTC"
    schedule_hour: int = 9
    schedule_minute: int = 0
    language: str = "en"
    grafana_url: str | None = None  # each item of the post links to its panel there (grafana/dashboards/)
    llm: LlmSettings | None = None
    chat: tuple[ChatDestination, ...] = ()
    retention: Retention = field(default_factory=Retention)
    summary: SummarySettings = field(default_factory=SummarySettings)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def access(self, url: str) -> ExporterAccess | None:
        return next((a for a in self.exporter_access if a.url == url), None)


def parse_reporter(section: Section) -> ReporterSettings:
    """Validate ``reporter:``; problems go to ``section.problems`` with their paths."""
    s = section
    d = ReporterSettings()
    urls, access = parse_exporter_urls(s)
    if s.has("exporter_urls") and not urls and not s.problems_at("exporter_urls"):
        s.problem("must list at least one exporter URL", "exporter_urls")

    listen = s.listen_address("listen_address", DEFAULT_LISTEN_ADDRESS)

    timezone = s.string("timezone", "UTC") or "UTC"
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        s.problem(f"unknown time zone {shown(timezone)} (use an IANA name such as Asia/Seoul)", "timezone")
        timezone = "UTC"

    hour, minute = d.schedule_hour, d.schedule_minute
    raw_schedule = s.data.get("schedule")
    if isinstance(raw_schedule, int) and not isinstance(raw_schedule, bool) and 0 <= raw_schedule < 24 * 60:
        s.raw("schedule")  # YAML 1.1 reads an unquoted 9:30 as the base-60 number 570
        at = f"{raw_schedule // 60:02d}:{raw_schedule % 60:02d}"
    else:
        at = s.string("schedule", "09:00", pattern=HHMM_RE, explain="must be a time of day HH:MM")
    if at and HHMM_RE.match(at):
        hour, minute = (int(part) for part in HHMM_RE.match(at).groups())  # type: ignore[union-attr]

    settings = ReporterSettings(
        exporter_urls=tuple(urls) or d.exporter_urls,
        exporter_access=tuple(access),
        database=s.string("database", DEFAULT_DATABASE) or DEFAULT_DATABASE,
        pull_interval_seconds=s.duration("pull_interval", d.pull_interval_seconds),
        pull_timeout_seconds=s.duration("pull_timeout", d.pull_timeout_seconds, minimum=0.1),
        listen_address=listen,
        timezone=timezone,
        schedule_hour=hour,
        schedule_minute=minute,
        language=s.string("language", "en", choices=LANGUAGES) or "en",
        grafana_url=(s.string("grafana_url", pattern=URL_RE, explain="not an http(s) URL") or "").rstrip("/") or None,
        llm=_parse_llm(s.section("llm")),
        chat=_parse_chat(s),
        retention=_parse_retention(s.section("retention")),
        summary=_parse_summary(s.section("summary")),
    )
    s.close()
    return settings


def _parse_llm(s: Section) -> LlmSettings | None:
    if not s.data:
        s.close()
        return None
    base_url = s.string("base_url", required=True, pattern=URL_RE, explain="not an http(s) URL")
    model = s.string("model", required=True)
    d = LlmSettings("", "")
    settings = LlmSettings(
        base_url=(base_url or "").rstrip("/"),
        model=model or "",
        api_key_env=s.string("api_key_env", pattern=ENV_NAME_RE, explain="not an environment variable name"),
        timeout_seconds=s.duration("timeout", d.timeout_seconds, minimum=0.1),
        max_attempts=s.integer("max_attempts", d.max_attempts, minimum=1, maximum=10),
        temperature=s.number("temperature", d.temperature),
    )
    s.close()
    return settings if base_url and model else None


def _parse_chat(s: Section) -> tuple[ChatDestination, ...]:
    destinations: list[ChatDestination] = []
    names: dict[str, int] = {}
    for index, raw in s.items("chat"):
        c = Section(raw, s.at("chat") + f"[{index}]", s.problems)
        kind = c.string("type", required=True, choices=CHAT_TYPES)
        env = c.string("webhook_url_env", required=True, pattern=ENV_NAME_RE,
                       explain="not an environment variable name")
        name = c.string("name", kind, pattern=NAME_RE, explain="use lowercase letters, digits, - and _ (at most 63)")
        timeout = c.duration("timeout", 15.0, minimum=0.1)
        c.close()
        if name and name in names:
            c.problem(f"duplicate destination name {name!r} (first at chat[{names[name]}]); give each a name", "name")
            continue
        if name:
            names[name] = index
        if kind and env and name:
            destinations.append(ChatDestination(name=name, type=kind, webhook_url_env=env, timeout_seconds=timeout))
    return tuple(destinations)


def _parse_retention(s: Section) -> Retention:
    d = Retention()
    retention = Retention(**{name: s.integer(name, getattr(d, name), minimum=1, maximum=36500)
                             for name in ("cost_days", "health_days", "cloudwatch_days", "pulls_days", "posts_days")})
    s.close()
    return retention


def _parse_summary(s: Section) -> SummarySettings:
    d = SummarySettings()
    spike_ratio, spike_min_usd = parse_spike_thresholds(s, d.spike_ratio, d.spike_min_usd)
    settings = SummarySettings(
        top_services=s.integer("top_services", d.top_services, minimum=1, maximum=20),
        top_movers=s.integer("top_movers", d.top_movers, minimum=1, maximum=20),
        baseline_days=s.integer("baseline_days", d.baseline_days, minimum=1, maximum=60),
        spike_ratio=spike_ratio,
        spike_min_usd=spike_min_usd,
        cloudwatch_min_change_pct=_positive(s, "cloudwatch_min_change_pct", d.cloudwatch_min_change_pct),
        budget_min_days_elapsed=s.integer("budget_min_days_elapsed", d.budget_min_days_elapsed, minimum=0, maximum=31),
    )
    s.close()
    return settings


def _positive(s: Section, key: str, default: Decimal) -> Decimal:
    value = s.raw(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        s.problem(f"must be a number > 0, got {shown(value)}", key)
        return default
    return Decimal(str(value))


def load_settings(reporter_section: Mapping[str, Any], source: str,
                  environ: Mapping[str, str] | None = None) -> ReporterSettings:
    """The reporter's settings with secrets resolved; :class:`ConfigError` lists every problem."""
    problems: list[str] = []
    settings = parse_reporter(Section(reporter_section, "reporter", problems))
    if not problems:
        settings = resolve_secrets(settings, os.environ if environ is None else environ, problems)
    if problems:
        raise ConfigError(source, problems)
    return settings


def resolve_secrets(settings: ReporterSettings, environ: Mapping[str, str], problems: list[str]) -> ReporterSettings:
    llm = settings.llm
    if llm is not None and llm.api_key_env:
        key = environ.get(llm.api_key_env, "")
        if not key:
            problems.append(f"reporter.llm.api_key_env: environment variable {llm.api_key_env} is not set")
        llm = replace(llm, api_key=key or None)
    chat = []
    for index, destination in enumerate(settings.chat):
        url = environ.get(destination.webhook_url_env, "").strip()
        if not url:
            problems.append(f"reporter.chat[{index}].webhook_url_env: environment variable "
                            f"{destination.webhook_url_env} is not set")
        elif not URL_RE.match(url):
            # Never echo the value: a webhook URL is a credential.
            problems.append(f"reporter.chat[{index}].webhook_url_env: {destination.webhook_url_env} "
                            "does not hold an http(s) URL")
        chat.append(replace(destination, webhook_url=url or None))
    return replace(settings, llm=llm, chat=tuple(chat),
                   exporter_access=resolve_access(settings.exporter_access, environ, problems))


def spike_mismatches(config: Any, summary: SummarySettings | None = None) -> list[str]:
    """``config`` (an :class:`exporter.config.Config`): its reporter section's spike definition (or ``summary``)
    against the one its exporter asks spike drivers for, when both are on; one warning line each."""
    cost = config.collectors.cost
    if not cost.enabled or not cost.drivers.enabled or (summary is None and not config.reporter):
        return []
    if summary is None:
        summary = parse_reporter(Section(config.reporter, "reporter", [])).summary
    return spike_definition_mismatches((cost.drivers.spike_ratio, cost.drivers.spike_min_usd, cost.baseline_days),
                                       (summary.spike_ratio, summary.spike_min_usd, summary.baseline_days))
