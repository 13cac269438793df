"""Loading: a file's text read within limits, its YAML read strictly (a key given twice is an error, merge keys
work), then every section parsed into a :class:`~exporter.config.model.Config`, or a :class:`ConfigError`
listing every problem.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping
from typing import Any

from exporter.config.accounts import parse_accounts, parse_aws, parse_budgets
from exporter.config.collectors import parse_collectors
from exporter.config.model import Config
from exporter.config.organization import parse_organization
from exporter.config.process import parse_log, parse_web
from exporter.config.reporter import parse_reporter
from exporter.config.shard import parse_shard
from exporter.config.textfile import read_config_text
from exporter.config.validate import ConfigError, Section
from exporter.config.yamlload import YamlProblem, load_yaml


def parse(data: Any, source: str = "<memory>") -> Config:
    """Validate a parsed YAML document; raise :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    top = Section(data, "", problems)
    aws = parse_aws(top.section("aws"))
    organization = parse_organization(top.section("organization"))
    accounts = parse_accounts(top, aws.region, required=not organization.enabled)
    collectors = parse_collectors(top.section("collectors"))
    if organization.enabled and not organization.member_role_arn and collectors.per_account():
        top.problem(f"is required: {', '.join(collectors.per_account())} "
                    f"{'runs' if len(collectors.per_account()) == 1 else 'run'} in each account (or use "
                    "collectors.cost.mode: payer, collectors.health.organization: true, "
                    "collectors.cloudwatch.monitoring_account: true)", "organization.member_role_arn")
    if collectors.cloudwatch.enabled and not collectors.cloudwatch.queries and not any(
            a.cloudwatch and a.cloudwatch.queries for a in accounts) and not top.problems_at("collectors"):
        top.problem("list at least one query (here or in accounts[].cloudwatch.queries)",
                    "collectors.cloudwatch.queries")
    web = parse_web(top.section("web"))
    log = parse_log(top.section("log"))
    shard = parse_shard(top.section("shard"))
    raw_accounts = top.raw("accounts") if isinstance(top.raw("accounts"), list) else []
    # With discovery on, a budget may be for a project only discovered accounts have.
    budgets = parse_budgets(top.section("budgets"), None if organization.enabled else
                            {str(a["project"]) for a in raw_accounts if isinstance(a, dict) and a.get("project")})
    reporter = _check_reporter(top.section("reporter")) if top.has("reporter") else {}
    top.close()
    if problems:
        raise ConfigError(source, problems)
    return Config(accounts=accounts, collectors=collectors, aws=aws, web=web, log=log, budgets=budgets,
                  organization=organization, shard=shard, reporter=reporter, source=source)


def _check_reporter(s: Section) -> Mapping[str, Any]:
    """The section's shape only: the reporter reads its secrets from its own environment when it starts."""
    parse_reporter(s)
    return dict(s.data)


def load(path: str | os.PathLike[str]) -> Config:
    """Read, check and parse a config file: :class:`ConfigError` as :func:`read_document` gives it, or with every
    problem :func:`parse` finds."""
    with _collections_paused():
        return parse(read_document(path), str(path))


def read_document(path: str | os.PathLike[str]) -> Any:
    """A YAML file read strictly: :class:`ConfigError` with one problem when the file cannot be read or is not
    UTF-8 YAML text within the limits (:mod:`~exporter.config.textfile`, :mod:`~exporter.config.yamlload`), or
    with every key given twice."""
    source = str(path)
    text = read_config_text(path)
    with _collections_paused():
        try:
            data, duplicates = load_yaml(text)
        except YamlProblem as exc:
            raise ConfigError(source, [str(exc)]) from None
    if duplicates:  # YAML keeps the last of two equal keys: a second accounts: block would drop the first
        raise ConfigError(source, duplicates)
    return data


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """No cyclic garbage collection while a config loads: it makes ~10 objects a YAML node and no garbage, and
    each collection would walk them all again (a 12,000-account file loads in half the time without)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
