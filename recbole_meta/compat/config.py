"""RecBole's ``Config`` reads the command line from ``sys.argv`` (``Config._load_cmd_line``), with no way to pass
it in. The plugin's ``Config`` takes ``argv`` as an argument (tests pass ``[]`` so that pytest's own options
never become config keys); :func:`command_line` lends it to ``sys.argv`` for the duration of that one read."""

import sys
from contextlib import contextmanager


@contextmanager
def command_line(argv):
    """``sys.argv`` is ``[program] + argv`` inside the block and what it was after it."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "recbole_meta"] + list(argv)
    try:
        yield
    finally:
        sys.argv = saved
