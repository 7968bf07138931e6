"""The ``DistributedDataParallel`` wrapper of RecBole's trainers, for CPU (gloo) as well as CUDA (nccl).

RecBole's ``AbstractTrainer`` keeps ``self.model`` unwrapped and calls ``self.distributed_model`` once per batch
with an identity forward (``set_reduce_hook``), so that DDP's reducer all-reduces every parameter's gradient
during ``backward`` (averaged over the processes). This module builds that wrapper.
"""

import inspect

import torch
from torch.nn.parallel import DistributedDataParallel

# Buffers are synchronised once, when the wrapper is built, not at every step (see wrap_model). Newer torch
# releases name that option forward_sync_buffers and deprecate broadcast_buffers; older ones only know the latter.
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


class _NullWriter:
    """A tensorboard ``SummaryWriter`` that writes nothing (processes other than rank 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def null_writer():
    return _NullWriter()


def wrap_model(model, config):
    """``(model, ddp_model)`` for a multi-process run (``ddp_model`` is ``None`` with nothing to train).

    On CUDA: one device per process and synchronised batch norm, as RecBole does. On the CPU: no
    ``device_ids`` (DDP refuses them for CPU modules) and plain batch norm (``SyncBatchNorm`` needs CUDA).
    Buffers are not broadcast at every step: the plugin's models keep read-only tables (feature rows) or state
    that every rank updates identically (the streaming frequency estimator fed the global stream) in buffers,
    and re-sending them each step would cost more than the gradients.
    """
    if not any(p.requires_grad for p in model.parameters()):
        return model, None
    if config["device"].type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model, DistributedDataParallel(model, device_ids=[config["local_rank"]], **_NO_BUFFER_SYNC)
    return model, DistributedDataParallel(model, **_NO_BUFFER_SYNC)
