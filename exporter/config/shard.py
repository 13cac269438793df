"""The ``shard:`` section: which share of the accounts this replica collects (``--shard I/N`` overrides it)."""

from __future__ import annotations

from exporter.config.model import ShardSettings
from exporter.config.validate import Section, shown


def parse_shard(s: Section) -> ShardSettings:
    d = ShardSettings()
    count = _whole(s, "count", d.count)
    index = _whole(s, "index", d.index)
    if count is not None and count < 1:
        s.problem(f"must be a whole number >= 1, got {shown(count)}", "count")
        count = None
    if index is not None and index < 0:
        s.problem(f"must be a whole number >= 0, got {shown(index)}", "index")
        index = None
    if index is not None and count is not None and index >= count:
        s.problem(f"must be below shard.count ({count}): shards are numbered 0 to {count - 1}, got {index}", "index")
    s.close()
    return ShardSettings(index if index is not None else d.index, count if count is not None else d.count)


def _whole(s: Section, key: str, default: int) -> int | None:
    value = s.raw(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        s.problem(f"must be a whole number, got {shown(value)}", key)
        return None
    return value
