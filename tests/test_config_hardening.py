"""Config files that are not UTF-8 YAML text, nested too deep, too large or alias bombs: exit 2 with one problem
that names the place, never a traceback; values quoted back are cut short; libyaml's loader and the
pure-Python one read every file alike. (The bad files that are text are in tests/config/ with their
``# expect:`` lines; tests/test_config.py checks those. The ones here are made by the tests.)"""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import ConfigError, load, textfile, yamlload
from tests.conftest import missing

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).parent / "config"
FIXTURES = sorted(CONFIGS.glob("*.yml"))
ACCOUNT = ('accounts:\n  - {id: "111111111111", name: a, project: p, '
           'role_arn: "arn:aws:iam::111111111111:role/ops"}\n')


@pytest.fixture(params=("libyaml", "pure"))
def yaml_loader(request: pytest.FixtureRequest):  # noqa: ANN201
    yamlload.use_libyaml(request.param == "libyaml")
    if request.param == "libyaml" and not yamlload.libyaml_in_use():
        missing("PyYAML built with libyaml 0.2.5 or later (the PyPI wheels are)")
    yield request.param
    yamlload.use_libyaml(True)


def outcome(path: Path) -> tuple[str, object]:
    try:
        return "ok", load(path)
    except ConfigError as exc:
        return "error", exc.problems


def outcome_with(libyaml: bool, path: Path) -> tuple[str, object]:
    yamlload.use_libyaml(libyaml)
    try:
        return outcome(path)
    finally:
        yamlload.use_libyaml(True)


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as err:
        load(path)
    return err.value.problems


def test_libyaml_is_used_when_pyyaml_has_it():
    import yaml

    if not yaml.__with_libyaml__:
        missing("PyYAML built with libyaml")
    assert yamlload.libyaml_in_use()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_both_loaders_read_every_fixture_alike(path: Path):
    """Same config or the same problems (duplicate keys, merge keys, limits, syntax errors in PyYAML's words)."""
    if not yamlload.libyaml_in_use():
        missing("PyYAML built with libyaml")
    assert outcome_with(True, path) == outcome_with(False, path)


def test_a_merged_mapping_used_again_is_no_duplicate_and_its_override_wins(yaml_loader):
    config = load(CONFIGS / "merge-reused.ok.yml")
    assert [(a.name, a.project, a.regions) for a in config.accounts] == [("a", "prod", ("us-east-1",))]


def test_duplicates_are_still_found_beside_merge_keys(yaml_loader, tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("x-d: &d {project: p}\n" + ACCOUNT.replace("{id:", "{<<: *d, id:") +
                    "collectors:\n  cost: {enabled: true, <<: {interval: 6h}, enabled: false}\n")
    assert problems(path) == ("line 5: duplicate key 'enabled' (first on line 5); YAML would keep only the last",)


@pytest.mark.parametrize("data,problem", [
    ("accounts: []\n".encode("utf-16"),
     "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8"),
    ("\ufeffaccounts: []\n".encode("utf-16-be"),
     "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8"),
    ("accounts: []\n".encode("utf-16-le"), "the file looks like UTF-16 (a NUL byte in every other byte): save it as UTF-8"),
    ("accounts: []\n".encode("utf-32"), "the file is UTF-32 (it starts with a UTF-32 byte order mark): save it as UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 3, column 1 (byte offset 8): a NUL byte; a config file is UTF-8 "
                                            "text, not a binary file"),
    (b"accounts:\n  - name: \x93quoted\x94\n", "line 2, column 11 (byte offset 20): not UTF-8 (byte 0x93); save the "
                                              "file as UTF-8 (it may be Latin-1 or Windows-1252)"),
    ("accounts:\n  - name: caf\u00e9\n  - \ufeffname: b\n".encode(),
     "line 3, column 5: character U+FEFF is not allowed in YAML (a control character or a stray byte order mark)"),
], ids=["utf-16-bom", "utf-16-be-bom", "utf-16-no-bom", "utf-32", "png", "windows-1252", "bom-inside"])
def test_files_that_are_not_utf8_text_are_one_problem_with_the_place(data: bytes, problem: str, tmp_path):
    path = tmp_path / "c.yml"
    path.write_bytes(data)
    assert problems(path) == (problem,)


def test_a_file_over_16_mib_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "huge.yml"
    with open(path, "wb") as f:
        f.truncate(textfile.MAX_CONFIG_BYTES)  # sparse: NUL bytes, read (and refused for them)
    assert problems(path) == ("line 1, column 1 (byte offset 0): a NUL byte; a config file is UTF-8 text, not a "
                              "binary file",)
    with open(path, "ab") as f:
        f.write(b"\n")
    assert problems(path) == ("larger than 16 MiB (16,777,216 bytes), the limit for a config file",)


def test_nesting_is_allowed_up_to_100_levels(yaml_loader, tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(ACCOUNT + "x-deep: " + "[" * 99 + "]" * 99 + "\n")  # the top mapping + 99 lists
    assert load(path).accounts
    path.write_text(ACCOUNT + "x-deep: " + "[" * 99 + "1" + "]" * 99 + "\n")
    assert problems(path) == ("line 3, column 107: nested deeper than 100 levels, the limit for a config file",)
    path.write_text(ACCOUNT + "x-deep:\n" + "".join("  " * i + "-\n" for i in range(1, 3000)))
    assert problems(path) == ("line 102, column 199: nested deeper than 100 levels, the limit for a config file",)


def test_aliases_may_add_up_to_a_million_values(yaml_loader, tmp_path):
    levels = ["x-l0: &l0 [" + ", ".join(["x"] * 10) + "]"]  # 10 values, then 100, 1,000, 10,000, 100,000
    levels += [f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 5)]
    path = tmp_path / "c.yml"
    path.write_text(ACCOUNT + "\n".join(levels) + "\nx-more: [" + ", ".join(["*l4"] * 7) + "]\n")
    assert load(path).accounts  # 123,440 values added by x-l1 … x-l4, 777,777 by x-more
    path.write_text(ACCOUNT + "\n".join(levels) + "\nx-more: [" + ", ".join(["*l4"] * 8) + "]\n")
    assert problems(path) == ("line 8, column 9: YAML aliases add more than 1,000,000 values to what the file "
                              "writes out (the limit for a config file)",)


def test_values_quoted_back_are_cut_to_about_200_characters(yaml_loader, tmp_path):
    lol = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lol += [f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 5)]  # 59,049 values
    path = tmp_path / "c.yml"
    path.write_text("\n".join(lol) + "\n" + ACCOUNT.replace("}", ", regions: [*l4], name: '" + "n" * 100_000 + "'}")
                    .replace("name: a, ", "") + "collectors: {" + "k" * 1000 + ": 1}\n")
    found = problems(path)
    assert len(found) == 3 and all(len(p) < 300 for p in found), found
    assert found[0].startswith("accounts[0].name: use letters, digits and . _ - @ + (at most 64): 'nnnn")
    assert found[1].startswith("accounts[0].regions[0]: not an AWS region: [[[")
    assert found[2].startswith("collectors.kkkk") and found[2].endswith(": unknown key")


def test_scalars_yaml_cannot_read_are_a_problem_not_a_traceback(yaml_loader, tmp_path):
    path = tmp_path / "c.yml"
    for value, problem in [("!!int x", "cannot read 'x' as int (invalid literal for int() with base 10: 'x')"),
                           ("!!bool maybe", "cannot read 'maybe' as bool"),
                           ("!!timestamp soon", "cannot read 'soon' as timestamp"),
                           ("1" * 5000, "cannot read '1111")]:
        path.write_text(ACCOUNT + f"x-value: {value}\n")
        (found,) = problems(path)
        assert found.startswith(f"line 3, column 10: not valid YAML: {problem}") and len(found) < 300, found


def test_a_long_list_of_problems_prints_the_first_hundred(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("accounts: [" + ", ".join(["1"] * 300) + "]\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert len(err.value.problems) == 1500  # each: not a mapping, and four keys missing
    lines = str(err.value).splitlines()
    assert len(lines) == 102 and lines[0].endswith(": 1500 problem(s)") and lines[-1] == "  … and 1,400 more"


def test_garbage_collection_is_back_on_after_a_load(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(ACCOUNT)
    load(path)
    path.write_text(ACCOUNT + "accounts: []\n")
    problems(path)
    assert gc.isenabled()


# --- the commands: one message, exit 2, before anything starts ------------------------------------------------

def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [
    ("-m", "exporter", "--check-config", "--config"), ("-m", "exporter", "--once", "--config"),
    ("-m", "exporter", "--config"), ("-m", "exporter.reporter.cli", "--once", "--config")],
    ids=["check-config", "once", "serving", "reporter"])
def test_every_command_refuses_an_unreadable_config_with_one_message(command: tuple[str, ...], tmp_path):
    path = tmp_path / "utf16.yml"
    path.write_bytes(ACCOUNT.encode("utf-16"))
    proc = _run(*command, str(path))
    prog = "aws-ops-reporter" if "exporter.reporter.cli" in command else "aws-ops-exporter"
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"{prog}: invalid config {path}: 1 problem(s)\n  the file is UTF-16 (it starts with a "
                           "UTF-16 byte order mark): save it as UTF-8\n")
    assert proc.stdout == ""


@pytest.mark.parametrize("name", ["nesting-too-deep.bad.yml", "alias-bomb.bad.yml", "not-utf8.bad.yml"])
def test_check_config_prints_the_problem_of_a_hostile_file_and_exits_2(name: str):
    proc = _run("-m", "exporter", "--check-config", "--config", str(CONFIGS / name))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 2 and len(proc.stderr) < 400, proc.stderr


def test_without_libyaml_the_pure_python_loader_reads_every_fixture_alike():
    """A process where PyYAML has no libyaml (``yaml._yaml`` cannot be imported) gives what the pure loader
    gives here, for every fixture."""
    script = ("import sys, json; sys.modules['yaml._yaml'] = None\n"
              "from exporter.config import ConfigError, load, yamlload\n"
              "out = {'libyaml': yamlload.libyaml_in_use()}\n"
              "for path in sys.argv[1:]:\n"
              "    try: out[path] = ['ok', repr(load(path))]\n"
              "    except ConfigError as exc: out[path] = ['error', list(exc.problems)]\n"
              "print(json.dumps(out))\n")
    proc = _run("-c", script, *map(str, FIXTURES))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen.pop("libyaml") is False
    for path in FIXTURES:
        kind, value = outcome_with(False, path)
        assert seen[str(path)] == [kind, repr(value) if kind == "ok" else list(value)], path.name


# --- fuzzing: any bytes give a config or a ConfigError ----------------------------------------------------------

TOKENS = [b"&a ", b"*a", b"<<: ", b"!!int ", b"!!float ", b"!!timestamp ", b"!!bool ", b"!!binary ", b"!!set ",
          b"!!omap ", b"!!python/object:os.system ", b"? ", b"- ", b": ", b"[", b"]", b"{", b"}", b"\n", b"  ", b"\t",
          b"#", b"'", b'"', b"\\", b"\xef\xbb\xbf", b"\xe9", b"\x00", b"\x07", b"---\n", b"...\n", b"%YAML 1.1\n",
          b"2026-13-45", b"1" * 5000, b".inf", b".nan", b"~", b"=", b"|\n", b">\n", b"&b [*b]", b"\r", b"\xc2\x85",
          "\u2028".encode(), b"1:30", b"!x "]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        pos, op = rng.randint(0, len(out)), rng.random()
        if op < 0.35:
            out[pos:pos] = rng.choice(TOKENS)
        elif op < 0.6:
            del out[pos:pos + rng.randint(1, 8)]
        elif op < 0.8 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        else:
            other = rng.randint(0, len(out))
            out[pos:pos] = out[min(pos, other):max(pos, other)][:200]
    return bytes(out)


def test_fuzzed_files_give_a_config_or_a_config_error_with_either_loader(tmp_path, monkeypatch):
    """400 files from a fixed seed: the fixtures and config.yaml mutated (tokens YAML treats specially, deleted,
    flipped and repeated bytes), and random bytes. Never another exception; where both loaders read a file, the
    same config; where only one does, it is libyaml, more lenient about a few texts PyYAML's parser refuses."""
    if not yamlload.libyaml_in_use():
        missing("PyYAML built with libyaml")
    monkeypatch.delenv("AWS_OPS_TEST_UNSET_ORG_ID", raising=False)
    # Not the 3,000-deep one: PyYAML's scanner takes ~2 s over it (it looks 1,024 characters ahead for each '[').
    seeds = [p.read_bytes() for p in FIXTURES if p.name != "nesting-too-deep.bad.yml"]
    seeds.append((ROOT / "config.yaml").read_bytes())
    rng = random.Random(20261202)
    path = tmp_path / "fuzzed.yml"
    loaded = refused = 0
    for _ in range(400):
        if rng.random() < 0.9:
            data = _mutate(rng, rng.choice(seeds))
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
        path.write_bytes(data)
        with_libyaml, pure = outcome_with(True, path), outcome_with(False, path)
        if with_libyaml[0] == pure[0] == "ok":
            assert with_libyaml == pure, data
        elif with_libyaml[0] != pure[0]:
            assert with_libyaml[0] == "ok" and "not valid YAML" in pure[1][0], (data, pure)
        loaded += pure[0] == "ok"
        refused += pure[0] == "error"
    assert loaded >= 5 and refused >= 200  # the mutations reach both outcomes


def test_fuzzed_web_config_files_give_settings_or_a_config_error(tmp_path):
    """The ``--web.config.file`` is read the same way: 300 mutated files from a fixed seed, never another exception."""
    from exporter.config.webconfig import load_web_config

    seeds = [p.read_bytes() for p in sorted((CONFIGS / "web").glob("*.yml"))]
    rng = random.Random(20261203)
    path = tmp_path / "web.yml"
    refused = 0
    for _ in range(300):
        path.write_bytes(_mutate(rng, rng.choice(seeds)))
        try:
            load_web_config(path)
        except ConfigError:
            refused += 1
    assert refused >= 100
    path.write_text("tls_server_config: {cert_file: a.pem, key_file: a.key, cipher_suites: [{X: 1}]}\n")
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    assert "tls_server_config.cipher_suites[0]: must be a cipher suite name, got {'X': 1}" in err.value.problems
