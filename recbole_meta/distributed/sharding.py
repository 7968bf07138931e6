"""Data parallelism over tasks: each rank takes a contiguous share of a global batch; losses weighted exactly.

Every rank iterates the *same* global meta-batches (the episode loader is seeded, so sampling does not depend on
the number of ranks) and computes the tasks of its own share. :func:`global_mean_loss` turns the per-task losses
of that share into a loss whose gradient, averaged over the ranks by DistributedDataParallel, is the gradient of
the mean over *all* the batch's tasks, i.e. the single-process meta-gradient, whatever the shares' sizes (a
meta-batch of 5 tasks on 2 ranks: 3 + 2); its value is that global mean (what RecBole logs).
"""

import torch

from recbole_meta.distributed.context import is_distributed, rank, world_size
from recbole_meta.distributed.gather import all_sum, gather_rows


def shard_bounds(total, ranks=None, index=None):
    """``(start, end)`` of rank ``index``'s contiguous share of ``total`` rows (the first ``total % ranks`` get
    one more); defaults: this process's rank and world size."""
    ranks = world_size() if ranks is None else ranks
    index = rank() if index is None else index
    base, extra = divmod(int(total), ranks)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def local_share(batch):
    """``(rows of this rank, start)`` of a global batch (an ``Interaction`` or a tensor): the batch itself alone."""
    if not is_distributed():
        return batch, 0
    start, end = shard_bounds(len(batch))
    return batch[start:end], start


def global_mean_loss(task_losses, total):
    """Loss of this rank's tasks for a global mean over ``total`` tasks (see the module docstring).

    Args:
        task_losses (torch.Tensor): ``[n]`` losses of this rank's tasks (``n`` may be 0).
        total (int): the number of tasks of the global batch.
    """
    local_sum = task_losses.sum()
    if not is_distributed():
        return local_sum / total
    # DDP divides the summed gradients by the world size: scale this rank's sum back up.
    share = local_sum * (world_size() / total)
    value = all_sum(local_sum) / total
    return share + (value - share.detach())


def empty_losses(model):
    """A ``[0]`` loss vector (a rank without tasks in this batch still takes part in the gradient all-reduce)."""
    parameter = next(model.parameters())
    return torch.zeros(0, dtype=parameter.dtype, device=parameter.device)


class SameBatchesOnEveryRank:
    """An episode loader seen by RecBole's epoch loop as unsharded: every rank iterates all its batches.

    RecBole's ``_train_epoch`` calls ``train_data.sampler.set_epoch`` on a shuffled loader in a multi-process
    run (its loaders shard through a ``DistributedSampler``); episode loaders shuffle with their own seeded
    generator, identically on every rank, and the trainer shards the tasks of each batch instead.
    """

    shuffle = False

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        return iter(self.loader)

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def replicated(loader):
    """``loader`` wrapped in :class:`SameBatchesOnEveryRank` in a multi-process run, itself otherwise."""
    return SameBatchesOnEveryRank(loader) if is_distributed() else loader


def check_tasks_per_rank(n_tasks, meta_batch_size):
    """Refuse a run whose ranks cannot all get training tasks (more processes than tasks, or than a meta-batch)."""
    ranks = world_size()
    if ranks == 1:
        return
    if n_tasks < ranks:
        raise ValueError(
            f"{ranks} processes but only {n_tasks} training tasks: every process needs at least one; "
            f"use --nproc <= {n_tasks}"
        )
    if meta_batch_size < ranks:
        raise ValueError(
            f"meta_batch_size={meta_batch_size} is smaller than the {ranks} processes it is shared by: set "
            f"meta_batch_size >= {ranks} (it is the global number of tasks per meta-batch)"
        )


def gather_task_predictions(scores, labels, tasks):
    """Every rank's query predictions, ordered by task as a single process orders them; flat tensors.

    ``scores`` / ``labels`` / ``tasks`` are lists of this rank's per-batch tensors (possibly empty lists).
    """
    scores, labels, tasks = (
        torch.cat(parts) if parts else torch.zeros(0, dtype=dtype)
        for parts, dtype in ((scores, torch.float32), (labels, torch.float32), (tasks, torch.long))
    )
    if not is_distributed():
        return scores, labels, tasks
    scores, labels, tasks = gather_rows(scores), gather_rows(labels), gather_rows(tasks)
    order = torch.sort(tasks, stable=True).indices
    return scores[order], labels[order], tasks[order]


class StridedShardSampler(torch.utils.data.Sampler):
    """Rank ``r`` of ``P`` takes rows ``r, r + P, r + 2P, ...`` of an unshuffled loader, without padding.

    RecBole's ``DistributedSampler`` pads every rank to the same count by repeating rows: an evaluation then
    counts some users twice, and a training epoch's last global batch differs from a single process's. Unpadded,
    the ``k``-th batches of the ranks together hold exactly the rows of a single process's ``k``-th batch.
    """

    def __init__(self, size, ranks=None, index=None):
        self.size = int(size)
        self.ranks = world_size() if ranks is None else ranks
        self.index = rank() if index is None else index

    def __iter__(self):
        return iter(range(self.index, self.size, self.ranks))

    def __len__(self):
        return len(range(self.index, self.size, self.ranks))
