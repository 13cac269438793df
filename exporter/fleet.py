"""The fleet: the accounts being served right now, listed in ``accounts:`` and/or discovered.

:class:`Fleet` holds the current tuple of :class:`~exporter.config.Account` (swapped whole, like the
snapshot); the runner reads it at the start of each pass. :func:`merge` is the one rule for combining the
configured accounts with the discovered ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from exporter.collectors.organizations import AccountDetails, ListedAccount
from exporter.config import Account, OrganizationSettings
from exporter.model import CONFIG, ORGANIZATIONS, AccountInfo


class Fleet:
    """The accounts being served; readers never lock, discovery replaces the whole tuple."""

    def __init__(self, accounts: Iterable[Account] = ()):
        self._accounts = tuple(accounts)

    @property
    def accounts(self) -> tuple[Account, ...]:
        return self._accounts

    def replace(self, accounts: Iterable[Account]) -> None:
        self._accounts = tuple(accounts)


def infos(accounts: Iterable[Account]) -> tuple[AccountInfo, ...]:
    """The snapshot's view of the accounts: what the exposition and the reporter label with."""
    return tuple(AccountInfo(a.id, a.name, a.project, a.ou, a.source, a.budget_usd) for a in accounts)


def in_scope(listed: Iterable[ListedAccount], details: Mapping[str, AccountDetails], settings: OrganizationSettings,
             included_ous: frozenset[str] | None) -> list[ListedAccount]:
    """ACTIVE, not excluded, and (with ``include_ous``) under one of the included OUs or roots."""
    excluded = set(settings.exclude_accounts)
    out = []
    for a in listed:
        if not a.active or a.id in excluded:
            continue
        if included_ous is not None and (a.id not in details or details[a.id].parent not in included_ous):
            continue
        out.append(a)
    return out


def merge(configured: Sequence[Account], discovered: Iterable[ListedAccount], details: Mapping[str, AccountDetails],
          settings: OrganizationSettings, default_region: str) -> tuple[Account, ...]:
    """Configured accounts first (in their order; one the organization also lists keeps its own name, project,
    role and budget, and gains its OU), then the discovered ones by id. A discovered name another account
    already has gets ``-<id>`` appended: the ``account`` label must tell accounts apart."""
    discovered = sorted(discovered, key=lambda a: a.id)
    found = {a.id: a for a in discovered}
    fleet = [replace(a, ou=details[a.id].parent if a.id in found and a.id in details else "", source=CONFIG)
             for a in configured]
    taken = {a.name for a in fleet}
    listed = {a.id for a in fleet}
    for a in discovered:
        if a.id in listed:
            continue
        d = details.get(a.id, AccountDetails({}, ""))
        name = (d.tags.get(settings.name_tag) if settings.name_tag else None) or a.name
        if name in taken:
            name = f"{name}-{a.id}"
        taken.add(name)
        fleet.append(Account(
            id=a.id, name=name, project=d.tags.get(settings.project_tag) or settings.default_project,
            role_arn=settings.member_role(a.id), external_id=settings.external_id, regions=(default_region,),
            ou=d.parent, source=ORGANIZATIONS))
    return tuple(fleet)
