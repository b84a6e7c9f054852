"""``python -m rectinumba --version`` prints the package version and runs nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rectinumba
from rectinumba import demo


def test_version_flag_prints_the_version_without_simulating(capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("--version must not run the demo")

    monkeypatch.setattr(demo, "run_demo", fail)
    with pytest.raises(SystemExit, match="0"):
        demo.main(["--version"])
    assert capsys.readouterr().out.strip() == f"rectinumba {rectinumba.__version__}"


def test_version_from_the_command_line_matches_the_package_metadata():
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "rectinumba", "--version"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == f"rectinumba {version('rectinumba')}"
    assert rectinumba.__version__ == version("rectinumba")
