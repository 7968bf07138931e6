"""RecBole's ``HyperTuning.run`` calls hyperopt's ``fmin`` without a random state, so a random or TPE search
cannot be repeated; ``fmin`` then seeds itself from the environment variable ``HYPEROPT_FMIN_SEED``.
:func:`seeded_search` sets that variable for the duration of one search."""

import os
from contextlib import contextmanager

_SEED_VARIABLE = "HYPEROPT_FMIN_SEED"


@contextmanager
def seeded_search(seed):
    """hyperopt's ``fmin`` draws from ``seed`` inside the block; the variable is what it was after it."""
    saved = os.environ.get(_SEED_VARIABLE)
    os.environ[_SEED_VARIABLE] = str(int(seed))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_SEED_VARIABLE, None)
        else:
            os.environ[_SEED_VARIABLE] = saved
