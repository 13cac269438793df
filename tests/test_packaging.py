"""What `pip install .` ships and needs, beside what tests/test_architecture.py reads from the source:
importing the demo (aws_ops_demo) loads no moto, and a plain install with no extras serves and validates
configs and says in one line, when asked for --demo, that the demo needs moto."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEMO = ROOT / "aws_ops_demo"


def test_importing_the_demo_does_not_import_moto():
    modules = ", ".join(f"aws_ops_demo.{path.stem}" for path in DEMO.glob("*.py") if path.stem != "__init__")
    code = (f"import sys, aws_ops_demo, {modules}\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'moto')\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# What a build of the package reads (the Dockerfile's build stage copies the same).
SOURCES = ("pyproject.toml", "README.md", "exporter", "aws_ops_demo")


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv (not --system-site-packages: moto is installed beside the test runner) holding a wheel
    of this checkout and its runtime dependencies, no extras; its bin/ and an environment that finds
    nothing of the test runner's (no PYTHONPATH, no user site-packages)."""
    work = tmp_path_factory.mktemp("plain-install")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
           and not k.startswith("AWS_")}
    env["PYTHONNOUSERSITE"] = "1"
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "dist"),
                  str(src)], env, work, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (work / "dist").glob("aws_ops_exporter-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, work)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # This interpreter's pip installs into the venv (pip --python): no ensurepip, no byte-compiling botocore.
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile",
                      str(wheel)], env, work, timeout=240)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield venv / "bin", env


def test_a_plain_install_ships_the_demo_package_but_not_moto(plain_install):
    bin_dir, env = plain_install
    where = _run([str(bin_dir / "python"), "-c", "import aws_ops_demo, exporter; "
                  "print(exporter.__file__); print(aws_ops_demo.__file__)"], env, bin_dir)
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(bin_dir.parent) for line in where.stdout.split()), where.stdout
    moto = _run([str(bin_dir / "python"), "-c", "import moto"], env, bin_dir)
    assert moto.returncode == 1 and "No module named 'moto'" in moto.stderr, moto.stdout + moto.stderr


def test_a_plain_install_checks_a_config(plain_install):
    bin_dir, env = plain_install
    result = _run([str(bin_dir / "aws-ops-exporter"), "--check-config", "--config", str(ROOT / "config.yaml")],
                  env, bin_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{ROOT / 'config.yaml'}: ok ("), result.stdout


def test_a_plain_install_says_in_one_line_that_the_demo_needs_moto(plain_install):
    bin_dir, env = plain_install
    result = _run([str(bin_dir / "aws-ops-exporter"), "--demo", "--once"], env, bin_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("the demo needs moto's server: pip install 'aws-ops-exporter[demo]'"), line
