"""Mutual information between feature fields of an item table, for correlated feature masking.

Reference:
    Tiansheng Yao et al. "Self-supervised Learning for Large-scale Item Recommendations." CIKM 2021,
    Sec. 3.3 (Correlated Feature Masking): the mutual information of every pair of feature fields,
    ``MI(V_i, V_j) = sum_{v_i, v_j} P(v_i, v_j) log(P(v_i, v_j) / (P(v_i) P(v_j)))``, is computed once from
    the item corpus and decides which fields are masked together.

Each item is one observation. A single-valued field (``token``) contributes its value. A multi-valued field
(``token_seq``) spreads the item's unit weight evenly over its values, so that for two fields ``A`` and ``B`` an
item with values ``a_1..a_m`` and ``b_1..b_n`` adds ``1 / (m n)`` to each pair ``(a_s, b_t)``; an item without any
value counts as one value ``<empty>``. A ``float`` field is cut into ``n_bins`` quantile bins. With these
conventions the joint table of two single-valued fields is the ordinary contingency table, and the result is the
plug-in estimate that ``sklearn.metrics.mutual_info_score`` returns (natural logarithm, nats).

The plug-in estimate grows with the number of distinct values: an item id field has ``MI(id, B) = H(B)`` for
every ``B``, the largest value any field can reach. That is why the item id is left out of the matrix that CFM
ranks (:mod:`feature_masking`).
"""

import numpy as np
import scipy.sparse as sp


def field_incidence(values, kind, n_bins=10):
    """An items x values sparse matrix whose row ``i`` is item ``i``'s distribution over the field's values.

    Args:
        values (numpy.ndarray): ``(n_items,)`` token ids for ``token``; ``(n_items, L)`` token ids padded with 0
            for ``token_seq``; ``(n_items,)`` values (or ``(n_items, 2)`` RecBole ``[value, index]`` pairs, whose
            value column is used) for ``float``.
        kind (str): ``"token"``, ``"token_seq"`` or ``"float"``.
        n_bins (int): quantile bins for ``float`` fields.

    Returns:
        scipy.sparse.csr_matrix: ``(n_items, n_values)``, every row sums to 1.
    """
    values = np.asarray(values)
    n_items = values.shape[0]
    if kind == "token":
        _, codes = np.unique(values.reshape(n_items), return_inverse=True)
        rows, cols, weights = np.arange(n_items), codes, np.ones(n_items)
    elif kind == "float":
        column = values[:, 0] if values.ndim == 2 else values
        column = column.astype(np.float64)
        edges = np.unique(np.quantile(column, np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes = np.searchsorted(edges, column, side="right")
        rows, cols, weights = np.arange(n_items), codes, np.ones(n_items)
    elif kind == "token_seq":
        values = values.reshape(n_items, -1)
        present = values != 0
        counts = present.sum(axis=1)
        empty = counts == 0
        # Real tokens are >= 1 (0 is RecBole's padding); an item without values gets the pseudo-value 0.
        rows = np.concatenate([np.nonzero(present)[0], np.nonzero(empty)[0]])
        cols = np.concatenate([values[present], np.zeros(int(empty.sum()), dtype=values.dtype)])
        weights = 1.0 / np.maximum(counts, 1)[rows]
        _, cols = np.unique(cols, return_inverse=True)
    else:
        raise ValueError(f"mutual information: unsupported field kind '{kind}' (token, token_seq or float)")
    n_values = int(cols.max()) + 1 if len(cols) else 0
    return sp.csr_matrix((weights, (rows, cols)), shape=(n_items, n_values))


def mutual_information(incidence_a, incidence_b):
    """Plug-in mutual information (nats) between two fields given their item incidence matrices.

    The joint distribution is ``P = A^T B / n_items`` (items equally likely, values of an item equally likely).
    """
    n_items = incidence_a.shape[0]
    if incidence_b.shape[0] != n_items:
        raise ValueError("mutual information: both fields must describe the same items")
    joint = (incidence_a.T @ incidence_b).tocoo()
    p_joint = joint.data / n_items
    p_a = np.asarray(incidence_a.sum(axis=0)).ravel() / n_items
    p_b = np.asarray(incidence_b.sum(axis=0)).ravel() / n_items
    keep = p_joint > 0
    p_joint, rows, cols = p_joint[keep], joint.row[keep], joint.col[keep]
    return float(np.sum(p_joint * np.log(p_joint / (p_a[rows] * p_b[cols]))))


def mutual_information_matrix(columns, kinds, n_bins=10):
    """Symmetric ``(F, F)`` matrix of pairwise mutual information between ``F`` fields of the same items.

    Args:
        columns (list of numpy.ndarray): one array per field, rows aligned (same items in the same order).
        kinds (list of str): each field's kind (see :func:`field_incidence`).
        n_bins (int): quantile bins for ``float`` fields.

    Returns:
        numpy.ndarray: ``(F, F)``; the diagonal is each field's MI with itself (its entropy for ``token``).
    """
    if len(columns) != len(kinds):
        raise ValueError("mutual information: one kind per column is needed")
    incidences = [field_incidence(c, k, n_bins) for c, k in zip(columns, kinds)]
    n_fields = len(incidences)
    result = np.zeros((n_fields, n_fields))
    for i in range(n_fields):
        for j in range(i, n_fields):
            result[i, j] = result[j, i] = mutual_information(incidences[i], incidences[j])
    return result
