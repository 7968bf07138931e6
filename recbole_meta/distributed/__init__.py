"""Multi-process training on ``torch.distributed`` (gloo on CPU, nccl on GPUs), for RecBole's and the plugin's trainers.

* :mod:`~recbole_meta.distributed.process_group`: RecBole's keys (``nproc``, ``world_size``, ``offset``, ``ip``,
  ``port``) and ``backend``, ``ddp_timeout``; joining the group, from ``--nproc`` or from torchrun;
* :mod:`~recbole_meta.distributed.launch`: ``--nproc=N`` on one machine, faults passed back to the caller;
* :mod:`~recbole_meta.distributed.ddp`: RecBole's ``DistributedDataParallel`` wrapper on CPU too;
* :mod:`~recbole_meta.distributed.context`: rank, world size, the main process;
* :mod:`~recbole_meta.distributed.sharding`: a meta-batch's tasks split over the ranks, the loss weighted so that
  the averaged gradient is the single-process one;
* :mod:`~recbole_meta.distributed.gather`: rows gathered from every rank (evaluation, in-batch negatives).
"""

from recbole_meta.distributed.context import (
    barrier,
    broadcast_object,
    is_distributed,
    is_main_process,
    rank,
    world_size,
)

__all__ = ["barrier", "broadcast_object", "is_distributed", "is_main_process", "rank", "world_size"]
