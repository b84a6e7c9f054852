"""``python -m rectinumba``: the demo (see :mod:`rectinumba.demo`)."""

from __future__ import annotations

from .demo import main

if __name__ == "__main__":
    raise SystemExit(main())
