"""Argument handling both commands share (``aws-ops-exporter``, ``aws-ops-reporter``): the same exit codes and
one clear line for a bad argument."""

from __future__ import annotations

import argparse
import datetime as dt
import sys


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with the usage, as argparse does, but one clear line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def shard(value: str) -> tuple[int, int]:
    """``--shard I/N``: (I, N) with 0 <= I < N."""
    index, slash, count = value.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise argparse.ArgumentTypeError(f"not I/N (e.g. 0/3): {value!r}")
    if int(count) < 1:
        raise argparse.ArgumentTypeError(f"N must be at least 1: {value!r}")
    if int(index) >= int(count):
        raise argparse.ArgumentTypeError(f"I must be below N (shards are 0 to N-1): {value!r}")
    return int(index), int(count)


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a whole number > 0: {value!r}")
    return n
