"""``--check-config --check-credentials``: the main credentials, then every role the enabled collectors would
assume, each tried once (AssumeRole, credentials thrown away), as a table.

Which roles: the organization's and the monitoring account's when something goes through them; with
discovery, the organization is listed once (as discovery would) and each in-scope account's member role is
tried; each listed account's role when a collector runs per account. Roles nothing would assume are not tried.
Sharded (``--shard I/N``), a replica tries what it would assume: its share's member roles, and the fleet-wide
roles on shard 0 only (discovery's organization role on every shard: each one discovers).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from exporter.app import App, fleet_roles
from exporter.aws import error_message
from exporter.credentials import explain

WORKERS = 8  # AssumeRole calls at once: a 1,000-account fleet checks in seconds, far below STS's rate limit


@dataclass(frozen=True, slots=True)
class Check:
    account: str  # "main", "organization", "monitoring", "discovery" or "name (id)"
    role: str  # the role ARN, "-" for the main credentials
    problem: str | None = None  # None: ok
    note: str = ""  # what an ok says besides

    @property
    def result(self) -> str:
        if self.problem is not None:
            return self.problem
        return f"ok: {self.note}" if self.note else "ok"


def check_credentials(app: App) -> list[Check]:
    """Every check, in order: the main credentials first (nothing else is tried when they fail)."""
    try:
        account_id, arn = app.clients.caller_identity()
    except Exception as exc:  # noqa: BLE001 - every failure is a row
        problem = explain(exc, app.clients.settings.region)
        return [Check("main", "-", f"{problem.reason}: {problem.error}; {problem.action}")]
    checks = [Check("main", "-", note=f"{arn} (account {account_id}, region {app.clients.settings.region})")]
    roles = fleet_roles(app.config, app.collectors, app.discovery)
    shared = [(tag, role, external_id) for tag, (role, external_id) in roles.items()]
    checks += _assume_all(app, shared)
    if app.discovery is not None:
        role = roles.get("organization", ("-", None))[0]
        if any(c.problem and c.account == "organization" for c in checks):
            checks.append(Check("discovery", role, "not tried: the organization role failed"))
        else:
            checks.append(_discover(app, role))
    per_account = next((c for c in app.collectors if not c.fleet_wide), None)
    if per_account is not None:
        share = app.runner.covered(per_account)
        checks += _assume_all(app, [(a.id, a.role_arn, a.external_id) for a in share],
                              {a.id: f"{a.name} ({a.id})" for a in share})
    return checks


def _discover(app: App, role: str) -> Check:
    assert app.discovery is not None
    app.discovery.run()
    status = app.holder.current.discovery
    if status is None or not status.up:
        return Check("discovery", role, status.error if status is not None else "did not run")
    return Check("discovery", role, note=f"{status.discovered_accounts} accounts in scope")


def _assume_all(app: App, roles: Sequence[tuple[str, str, str | None]],
                labels: dict[str, str] | None = None) -> list[Check]:
    """``roles``: (session tag, role ARN, ExternalId); the checks in the same order."""
    def one(tag: str, role: str, external_id: str | None) -> Check:
        label = (labels or {}).get(tag, tag)
        try:
            app.clients.try_assume_role(role, external_id, tag)
        except Exception as exc:  # noqa: BLE001 - every failure is a row
            return Check(label, role, error_message(exc))
        return Check(label, role)

    if not roles:
        return []
    with ThreadPoolExecutor(min(WORKERS, len(roles)), thread_name_prefix="check-credentials") as pool:
        return list(pool.map(lambda r: one(*r), roles))


def table(checks: Sequence[Check]) -> str:
    """The checks as aligned columns (ACCOUNT, ROLE, RESULT) and a last line that counts the failures."""
    rows = [("ACCOUNT", "ROLE", "RESULT")] + [(c.account, c.role, c.result) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {r:<{widths[1]}}  {result}" for a, r, result in rows]
    failed = sum(1 for c in checks if c.problem is not None)
    lines.append(f"credentials: {'ok' if not failed else f'{failed} of {len(checks)} failed'}")
    return "\n".join(lines)
