"""``python -m recbole_meta.benchmark``: see :mod:`recbole_meta.benchmark.cli`."""

import sys

from recbole_meta.benchmark.cli import main

sys.exit(main())
