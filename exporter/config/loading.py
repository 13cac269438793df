"""Loading: a file's YAML read strictly (a key given twice is an error, merge keys work), then every section
parsed into a :class:`~exporter.config.model.Config`, or a :class:`ConfigError` listing every problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from exporter.config.accounts import parse_accounts, parse_aws, parse_budgets
from exporter.config.collectors import parse_collectors
from exporter.config.model import Config
from exporter.config.organization import parse_organization
from exporter.config.process import parse_log, parse_web
from exporter.config.reporter import parse_reporter
from exporter.config.validate import ConfigError, Section


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
    raw_accounts = top.raw("accounts") if isinstance(top.raw("accounts"), list) else []
    # With discovery on, a budget may be for a project only discovered accounts have.
    budgets = parse_budgets(top.section("budgets"), None if organization.enabled else
                            {str(a["project"]) for a in raw_accounts if isinstance(a, dict) and a.get("project")})
    reporter = _check_reporter(top.section("reporter")) if top.has("reporter") else {}
    top.close()
    if problems:
        raise ConfigError(source, problems)
    return Config(accounts=accounts, collectors=collectors, aws=aws, web=web, log=log, budgets=budgets,
                  organization=organization, reporter=reporter, source=source)


def _check_reporter(s: Section) -> Mapping[str, Any]:
    """The section's shape only: the reporter reads its secrets from its own environment when it starts."""
    parse_reporter(s)
    return dict(s.data)


def load(path: str | os.PathLike[str]) -> Config:
    return parse(read_document(path), str(path))


def read_document(path: str | os.PathLike[str]) -> Any:
    """A YAML file read strictly; :class:`ConfigError` for a file that cannot be read or is not valid YAML."""
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
    return data


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
