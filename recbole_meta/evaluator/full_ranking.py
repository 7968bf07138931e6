r"""Full-catalogue ranking of episodic models: Recall@K, NDCG@K and Hit@K over every candidate item of a state.

The within-query metrics (MAE, RMSE, :mod:`~recbole_meta.evaluator.graded_ndcg`) score only the user's ``Q``
labelled query items. With ``full_ranking_topk`` set, :class:`~recbole_meta.trainer.meta_trainer.MetaTrainer`
also ranks, for each test user and with the *same* adapted parameters (one adaptation to the support), every
candidate item of the state's item side, as RecBole's full-sort evaluation (Zhao et al., CIKM 2021) ranks
every item for a user:

* candidates: the items rated in the split on the state's side, existing items for ``warm``, ``user_cold``
  and ``valid``, new items for ``item_cold`` and ``user_item_cold`` (padding id 0 never);
* the user's support items are removed from the ranking (score -inf, never a hit), as RecBole masks the
  training history;
* positives: the user's query items rated >= ``full_ranking_threshold`` (``~``: the model's ``like_threshold``).
  The other candidates, query items rated below the threshold included, are negatives. A user without a
  positive has no defined Recall/NDCG and is left out (counted, logged), as RecBole leaves out users without
  test items.

Items are ordered by the model's prediction (``forward``; unclipped, so clipping cannot create ties; exact ties
in candidate order). The top-K
positions become RecBole's ``rec.topk`` layout (hit flags of the top ``max(K)`` items, then the number of
positives) and RecBole's own :class:`~recbole.evaluator.metrics.Recall`, :class:`~recbole.evaluator.metrics.NDCG`
and :class:`~recbole.evaluator.metrics.Hit` compute the values, reported as ``full_recall@K``, ``full_ndcg@K``
and ``full_hit@K`` beside the value metrics.

Memory: the scores arrive in chunks of ``full_ranking_chunk_size`` candidates (:meth:`FullRanking.collect_chunks`
keeps a running top-K), so a meta-batch never holds a ``[tasks, catalogue]`` matrix: the largest score block is
``[tasks, chunk]`` whatever the catalogue's size.
"""

from logging import getLogger

import numpy as np
import torch
from recbole.evaluator.collector import DataStruct
from recbole.evaluator.metrics import NDCG, Hit, Recall

from recbole_meta.data.cold_start_split import STATES, VALID_STATE
from recbole_meta.data.episodes import QUERY_ITEM, QUERY_MASK, QUERY_RATING, SUPPORT_ITEM, SUPPORT_MASK

# state -> whether its candidates are the new items (True) or the existing ones (False)
NEW_ITEM_STATES = {
    "warm": False,
    "user_cold": False,
    VALID_STATE: False,
    "item_cold": True,
    "user_item_cold": True,
}
PREFIX = "full_"
_METRICS = (Recall, NDCG, Hit)
assert set(STATES) <= set(NEW_ITEM_STATES)


def check_topk(value):
    """``full_ranking_topk`` as a list of positive ints, or ``None`` (off); a ``ValueError`` naming it otherwise."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, (list, tuple))
        or not value
        or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in value)
    ):
        raise ValueError(
            f"full_ranking_topk must be a non-empty list of positive integers or ~, got {value!r}"
        )
    return list(value)


def candidate_items(split, state):
    """Item ids ``[C]`` ranked for ``state``: the items rated in the split on the state's side (see above)."""
    if state not in NEW_ITEM_STATES:
        raise ValueError(f"full ranking: unknown state {state!r}; expected one of {list(NEW_ITEM_STATES)}")
    rated = np.bincount(split.items, minlength=split.n_items) > 0
    rated[0] = False
    return np.flatnonzero(rated & (split.item_is_new == NEW_ITEM_STATES[state]))


def _flags(positions, valid, width):
    """Boolean ``[B, width]``: True at ``positions[b, j]`` where ``valid[b, j]`` (others go to a dropped column)."""
    index = torch.where(valid, positions, torch.full_like(positions, width))
    flags = torch.zeros(positions.shape[0], width + 1, dtype=torch.bool, device=positions.device)
    flags.scatter_(1, index, True)
    return flags[:, :width]


def _top(scores, k):
    """The ``k`` best of each row, best first; exact ties in candidate order (a stable sort), so that the ranking
    does not depend on how the candidates were chunked."""
    values, index = scores.sort(dim=1, descending=True, stable=True)
    return values[:, :k], index[:, :k]


class FullRanking:
    """Collects the top-K hits of each task of one state; :meth:`result` gives the metrics.

    Args:
        split (ColdStartSplit): the split (candidate items).
        state (str): the loader's state (``warm``, ..., or ``valid``).
        topk (list of int): cut-offs K.
        threshold (float): a query rating >= this is a positive.
        decimal_place (int): rounding of the results (``metric_decimal_place``).
        device (torch.device): where the scores are.
    """

    def __init__(self, split, state, topk, threshold, decimal_place=4, device="cpu"):
        self.state = state
        self.topk = list(topk)
        self.threshold = float(threshold)
        self.decimal_place = decimal_place
        self.items = torch.as_tensor(candidate_items(split, state), dtype=torch.long, device=device)
        self.position = torch.full((split.n_items,), -1, dtype=torch.long, device=device)
        self.position[self.items] = torch.arange(len(self.items), device=device)
        self._rows = []
        self.left_out = 0

    def collect(self, batch, scores):
        """Add a meta-batch's scores ``[B, C]`` of :attr:`items` (same order) to the ranking rows."""
        self.collect_chunks(batch, [scores])

    def collect_chunks(self, batch, chunks):
        """Add a meta-batch's scores given chunk by chunk: ``chunks`` yields ``[B, c]`` score blocks of consecutive
        pieces of :attr:`items` (in order). Only a running top-K ``[B, K]`` and the current block are held, so
        memory is bounded by the chunk size, not the number of candidates; the rows equal :meth:`collect`'s on
        the whole matrix.
        """
        n = len(self.items)
        k = max(self.topk)
        s_pos = self.position[batch[SUPPORT_ITEM]]
        q_pos = self.position[batch[QUERY_ITEM]]
        s_valid = (batch[SUPPORT_MASK] > 0) & (s_pos >= 0)
        liked = (batch[QUERY_MASK] > 0) & (batch[QUERY_RATING] >= self.threshold) & (q_pos >= 0)
        in_support = ((q_pos.unsqueeze(2) == s_pos.unsqueeze(1)) & s_valid.unsqueeze(1)).any(dim=2)
        positive = liked & ~in_support
        # an item queried twice counts once (its first occurrence)
        earlier = torch.ones(q_pos.shape[1], q_pos.shape[1], dtype=torch.bool, device=q_pos.device).tril(-1)
        repeated = ((q_pos.unsqueeze(2) == q_pos.unsqueeze(1)) & positive.unsqueeze(1) & earlier).any(dim=2)
        positive = positive & ~repeated
        pos_len = positive.sum(dim=1)
        best_scores = best_index = None
        start = 0
        for block in chunks:
            width = block.shape[1]
            local = s_pos - start
            support = _flags(local.clamp(min=0), s_valid & (local >= 0) & (local < width), width)
            block = block.float().masked_fill(support, -torch.inf)
            values, index = _top(block, k)
            index = index + start
            if best_scores is not None:  # the running best come first: a tie keeps the earlier candidate
                values, order = _top(torch.cat([best_scores, values], dim=1), k)
                index = torch.cat([best_index, index], dim=1).gather(1, order)
            best_scores, best_index = values, index
            start += width
        if best_index is None:
            best_index = q_pos.new_zeros(q_pos.shape[0], 0)
        if start != n:
            raise ValueError(f"full ranking ({self.state}): the score chunks cover {start} of {n} candidates")
        matches = (best_index.unsqueeze(2) == q_pos.unsqueeze(1)) & positive.unsqueeze(1)
        hits = matches.any(dim=2)
        if hits.shape[1] < k:  # fewer candidates than K: the missing positions are misses
            hits = torch.nn.functional.pad(hits, (0, k - hits.shape[1]))
        keep = pos_len > 0
        self.left_out += int((~keep).sum())
        self._rows.append(torch.cat([hits.long(), pos_len.unsqueeze(1)], dim=1)[keep].cpu())

    def gather_ranks(self):
        """In a multi-process run, take every rank's rows (each ranked its share of the tasks); no-op otherwise."""
        from recbole_meta.distributed.gather import all_sum, gather_rows

        self._rows = [gather_rows(self.topk_rows())]
        self.left_out = int(all_sum(torch.tensor(self.left_out)))

    def topk_rows(self):
        """RecBole's ``rec.topk`` matrix ``[users, max(K) + 1]``: hit flags by rank, then the positive count."""
        return torch.cat(self._rows) if self._rows else torch.zeros(0, max(self.topk) + 1, dtype=torch.long)

    def result(self):
        """``{full_recall@K, full_ndcg@K, full_hit@K}`` averaged over the users with a positive."""
        rows = self.topk_rows()
        if self.left_out:
            getLogger().warning(
                f"full ranking ({self.state}): {self.left_out} user(s) without a query rating >= "
                f"{self.threshold:g} left out"
            )
        config = {"topk": self.topk, "metric_decimal_place": self.decimal_place}
        result = {}
        for metric in _METRICS:
            name = metric.__name__.lower()
            if len(rows) == 0:
                result.update({f"{PREFIX}{name}@{k}": float("nan") for k in self.topk})
                continue
            struct = DataStruct()
            struct.set("rec.topk", rows)
            values = metric(config).calculate_metric(struct)
            result.update({PREFIX + key: value for key, value in values.items()})
        return result
