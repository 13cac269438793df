"""The package boundaries tests/test_architecture.py does not read from the source: importing the demo
(aws_ops_demo) loads no moto; moto is needed only when the demo runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

DEMO = ROOT / "aws_ops_demo"


def test_importing_the_demo_does_not_import_moto():
    modules = ", ".join(f"aws_ops_demo.{path.stem}" for path in DEMO.glob("*.py") if path.stem != "__init__")
    code = (f"import sys, aws_ops_demo, {modules}\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'moto')\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
