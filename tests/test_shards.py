"""Shards: the share of an account id (pinned, stable across processes), what adding a shard moves, the
``shard:`` section and ``--shard`` flag, and what a shard collects and serves (tests/test_e2e_shards.py runs
three against one stand-in and a real Prometheus)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from exporter.app import App
from exporter.config import parse
from exporter.exposition.own import exporter_families
from exporter.fleet import infos
from exporter.model import Snapshot
from exporter.shards import Shard, jump, key, shard_of
from tests.conftest import ROOT, write_config

IDS = [f"{n:012d}" for n in range(200_000_000_000, 200_000_010_000)]  # 10,000 account ids


def test_an_account_id_has_the_same_shard_in_every_process_and_release():
    # BLAKE2b's first 8 bytes and the jump hash of the paper: never Python's salted hash()
    assert key("123456789012") == 11546239628742425336
    assert [shard_of("000000000001", n) for n in (1, 2, 3, 5, 10)] == [0, 1, 2, 4, 9]
    assert [shard_of("111111111111", n) for n in (1, 2, 3, 5, 10)] == [0, 1, 2, 2, 5]
    assert [shard_of("999999999999", n) for n in (1, 2, 3, 5, 10)] == [0, 1, 1, 3, 3]
    assert [jump(k, 10) for k in (0, 1, 2**64 - 1, 0xDEADBEEF)] == [0, 6, 9, 5]
    other = subprocess.run([sys.executable, "-c", "from exporter.shards import shard_of; print(shard_of('210987654321', 5))"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PYTHONHASHSEED": "7"})
    assert other.stdout.strip() == "3"


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_account_is_in_exactly_one_shard_and_the_shares_are_even(count):
    owners = {i: [s for s in range(count) if Shard(s, count).owns(i)] for i in IDS}
    assert all(len(shards) == 1 for shards in owners.values())
    sizes = Counter(shards[0] for shards in owners.values())
    assert set(sizes) == set(range(count))
    assert max(sizes.values()) - min(sizes.values()) < 0.1 * len(IDS) / count


@pytest.mark.parametrize("count", [1, 2, 3, 4, 9])
def test_adding_a_shard_moves_about_one_in_n_accounts_and_only_to_the_new_shard(count):
    before, after = ({i: shard_of(i, n) for i in IDS} for n in (count, count + 1))
    moved = [i for i in IDS if before[i] != after[i]]
    assert {after[i] for i in moved} == {count}  # nothing moves between the shards that were there
    assert abs(len(moved) / len(IDS) - 1 / (count + 1)) < 0.02


def _config(**extra):
    return parse({
        "accounts": [{"id": i, "name": f"a{i}", "project": "p", "role_arn": f"arn:aws:iam::{i}:role/r",
                      **({"budget_usd": 10} if n == 0 else {})} for n, i in enumerate(IDS[:30])],
        "organization": {"enabled": True, "role_arn": "arn:aws:iam::999999999999:role/org",
                         "member_role_arn": "arn:aws:iam::{account_id}:role/member"},
        "budgets": {"projects": {"p": 100}},
        **extra})


def test_other_shards_run_no_organization_wide_collector_and_cover_only_their_accounts():
    collectors = {"cost": {"mode": "payer"}, "health": {"enabled": True, "organization": False},
                  "cloudwatch": {"enabled": True, "monitoring_account": True,
                                 "monitoring_role_arn": "arn:aws:iam::999999999999:role/mon",
                                 "queries": [{"namespace": "AWS/EC2", "metric": "CPUUtilization",
                                              "dimensions": ["InstanceId"], "stats": ["Average"]}]}}
    first = App.build(_config(collectors=collectors, shard={"index": 0, "count": 3}), process_metrics=False)
    other = App.build(_config(collectors=collectors, shard={"index": 2, "count": 3}), process_metrics=False)
    assert [c.name for c in first.collectors] == ["cost", "health", "cloudwatch"]
    assert [c.name for c in other.collectors] == ["health"]  # per-account Health only
    assert other.discovery is not None  # every shard discovers (free)
    fleet = first.runner.accounts
    assert len(fleet) == 30 and other.runner.accounts == fleet  # every shard knows the whole fleet
    payer = first.collectors[0]
    assert first.runner.covered(payer) == fleet  # the payer's answer covers every account
    shares = [App.build(_config(collectors=collectors, shard={"index": s, "count": 3}), process_metrics=False)
              for s in range(3)]
    covered = [{a.id for a in app.runner.covered(app.collectors[-1] if s else app.collectors[1])}
               for s, app in enumerate(shares)]
    assert sum(len(c) for c in covered) == 30 and set().union(*covered) == {a.id for a in fleet}


def test_each_account_info_and_budget_is_served_by_one_shard_and_the_shard_says_which_it_is():
    def served(shard: dict) -> tuple[set[str], set[tuple[str, str]], list]:
        app = App.build(_config(shard=shard), process_metrics=False)
        text = app.exposition.metrics().decode()
        accounts = {line.split('account_id="')[1].split('"')[0] for line in text.splitlines()
                    if line.startswith("aws_account_info{")}
        budgets = {(line.split('project="')[1].split('"')[0], line.split('account="')[1].split('"')[0])
                   for line in text.splitlines() if line.startswith("aws_cost_budget_usd{")}
        return accounts, budgets, [line for line in text.splitlines() if "shard" in line and not line.startswith("#")]

    whole, whole_budgets, whole_shard = served({})
    assert len(whole) == 30 and whole_shard == ['aws_exporter_shard_info{count="1",index="0"} 1.0']
    parts = [served({"index": s, "count": 3}) for s in range(3)]
    assert sum(len(p[0]) for p in parts) == 30 and set().union(*(p[0] for p in parts)) == whole
    assert sum(len(p[1]) for p in parts) == len(whole_budgets) and set().union(*(p[1] for p in parts)) == whole_budgets
    assert ("p", "") in parts[0][1]  # the project's budget: shard 0's
    assert [p[2] for p in parts] == [[f'aws_exporter_shard_info{{count="3",index="{s}"}} 1.0'] for s in range(3)]


def test_account_info_lists_the_share_only():
    snapshot = Snapshot.empty(infos(_config().accounts))
    mine = Shard(1, 3)
    info = next(f for f in exporter_families(snapshot, {}, (1, 3), mine.owns) if f.name == "aws_account")
    assert {s.labels["account_id"] for s in info.samples} == {i for i in IDS[:30] if mine.owns(i)}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_the_shard_flag_overrides_the_config_and_a_bad_one_exits_2(tmp_path):
    config = write_config(tmp_path, {
        "accounts": [{"id": "111111111111", "name": "w", "project": "p",
                      "role_arn": "arn:aws:iam::111111111111:role/r"}],
        "shard": {"index": 0, "count": 2}})
    assert "shard 0/2" in _cli("--check-config", "--config", str(config)).stdout
    assert "shard 2/4)" in _cli("--check-config", "--config", str(config), "--shard", "2/4").stdout
    for bad, says in (("3/3", "I must be below N"), ("1/0", "N must be at least 1"), ("1-3", "not I/N")):
        done = _cli("--check-config", "--config", str(config), "--shard", bad)
        assert done.returncode == 2 and f"argument --shard: {says}" in done.stderr and "Traceback" not in done.stderr
    bad_file = write_config(tmp_path, {"accounts": [], "shard": {"index": 2, "count": 2}}, "bad.yaml")
    done = _cli("--check-config", "--config", str(bad_file))
    assert done.returncode == 2 and "shard.index: must be between 0 and 1, got 2" in done.stderr


def test_a_reload_that_moves_the_share_says_it_needs_a_restart():
    from exporter.lifecycle import restart_required

    assert restart_required(_config(shard={"index": 0, "count": 3}), _config(shard={"index": 1, "count": 3})) == [
        "shard.index"]
    assert restart_required(_config(shard={"index": 1, "count": 3}), _config(shard={"index": 1, "count": 3})) == []
