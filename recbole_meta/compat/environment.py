"""Process-wide repairs that RecBole 1.2.1 needs on today's numpy, scipy, torch and hyperopt (applied on import).

Each repair is idempotent (applying it twice changes nothing) and names the breakage it repairs.
"""

import types
import warnings

import numpy as np
import scipy.sparse as sp

from recbole_meta.compat import user_input

_APPLIED = False

# numpy 2 removed these aliases. RecBole's ``Config.compatibility_settings`` reads ``np.float_``,
# ``np.complex_`` and ``np.unicode_`` on every construction and fails with AttributeError without them;
# its ``NDCG`` metric builds its rank arrays with ``dtype=np.float`` (float64 then).
_NUMPY_ALIASES = {
    "float": "float64",
    "float_": "float64",
    "complex_": "complex128",
    "unicode_": "str_",
}


def _patch_numpy_aliases():
    for alias, target in _NUMPY_ALIASES.items():
        if alias not in np.__dict__:
            setattr(np, alias, getattr(np, target))


def _dok_update(self, data):
    """Bulk-insert ``{(row, col): value}`` into a dok matrix, as scipy < 1.12's private ``_update`` did."""
    self._dict.update(data)


def _patch_scipy_dok_update():
    # scipy >= 1.12 removed ``dok_matrix._update``; RecBole's graph models (LightGCN, NGCF, NCL, GCMC,
    # SpectralCF, KGIN, MCCLK) build their normalised adjacency matrix with it. Since 1.12 a dok matrix
    # keeps its entries in the ``_dict`` attribute, so the bulk update is a plain dict update.
    if not hasattr(sp.dok_matrix, "_update") and hasattr(sp.dok_matrix((1, 1)), "_dict"):
        sp.dok_matrix._update = _dok_update


def _undo_recbole_anomaly_mode():
    # recbole/model/sequential_recommender/sine.py calls torch.autograd.set_detect_anomaly(True) when imported,
    # which any import of RecBole's sequential models triggers (the plugin's PeterRec does); every backward pass
    # of every model then checks each op for NaN (MeLU's meta-batch: 2.4 s instead of about 0.2 s, measured
    # here). Importing that package now (cheap once recbole is loaded) makes the side effect happen at a known
    # time, before it is undone; it cannot recur, a module runs once.
    import recbole.model.sequential_recommender  # noqa: F401
    import torch

    torch.autograd.set_detect_anomaly(False)


class _SeededGenerator(np.random.RandomState):
    """Called like ``RandomState(seed)``, returns ``numpy.random.default_rng(seed)`` (a ``Generator``)."""

    def __new__(cls, seed=None):
        return np.random.default_rng(seed)


def _exhaustive_search_with_generator(new_ids, domain, trials, seed, nbMaxSucessiveFailures=1000):
    """RecBole's ``exhaustive_search``, run with the random generator type hyperopt >= 0.2.7 samples with."""
    from recbole.trainer import hyper_tuning

    saved = np.random.RandomState
    np.random.RandomState = _SeededGenerator
    try:
        return hyper_tuning._recbole_exhaustive_search(
            new_ids, domain, trials, seed, nbMaxSucessiveFailures=nbMaxSucessiveFailures
        )
    finally:
        np.random.RandomState = saved


def _patch_exhaustive_search():
    # RecBole's HyperTuning(algo="exhaustive") builds np.random.RandomState(seed) and hands it to hyperopt's
    # samplers, which call Generator methods since hyperopt 0.2.7 ("'RandomState' object has no attribute
    # 'integers'"); during the call the RandomState it builds is a Generator seeded the same way.
    from recbole.trainer import hyper_tuning

    if not hasattr(hyper_tuning, "_recbole_exhaustive_search"):
        hyper_tuning._recbole_exhaustive_search = hyper_tuning.exhaustive_search
        hyper_tuning.exhaustive_search = _exhaustive_search_with_generator


def _grad_scaler(*args, **kwargs):
    """``torch.cuda.amp.GradScaler(...)`` through its supported spelling, ``torch.amp.GradScaler("cuda", ...)``."""
    import torch

    return torch.amp.GradScaler("cuda", *args, **kwargs)


def _autocast(*args, **kwargs):
    """``torch.cuda.amp.autocast(...)`` through its supported spelling, ``torch.amp.autocast("cuda", ...)``."""
    import torch

    return torch.amp.autocast("cuda", *args, **kwargs)


def _patch_trainer_grad_scaler():
    # RecBole's trainer.py does `import torch.cuda.amp as amp` and builds `amp.GradScaler(enabled=...)` at the
    # start of every epoch; torch >= 2.4 deprecates that constructor with one FutureWarning per epoch. The
    # module's `amp` becomes a namespace whose GradScaler is the same class built the supported way, and whose
    # autocast (NCLTrainer's epoch uses `amp.autocast(enabled=...)`) is too.
    from recbole.trainer import trainer as recbole_trainer

    if getattr(recbole_trainer.amp, "GradScaler", None) is not _grad_scaler:
        recbole_trainer.amp = types.SimpleNamespace(GradScaler=_grad_scaler, autocast=_autocast)


# Warnings RecBole 1.2.1 triggers on the pinned stack that change nothing in its results, each silenced only
# where it arises (category, start of the message, module that triggers it):
_KNOWN_WARNINGS = (
    # Dataset._fill_nan / _load_feat fill NaNs with `feat[field].fillna(..., inplace=True)`: chained assignment,
    # which pandas 3 will stop honouring; pandas < 3 (pinned in setup.cfg) still fills in place.
    (
        FutureWarning,
        "A value is trying to be set on a copy of a DataFrame or Series through chained assignment",
        r"recbole\.data\.dataset\.dataset",
    ),
    # Dataset._remap counts token_seq lengths with `Series.agg(len)`, which pandas 2 still evaluates per value.
    (FutureWarning, "using <built-in function len> in Series.agg", r"recbole\.data\.dataset\.dataset"),
    # The graph models build their normalised adjacency with the legacy `torch.sparse.FloatTensor(i, v, size)`
    # constructor; torch builds the same sparse COO tensor.
    (UserWarning, r"torch\.sparse\.SparseTensor\(indices, values, shape", r"recbole\.model\."),
)


def silence_known_warnings():
    """Ignore exactly the warnings of :data:`_KNOWN_WARNINGS` (also called by the tests, whose runner restores its
    own filters around every test)."""
    for category, message, module in _KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def apply():
    """Apply every repair of this module (idempotent)."""
    global _APPLIED
    _patch_numpy_aliases()
    _patch_scipy_dok_update()
    _patch_exhaustive_search()
    _patch_trainer_grad_scaler()
    silence_known_warnings()
    user_input.apply()
    if not _APPLIED:
        _undo_recbole_anomaly_mode()
    _APPLIED = True


def is_applied():
    return _APPLIED
