"""``python -m recbole_meta.benchmark``: see :mod:`recbole_meta.benchmark.cli`.

OpenMP threads that wait for work spin by default. On a machine shared with other processes (or several
suites at once) torch's threads then burn the cores the others need: measured on this project's 2-CPU
machine with three benchmark processes running, a small MLP forward pass took 21 s for 100 calls with 2
threads, 0.68 s with 1 thread, and 0.22 s with 2 threads and ``OMP_WAIT_POLICY=PASSIVE``. The policy is read
when the OpenMP runtime starts (importing torch), which has already happened by the time this module runs
(``recbole_meta`` imports torch), so the command re-executes itself once with ``OMP_WAIT_POLICY=PASSIVE``
unless the variable is already set. Every record stores the policy in its ``environment``.
"""

import os
import sys

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.execv(sys.executable, [sys.executable, "-m", "recbole_meta.benchmark", *sys.argv[1:]])

from recbole_meta.benchmark.cli import main  # noqa: E402

try:
    sys.exit(main())
except KeyboardInterrupt:  # finished runs are in the results file; the next invocation resumes
    print(
        "recbole_meta.benchmark: interrupted (Ctrl-C); finished runs are kept, run again to resume",
        file=sys.stderr,
    )
    sys.exit(130)
