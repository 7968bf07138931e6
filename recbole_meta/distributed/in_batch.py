"""In-batch softmax candidates in a multi-process run: this rank's batch, or every rank's (``in_batch_negatives``).

A two-tower model trained with an in-batch softmax scores each positive against the other items of its batch.
With ``P`` processes each holding ``b`` rows of a global batch of ``B = P * b``:

* ``global`` (default): the item vectors of all ranks are gathered (one all-gather of ``B x d`` floats per step,
  gradients flow back to the rank that computed each vector), so each positive meets ``B - 1`` negatives, exactly
  the single-process objective on the same global batch;
* ``local``: each rank scores its ``b`` rows against its own ``b`` items only. No embedding traffic, but ``b - 1``
  negatives per positive: a different (weaker) objective as ``P`` grows at a fixed global batch.

Either way the item ids of the whole global batch are gathered (``B`` integers): a streaming frequency estimator
updated with them sees the global stream, identical on every rank and to a single process's. Under ``local`` an
item's chance to be a negative is ``b * p_j`` instead of ``B * p_j``: the same ``log p_j`` correction up to a
constant, which the softmax ignores.
"""

from typing import NamedTuple

import torch

from recbole_meta.distributed.context import is_distributed, rank
from recbole_meta.distributed.gather import gather_rows, gather_rows_with_grad, row_counts

SCOPES = ("global", "local")


def check_scope(value):
    """``in_batch_negatives`` checked: ``global`` or ``local``."""
    scope = "global" if value is None else str(value).lower()
    if scope not in SCOPES:
        raise ValueError(f"in_batch_negatives: expected global or local (got {value!r})")
    return scope


class InBatchCandidates(NamedTuple):
    vectors: torch.Tensor  # (C, d) candidate item vectors
    ids: torch.Tensor  # (C,) their item ids
    positive: torch.Tensor  # (b,) column of each local row's positive
    stream_ids: torch.Tensor  # (B,) item ids of the whole global batch (frequency estimation)
    total_rows: int  # B, the global batch's number of rows


def in_batch_candidates(item_vectors, item_ids, scope="global"):
    """The candidates of this rank's rows (see the module docstring); the batch itself in a single process."""
    rows = len(item_ids)
    if not is_distributed():
        return InBatchCandidates(
            item_vectors, item_ids, torch.arange(rows, device=item_ids.device), item_ids, rows
        )
    counts = row_counts(rows, item_ids.device)
    start = sum(counts[: rank()])
    stream_ids = gather_rows(item_ids)
    if scope == "global":
        positive = torch.arange(start, start + rows, device=item_ids.device)
        return InBatchCandidates(
            gather_rows_with_grad(item_vectors), stream_ids, positive, stream_ids, sum(counts)
        )
    return InBatchCandidates(
        item_vectors, item_ids, torch.arange(rows, device=item_ids.device), stream_ids, sum(counts)
    )
