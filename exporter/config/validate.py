"""The validation kit every section parser shares: :class:`Section`, :class:`ConfigError`, and the rules for
values that more than one section accepts (durations, listen addresses, regions, ids and names).

A :class:`Section` tracks its path, records problems instead of raising and rejects unknown keys (typos)
with a "did you mean" hint, so every problem in a file is reported at once.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
DURATION_RE = re.compile(r"^(\d{1,12})\s*(ms|s|m|h|d)?$")
LISTEN_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
EXTERNAL_ID_RULE = "an ExternalId is 2-1224 characters of letters, digits and +=,.@:/- (the value is not shown)"

MIN_INTERVAL_SECONDS = 10
SHOWN_CHARS = 200  # a value quoted back in a problem is cut to this (a YAML alias can make one huge)
SHOWN_PROBLEMS = 100  # problems printed; the rest are counted


class ConfigError(Exception):
    """A config that must not be started. ``problems`` lists every one of them with its path; the message shows
    the first :data:`SHOWN_PROBLEMS` (a list of a million bad items is one screen, not a million lines)."""

    def __init__(self, source: str, problems: Iterable[str]):
        self.source = source
        self.problems = tuple(problems)
        shown_problems = [f"  {p}" for p in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            shown_problems.append(f"  … and {len(self.problems) - SHOWN_PROBLEMS:,} more")
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n" + "\n".join(shown_problems))


class _ShortRepr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = SHOWN_CHARS
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 10


_SHORT_REPR = _ShortRepr()


def shown(value: Any) -> str:
    """``repr(value)`` as a problem quotes it: the same text for ordinary values, at most :data:`SHOWN_CHARS`
    characters for huge or deeply nested ones (built without ever making the whole repr)."""
    return cut(_SHORT_REPR.repr(value))


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class Section:
    """A mapping read at a path. Records problems instead of raising; rejects unknown keys on close."""

    def __init__(self, data: Any, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem(f"must be a mapping, got {type(data).__name__}")
            data = {}
        self.data: Mapping[str, Any] = data

    def at(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        key = cut(key)  # a key the file made up (a typo, a project name) can be any length
        return f"{self.path}.{key}" if self.path else key

    def problem(self, message: str, key: str | int | None = None) -> None:
        where = self.at(key) if key is not None else (self.path or "(top level)")
        self.problems.append(f"{where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def section(self, key: str) -> Section:
        return Section(self.raw(key), self.at(key), self.problems)

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, explain: str = "", choices: Iterable[str] = (),
               secret: bool = False) -> str | None:
        """``secret``: a malformed value is not quoted in the error (it would end up in logs)."""
        value = self.raw(key)
        if value is None:
            if required:
                self.problem("is required", key)
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(f"must be a string, got {type(value).__name__}", key)
            return default
        value = str(value).strip()
        if required and not value:
            self.problem("must not be empty", key)
            return default
        choices = tuple(choices)
        if choices and value not in choices:
            self.problem(f"must be one of {', '.join(choices)}, got {shown(value)}", key)
            return default
        if pattern is not None and not pattern.match(value):
            self.problem(f"{explain or 'malformed'}" + ("" if secret else f": {shown(value)}"), key)
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"must be true or false, got {shown(value)}", key)
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"must be a whole number, got {shown(value)}", key)
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(f"must be between {minimum} and {maximum}, got {shown(value)}", key)
            return default
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problem(f"must be a number, got {shown(value)}", key)
            return default
        if value < minimum:
            self.problem(f"must be at least {minimum:g}, got {shown(value)}", key)
            return default
        return float(value)

    def money(self, key: str) -> Decimal | None:
        value = self.raw(key)
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            amount = Decimal(str(value))
        except InvalidOperation:
            self.problem(f"must be an amount in USD, got {shown(value)}", key)
            return None
        if not amount.is_finite() or amount < 0:
            self.problem(f"must be a non-negative amount in USD, got {shown(value)}", key)
            return None
        return amount

    def duration(self, key: str, default: float, *, minimum: float = MIN_INTERVAL_SECONDS) -> float:
        value = self.raw(key)
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            self.problem(f"must be a duration like 300s, 5m, 6h or 1d, got {shown(value)}", key)
            return default
        if seconds < minimum:
            self.problem(f"must be at least {minimum:g}s, got {shown(value)}", key)
            return default
        return seconds

    def regions(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A list of AWS regions, without repeats; ``default`` when the key is absent."""
        if not self.has(key):
            self.raw(key)
            return default
        regions = []
        for i, region in self.items(key):
            if not isinstance(region, str) or not REGION_RE.match(region):
                self.problem(f"not an AWS region: {shown(region)}", f"{key}[{i}]")
            elif region not in regions:
                regions.append(region)
        if not regions and not self.problems_at(key):
            self.problem("must list at least one region", key)
        return tuple(regions) or default

    def listen_address(self, key: str, default: str) -> str:
        """``HOST:PORT`` as :func:`parse_listen_address` reads it; ``default`` when absent or malformed."""
        address = self.string(key, default) or default
        try:
            parse_listen_address(address)
        except ValueError as exc:
            self.problem(str(exc), key)
            return default
        return address

    def items(self, key: str) -> list[tuple[int, Any]]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"must be a list, got {type(value).__name__}", key)
            return []
        return list(enumerate(value))

    def problems_at(self, key: str) -> bool:
        prefix = self.at(key)
        return any(p.startswith(prefix) for p in self.problems)

    def close(self) -> None:
        """Report keys nobody asked for: in a config file they are typos. At the top level, ``x-`` keys are
        the file's own (a place for YAML anchors, as in Compose files)."""
        for key in self.data:
            if not self.path and str(key).startswith("x-"):
                continue
            if key not in self.seen:
                self.problem("unknown key" + did_you_mean(str(key), self.seen), str(key))


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'schedule'?)`` for the known name closest to a misspelt one; empty when none is close."""
    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def parse_duration(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if 0 < value < 1e12 else None  # .inf, .nan and 10**100 are no intervals
    if not isinstance(value, str):
        return None
    match = DURATION_RE.match(value.strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "s"
    seconds = number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return float(seconds) if seconds > 0 else None


def parse_listen_address(value: str) -> tuple[str, int]:
    """``:9780`` / ``127.0.0.1:9780`` / ``[::1]:9780`` → (host, port); empty host = all interfaces."""
    match = LISTEN_RE.match(value.strip())
    if not match or not 0 <= int(match.group(2)) <= 65535:
        raise ValueError(f"not HOST:PORT: {shown(value)}")
    host = match.group(1).strip("[]")
    return host, int(match.group(2))
