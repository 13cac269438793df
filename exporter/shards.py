"""Shards: which replica collects which accounts (``--shard I/N``, ``shard: {index, count}``).

An account belongs to shard ``jump(key(account_id), count)``: Lamping and Veach's jump consistent hash
("A Fast, Minimal Memory, Consistent Hash Algorithm", 2014) over the first 8 bytes of the account id's
BLAKE2b digest. The key is the same in every process and release (never Python's ``hash()``, which is salted
per process), and going from N to N+1 shards moves only the accounts the new shard takes: about 1/(N+1) of
them, none between the old shards. Pure: no AWS, no config.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_MULTIPLIER = 2862933555777941757  # the paper's 64-bit linear congruential step
_MASK = (1 << 64) - 1


def key(account_id: str) -> int:
    """A stable 64-bit key for the account id."""
    return int.from_bytes(hashlib.blake2b(account_id.encode("utf-8"), digest_size=8).digest(), "big")


def jump(value: int, buckets: int) -> int:
    """The bucket in ``range(buckets)`` of the 64-bit ``value`` (jump consistent hash)."""
    if buckets < 1:
        raise ValueError("buckets must be >= 1")
    b, j = -1, 0
    value &= _MASK
    while j < buckets:
        b = j
        value = (value * _MULTIPLIER + 1) & _MASK
        j = int((b + 1) * (float(1 << 31) / float((value >> 33) + 1)))
    return b


def shard_of(account_id: str, count: int) -> int:
    return jump(key(account_id), count)


@dataclass(frozen=True, slots=True)
class Shard:
    """This replica's share: ``index`` of ``count`` (0/1, the default, is every account)."""

    index: int = 0
    count: int = 1

    @property
    def first(self) -> bool:
        """Shard 0 makes the organization-wide calls (payer Cost Explorer, organization Health, the CloudWatch
        monitoring account) and serves the project budgets."""
        return self.index == 0

    def owns(self, account_id: str) -> bool:
        return self.count == 1 or shard_of(account_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

