"""The fleet: ``accounts:``, the ``aws:`` section that says how each one is reached, and ``budgets:`` for the
projects the accounts name.

An account's ExternalId may come from the environment (``external_id_env``); it is read here, once, and
never quoted in an error.
"""

from __future__ import annotations

import os
import re

from exporter.config.cloudwatch import parse_cloudwatch_override
from exporter.config.model import Account, AwsSettings, Budgets, SpendLimits
from exporter.config.validate import (ACCOUNT_ID_RE, ENV_NAME_RE, EXTERNAL_ID_RE, EXTERNAL_ID_RULE, REGION_RE,
                                      ROLE_ARN_RE, Section, did_you_mean, shown)

NAME_RE = re.compile(r"^[\w.@+-]{1,64}$")  # account names and projects
NAME_RULE = "use letters, digits and . _ - @ + (at most 64)"


# The AWS SDKs' order: AWS_REGION first, then the older AWS_DEFAULT_REGION (boto3 reads only the latter).
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def parse_aws(s: Section) -> AwsSettings:
    d = AwsSettings()
    region, region_source = _region(s, d.region)
    settings = AwsSettings(
        region=region,
        region_source=region_source,
        role_session_name=s.string("role_session_name", d.role_session_name,
                                   pattern=re.compile(r"^[\w+=,.@-]{2,64}$"), explain="not a valid RoleSessionName"),
        max_attempts=s.integer("max_attempts", d.max_attempts, minimum=1, maximum=20),
        connect_timeout_seconds=s.duration("connect_timeout", d.connect_timeout_seconds, minimum=0.1),
        read_timeout_seconds=s.duration("read_timeout", d.read_timeout_seconds, minimum=0.1),
        rate_limits=_rate_limits(s.section("rate_limits")) if s.has("rate_limits") else d.rate_limits,
        max_requests_per_second=s.number("max_requests_per_second", d.max_requests_per_second),
        concurrency=s.integer("concurrency", d.concurrency, minimum=1, maximum=64),
        client_cache_size=s.integer("client_cache_size", d.client_cache_size, minimum=1, maximum=1_000_000),
        spend_limits=parse_spend_limits(s.section("spend_limits")),
    )
    s.close()
    return settings


# The services the exporter calls (boto3's names): a rate_limits key for any other is a typo.
RATE_LIMITED_SERVICES = ("ce", "cloudwatch", "health", "organizations", "sts")
OPERATION_RE = re.compile(r"^[A-Z][A-Za-z0-9]{1,127}$")


def _rate_limits(s: Section) -> tuple[tuple[str, float], ...]:
    """``aws.rate_limits``: service or ``service.Operation`` → requests per second (> 0)."""
    limits = []
    for key in map(str, s.data):
        service, _, operation = key.partition(".")
        if service not in RATE_LIMITED_SERVICES:
            s.problem(f"not a service the exporter calls ({', '.join(RATE_LIMITED_SERVICES)})"
                      + did_you_mean(service, RATE_LIMITED_SERVICES), key)
        elif operation and not OPERATION_RE.match(operation):
            s.problem("not an operation name (like cloudwatch.GetMetricData)", key)
        else:
            value = s.raw(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                s.problem(f"must be a number > 0 (requests per second), got {shown(value)}", key)
            else:
                limits.append((key, float(value)))
    return tuple(sorted(limits))


def parse_spend_limits(s: Section) -> SpendLimits:
    d = SpendLimits()
    limits = SpendLimits(cost_explorer_usd_per_day=s.money("cost_explorer_usd_per_day"),
                         cloudwatch_usd_per_day=s.money("cloudwatch_usd_per_day"),
                         state_file=s.string("state_file", d.state_file) or d.state_file)
    s.close()
    return limits


def _region(s: Section, default: str) -> tuple[str, str]:
    """The main session's region and where it came from: ``aws.region``, else the environment, else ``default``."""
    if s.has("region"):
        return s.string("region", default, pattern=REGION_RE, explain="not an AWS region") or default, "config"
    for variable in REGION_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if REGION_RE.match(value):
            return value, variable
        s.problem(f"not set, and the environment variable {variable} is not an AWS region: {value[:40]!r}", "region")
        break
    return default, "default"


def read_external_id(a: Section) -> str | None:
    """``external_id`` or the variable ``external_id_env`` names (read here, once; never quoted in an error)."""
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
    return external_id or None


def parse_accounts(s: Section, default_region: str, required: bool = True) -> tuple[Account, ...]:
    """``required``: at least one account (not when organization discovery brings them)."""
    accounts: list[Account] = []
    first_seen: dict[str, int] = {}
    names: dict[str, int] = {}
    items = s.items("accounts")
    if required and not items and not s.problems_at("accounts"):
        s.problem("at least one account is required (or turn on organization.enabled)", "accounts")
    for index, raw in items:
        a = Section(raw, s.at("accounts") + f"[{index}]", s.problems)
        account_id = a.string("id", required=True, pattern=ACCOUNT_ID_RE, explain="not a 12-digit AWS account id")
        name = a.string("name", required=True, pattern=NAME_RE, explain=NAME_RULE)
        project = a.string("project", required=True, pattern=NAME_RE, explain=NAME_RULE)
        role_arn = a.string("role_arn", required=True, pattern=ROLE_ARN_RE, explain="not an IAM role ARN")
        external_id = read_external_id(a)
        regions = a.regions("regions", (default_region,))
        budget = a.money("budget_usd")
        cloudwatch = None
        if a.has("cloudwatch"):
            cw_s = a.section("cloudwatch")
            cloudwatch = parse_cloudwatch_override(cw_s)
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
            accounts.append(Account(account_id, name, project, role_arn, external_id, regions, budget,
                                    cloudwatch))
    return tuple(accounts)


def parse_budgets(s: Section, known: set[str] | None) -> Budgets:
    """``known``: the projects the accounts name, including accounts with other problems (their projects
    are not typos here); None when discovered accounts may bring any project."""
    projects_s = s.section("projects")
    projects = {}
    for key in list(projects_s.data):
        amount = projects_s.money(str(key))
        if known is not None and known and str(key) not in known:  # a typo here would be a budget that never alerts
            projects_s.problem("no account has this project" + did_you_mean(str(key), known), str(key))
        elif amount is not None:
            projects[str(key)] = amount
    s.close()
    return Budgets(projects=projects)
