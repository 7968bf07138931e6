"""Every workaround that RecBole 1.2.1 needs on today's stack, in one place.

RecBole 1.2.1 was released against numpy 1.x, scipy < 1.12 and torch < 2.6. This module patches the few
places where that shows, once, on import of :mod:`recbole_meta`. Each patch is idempotent (applying it twice
changes nothing) and names the breakage it repairs. Nothing here patches ``torch.load``: checkpoints are made
safe by writing them in a weights-only format instead (see :mod:`recbole_meta.checkpoint`).

Breakages that need no patch, only discipline, are listed too, so that this file is the single place to read:

* ``import recbole.quick_start`` imports ray 2.6.3, which needs ``pkg_resources`` and numpy 1.x. recbole_meta
  never imports ``recbole.quick_start``; :mod:`recbole_meta.quick_start` re-implements its two entry points.
* pandas >= 3 breaks loading ``token_seq`` fields (ml-100k's ``class``): ``setup.cfg`` pins ``pandas<3``.
* ``Trainer.evaluate(load_best_model=True)`` and ``Trainer.resume_checkpoint`` call ``torch.load`` without
  ``weights_only`` on a pickled ``Config``; torch >= 2.6 refuses them. The plugin's trainers save and load a
  weights-only format (:class:`recbole_meta.trainer.safe_checkpoint.SafeCheckpointMixin`).
"""

import numpy as np
import scipy.sparse as sp

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


def apply():
    """Apply every patch (idempotent). Called once when :mod:`recbole_meta` is imported."""
    global _APPLIED
    _patch_numpy_aliases()
    _patch_scipy_dok_update()
    if not _APPLIED:
        _undo_recbole_anomaly_mode()
    _APPLIED = True


def is_applied():
    return _APPLIED
