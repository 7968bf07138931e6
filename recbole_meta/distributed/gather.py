"""Rows gathered from every rank, in rank order: without gradient (evaluation) or with it (in-batch negatives).

Ranks may hold different numbers of rows (the last meta-batch, an uneven split): the rows are padded to the
largest count for the collective and cut back after it.
"""

import torch
import torch.distributed as dist

from recbole_meta.distributed.context import is_distributed, rank, world_size


def row_counts(count, device=None):
    """Every rank's ``count``, as a list of ints in rank order (``[count]`` in a single process)."""
    if not is_distributed():
        return [int(count)]
    mine = torch.tensor([int(count)], dtype=torch.long, device=device)
    counts = [torch.zeros_like(mine) for _ in range(world_size())]
    dist.all_gather(counts, mine)
    return [int(c.item()) for c in counts]


def _gather_padded(tensor, counts):
    width = max(counts)
    padded = tensor.new_zeros((width,) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:count] for part, count in zip(parts, counts)])


def gather_rows(tensor):
    """Concatenation over the ranks (rank order) of each rank's ``tensor`` rows; no gradient."""
    if not is_distributed():
        return tensor
    with torch.no_grad():
        return _gather_padded(tensor.detach(), row_counts(tensor.shape[0], tensor.device))


class _GatherWithGradient(torch.autograd.Function):
    """All-gather whose backward gives each rank the gradient of the *sum of every rank's loss* w.r.t. its rows.

    Rank ``r``'s rows enter every rank's loss; summing the incoming gradients over the ranks (an all-reduce) and
    keeping rank ``r``'s slice is the gradient of ``sum_r' L_r'``. DDP then averages parameter gradients over the
    ranks, so a loss that is each rank's share of a global mean gets the single-process gradient.
    """

    @staticmethod
    def forward(ctx, tensor):
        counts = row_counts(tensor.shape[0], tensor.device)
        ctx.start = sum(counts[: rank()])
        ctx.count = counts[rank()]
        return _gather_padded(tensor, counts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.start : ctx.start + ctx.count]


def gather_rows_with_grad(tensor):
    """:func:`gather_rows` that gradients flow back through (to the rank that holds each row)."""
    if not is_distributed():
        return tensor
    return _GatherWithGradient.apply(tensor)


def all_sum(value):
    """The sum over the ranks of a tensor (detached copy; ``value`` itself in a single process)."""
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total


def gather_tensor_dict(tensors):
    """``{key: tensor}`` of every rank merged by concatenating rows in rank order (a rank may lack a key).

    For evaluation records of modest size (one row per evaluated user or rating): sent as pickled objects.
    """
    if not is_distributed():
        return dict(tensors)
    parts = [None] * world_size()
    dist.all_gather_object(parts, {key: value.cpu() for key, value in tensors.items()})
    keys = [key for part in parts for key in part]
    return {key: torch.cat([part[key] for part in parts if key in part]) for key in dict.fromkeys(keys)}
