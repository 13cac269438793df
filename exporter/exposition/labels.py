"""The labels every per-account family starts with."""

from __future__ import annotations

from exporter.config import Account

ACCOUNT_LABELS = ["account", "account_id", "project"]


def account_labels(account: Account) -> list[str]:
    """Label values for ``account, account_id, project``."""
    return [account.name, account.id, account.project]
