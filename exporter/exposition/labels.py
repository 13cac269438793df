"""The labels every per-account family starts with."""

from __future__ import annotations

from exporter.model import AccountInfo

ACCOUNT_LABELS = ["account", "account_id", "project"]


def account_labels(account: AccountInfo) -> list[str]:
    """Label values for ``account, account_id, project``."""
    return [account.name, account.id, account.project]
