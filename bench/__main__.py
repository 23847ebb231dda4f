"""``python -m bench [--quick] [--out DIR]``: the whole benchmark suite, results in bench/out/ (see ``bench.suite``)."""

from __future__ import annotations

import sys

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
