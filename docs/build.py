"""Build the HTML documentation: ``python docs/build.py`` (what CI runs).

The same as ``sphinx-build -W --keep-going -b html docs docs/_build/html``: warnings are errors,
and every gallery example (``docs/examples/**/plot_*.py``) runs during the build. Options:
``--clean`` removes earlier outputs first (a cold build: every example runs again; otherwise
sphinx-gallery skips examples whose source did not change).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
#: everything a build writes under docs/ (all git-ignored)
OUTPUTS = ("_build", "auto_examples", "sg_execution_times.rst")


def main(argv: list[str] | None = None) -> int:
    """Run sphinx-build; returns its exit status.

    Parameters
    ----------
    argv : list of str, optional
        Command line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status of sphinx-build.
    """
    ap = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__.split("\n")[0])
    ap.add_argument("--clean", action="store_true", help="remove earlier build outputs first")
    args = ap.parse_args(argv)
    if args.clean:
        for name in OUTPUTS:
            path = DOCS / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           str(DOCS), str(DOCS / "_build" / "html")]
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, env=env)
    print(f"docs: sphinx-build exited {rc} after {time.perf_counter() - t0:.0f} s; "
          f"open {DOCS / '_build' / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
