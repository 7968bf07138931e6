"""Process-wide repairs that RecBole 1.2.1 needs on today's numpy, scipy and torch (applied on import).

Each repair is idempotent (applying it twice changes nothing) and names the breakage it repairs.
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
    """Apply every repair of this module (idempotent)."""
    global _APPLIED
    _patch_numpy_aliases()
    _patch_scipy_dok_update()
    if not _APPLIED:
        _undo_recbole_anomaly_mode()
    _APPLIED = True


def is_applied():
    return _APPLIED
