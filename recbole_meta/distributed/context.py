"""Where this process stands in a multi-process run: rank, world size, the main process, barriers.

Every helper answers for a single process too (rank 0 of 1), so the trainers call them unconditionally.
"""

import torch.distributed as dist


def is_distributed():
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size():
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    """Rank 0: the process that logs, saves checkpoints and returns results."""
    return rank() == 0


def barrier():
    """Wait until every process reaches this point (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def broadcast_object(value):
    """Rank 0's ``value`` on every rank (picklable objects; ``value`` itself in a single process)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
