"""The ``organization:`` section: discover the fleet from AWS Organizations.

The organization role's ExternalId comes from ``external_id_env`` (read once, never quoted in an error) and is
also sent when assuming ``member_role_arn`` in each discovered account.
"""

from __future__ import annotations

import re

from exporter.config.accounts import NAME_RE, NAME_RULE, read_external_id
from exporter.config.model import OrganizationSettings
from exporter.config.validate import ACCOUNT_ID_RE, ROLE_ARN_RE, Section, shown

OU_OR_ROOT_RE = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
TAG_KEY_RE = re.compile(r"^[\w.:/=+@ -]{1,128}$")  # Organizations' tag key rule
MEMBER_ROLE_PLACEHOLDER = "{account_id}"


def parse_organization(s: Section) -> OrganizationSettings:
    d = OrganizationSettings()
    enabled = s.boolean("enabled", d.enabled)
    role_arn = s.string("role_arn", pattern=ROLE_ARN_RE, explain="not an IAM role ARN")
    external_id = read_external_id(s)
    member_role_arn = s.string("member_role_arn")
    if member_role_arn is not None:
        if MEMBER_ROLE_PLACEHOLDER not in member_role_arn:
            s.problem(f"must contain {MEMBER_ROLE_PLACEHOLDER} (each account's id goes there)", "member_role_arn")
        elif not ROLE_ARN_RE.match(member_role_arn.replace(MEMBER_ROLE_PLACEHOLDER, "123456789012")):
            s.problem("not an IAM role ARN once {account_id} is filled in "
                      '(e.g. "arn:aws:iam::{account_id}:role/ops-exporter")', "member_role_arn")
            member_role_arn = None
    project_tag = s.string("project_tag", d.project_tag, pattern=TAG_KEY_RE, explain="not an AWS tag key")
    name_tag = s.raw("name_tag", d.name_tag)
    if name_tag is None:
        name_tag = ""
    if not isinstance(name_tag, str) or (name_tag and not TAG_KEY_RE.match(name_tag)):
        s.problem('not an AWS tag key ("" = the account\'s name in Organizations)', "name_tag")
        name_tag = ""
    default_project = s.string("default_project", d.default_project, pattern=NAME_RE, explain=NAME_RULE)
    include_ous = _ids(s, "include_ous", OU_OR_ROOT_RE, "not an OU id (ou-…) or root id (r-…)")
    exclude_accounts = _ids(s, "exclude_accounts", ACCOUNT_ID_RE, "not a 12-digit AWS account id")
    refresh = s.duration("refresh_interval", d.refresh_interval_seconds, minimum=60)
    s.close()
    return OrganizationSettings(
        enabled=enabled, role_arn=role_arn, external_id=external_id, member_role_arn=member_role_arn,
        project_tag=project_tag or d.project_tag, name_tag=name_tag, default_project=default_project or d.default_project,
        include_ous=include_ous, exclude_accounts=exclude_accounts, refresh_interval_seconds=refresh)


def _ids(s: Section, key: str, pattern: re.Pattern[str], explain: str) -> tuple[str, ...]:
    ids: list[str] = []
    for i, value in s.items(key):
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(value, str) or not pattern.match(value):
            s.problem(f"{explain}: {shown(value)}", f"{key}[{i}]")
        elif value not in ids:
            ids.append(value)
    return tuple(ids)
