"""Organization discovery: which accounts the exporter serves, from AWS Organizations, on its own schedule.

Each run lists the organization's accounts (ListAccounts), fetches tags and parent OU only for accounts
seen for the first time or whose details are older than ``refresh_interval``, resolves ``include_ous``
(ListOrganizationalUnitsForParent) when set, merges the configured accounts in (:func:`exporter.fleet.merge`)
and publishes the new fleet: the runner's next passes cover it, and accounts that left drop out of the
snapshot (and so out of the metrics) at once. A failed run changes nothing but the status
(``aws_exporter_discovery_up 0``): never "zero accounts" after a blip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from exporter.aws import EXPECTED_ERRORS, error_message
from exporter.collectors.organizations import (INCLUDE_OUS_OPERATIONS, OPERATIONS, AccountDetails, ListedAccount,
                                              OrganizationReader)
from exporter.config import Account, OrganizationSettings
from exporter.fleet import Fleet, in_scope, infos, merge
from exporter.model import DiscoveryStatus, utcnow
from exporter.snapshot import SnapshotHolder

log = logging.getLogger(__name__)
# A run fetches details older than this share of the interval: runs are one interval apart, give or take
# how long each took, and a run must not skip an account's refresh for a few seconds' difference.
STALE_SHARE = 0.9


class Discovery:
    """Runs discovery and publishes its outcome into the fleet and the snapshot."""

    name = "discovery"

    def __init__(self, settings: OrganizationSettings, configured: Sequence[Account], default_region: str,
                 client: Callable[[], Any], fleet: Fleet, holder: SnapshotHolder,
                 clock: Callable[[], float] = time.monotonic):
        """``client()`` returns an Organizations client through the organization role."""
        self.settings = settings
        self.configured = tuple(configured)
        self.default_region = default_region
        self.client = client
        self.fleet = fleet
        self.holder = holder
        self.clock = clock
        self.interval_seconds = settings.refresh_interval_seconds
        self.operations = OPERATIONS + (INCLUDE_OUS_OPERATIONS if settings.include_ous else ())
        self._details: dict[str, tuple[float, AccountDetails]] = {}
        self._status: DiscoveryStatus | None = None
        # The last successful run's accounts in scope and their details: what a reload merges again.
        self._known: tuple[list[ListedAccount], dict[str, AccountDetails]] | None = None
        self._merging = threading.Lock()  # a run and a reload merge and publish one at a time

    def run(self) -> bool:
        """One discovery; True when it succeeded."""
        attempt, t0 = utcnow(), self.clock()
        try:
            scope, details, fetched = self._discover(t0)
        except Exception as exc:  # noqa: BLE001 - a failed discovery is a value; the last good list stays
            message = error_message(exc)
            if isinstance(exc, EXPECTED_ERRORS):
                log.warning("event=discovery_failed error=%r", message)
            else:
                log.error("event=discovery_failed error=%r", message, exc_info=exc)
            with self._merging:
                before = self._status
                self._status = DiscoveryStatus(
                    up=False, discovered_accounts=before.discovered_accounts if before else 0,
                    last_attempt=attempt, last_success=before.last_success if before else None, error=message)
                self.holder.publish_fleet(self.holder.current.accounts, self._status)
            return False
        with self._merging:
            self._known = (scope, details)
            before_ids = {a.id for a in self.fleet.accounts}
            self._status = DiscoveryStatus(up=True, discovered_accounts=len(scope), last_attempt=attempt,
                                           last_success=utcnow())
            accounts = self._publish()
        after_ids = {a.id for a in accounts}
        log.info("event=discovery_done discovered=%d accounts=%d joined=%d left=%d details_fetched=%d "
                 "duration_seconds=%.3f", len(scope), len(accounts), len(after_ids - before_ids),
                 len(before_ids - after_ids), fetched, self.clock() - t0)
        return True

    def reconfigure(self, settings: OrganizationSettings, configured: Sequence[Account]) -> bool:
        """A config reload: the new settings and configured accounts, merged at once with the accounts the last
        successful run found (no AWS call: unchanged accounts keep their data). False when that is not enough
        (no run succeeded yet, or ``include_ous`` / ``exclude_accounts`` changed): a new run must tell who is in
        scope."""
        with self._merging:
            same_scope = (settings.include_ous, settings.exclude_accounts) == (self.settings.include_ous,
                                                                               self.settings.exclude_accounts)
            self.settings, self.configured = settings, tuple(configured)
            self.interval_seconds = settings.refresh_interval_seconds
            self._publish()
            return same_scope and self._known is not None

    def adopt(self, previous: Discovery) -> None:
        """Start from what ``previous`` knows (a reload gave the organization another role): its accounts are
        served until this one's first run."""
        with previous._merging:
            self._known, self._status = previous._known, previous._status

    def _publish(self) -> tuple[Account, ...]:
        """The fleet from the configured accounts and the last run's (call with ``_merging`` held)."""
        scope, details = self._known or ([], {})
        accounts = merge(self.configured, scope, details, self.settings, self.default_region)
        self.fleet.replace(accounts)
        self.holder.publish_fleet(infos(accounts), self._status)
        return accounts

    def _discover(self, now: float) -> tuple[list[ListedAccount], dict[str, AccountDetails], int]:
        """The accounts in scope, the details of every wanted account, and how many details were fetched."""
        reader = OrganizationReader(self.client())
        wanted = in_scope(reader.accounts(), {}, self.settings, None)  # ACTIVE, not excluded; OUs need details
        stale_after = self.settings.refresh_interval_seconds * STALE_SHARE
        fetched = 0
        details = dict(self._details)
        for account in wanted:
            known = details.get(account.id)
            if known is None or now - known[0] >= stale_after:
                details[account.id] = (now, reader.details(account.id))
                fetched += 1
        included = reader.ous_under(self.settings.include_ous) if self.settings.include_ous else None
        # Only a whole successful run replaces what is known; accounts no longer wanted are forgotten.
        self._details = {a.id: details[a.id] for a in wanted}
        known = {k: d for k, (_, d) in self._details.items()}
        return in_scope(wanted, known, self.settings, included), known, fetched
