"""RecBole 1.2.1's multi-process mode, made to run on CPU (gloo) and under torchrun, with exact evaluation.

The plugin's process launch, sharding and gathering live in :mod:`recbole_meta.distributed`; these are the places
where RecBole's own code must behave differently for them. :func:`apply` is called on ``import recbole_meta``;
every patch leaves a single-process run exactly as RecBole runs it.
"""


def _init_device(self):
    """``Config._init_device`` for multi-process runs on CPU (gloo) or GPUs (nccl), and under torchrun."""
    config = self.final_config_dict
    if isinstance(config["gpu_id"], tuple):
        config["gpu_id"] = ",".join(map(str, config["gpu_id"]))
    config["gpu_id"] = str(config["gpu_id"])
    from recbole_meta.distributed.process_group import join_process_group

    if not join_process_group(config):
        _RECBOLE_INIT_DEVICE(self)


def _trainer_init(self, config, model):
    """``AbstractTrainer.__init__`` with a DistributedDataParallel wrapper that CPU modules accept."""
    self.config = config
    self.model = model
    if not config["single_spec"]:
        from recbole_meta.distributed.ddp import wrap_model

        self.model, self.distributed_model = wrap_model(model, config)


def _main_process_tensorboard(logger):
    from recbole_meta.distributed import is_main_process
    from recbole_meta.distributed.ddp import null_writer

    return _RECBOLE_GET_TENSORBOARD(logger) if is_main_process() else null_writer()


def _loader_init(self, config, dataset, sampler, shuffle=False):
    """``AbstractDataLoader.__init__``; unshuffled loaders of a multi-process run use an unpadded sampler."""
    if config["single_spec"] or shuffle:
        return _RECBOLE_LOADER_INIT(self, config, dataset, sampler, shuffle)
    import torch
    from recbole.data.transform import construct_transform
    from recbole.utils import ModelType

    from recbole_meta.distributed.sharding import StridedShardSampler

    self.shuffle, self.config, self._dataset, self._sampler = False, config, dataset, sampler
    self._batch_size = self.step = self.model = None
    self._init_batch_size_and_step()
    self.generator = torch.Generator()
    self.generator.manual_seed(config["seed"])
    self.transform = construct_transform(config)
    self.is_sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    self.step = max(1, self.step // config["world_size"])  # each rank's share of a batch, as RecBole's
    torch.utils.data.DataLoader.__init__(
        self,
        dataset=list(range(self.sample_size)),
        batch_size=self.step,
        collate_fn=self.collate_fn,
        num_workers=config["worker"],
        sampler=StridedShardSampler(self.sample_size),
        generator=self.generator,
    )


def _gathered_data_struct(self):
    """``Collector.get_data_struct`` with every rank's evaluated rows (``rec.*``, ``data.label``) merged."""
    struct = _RECBOLE_GET_DATA_STRUCT(self)
    if not self.config["single_spec"]:
        from recbole_meta.distributed.gather import gather_tensor_dict

        rows = {k: v for k, v in struct._data_dict.items() if k.startswith("rec.") or k == "data.label"}
        struct._data_dict.update(gather_tensor_dict(rows))
    return struct


def _metrics_already_global(self, result, num_sample):
    """``Trainer._map_reduce``: the metrics were computed once from every rank's rows; nothing to average."""
    return result


_RECBOLE_INIT_DEVICE = None
_RECBOLE_GET_TENSORBOARD = None
_RECBOLE_LOADER_INIT = None
_RECBOLE_GET_DATA_STRUCT = None


def apply():
    """Install the patches below (idempotent)."""
    global _RECBOLE_INIT_DEVICE, _RECBOLE_GET_TENSORBOARD, _RECBOLE_LOADER_INIT, _RECBOLE_GET_DATA_STRUCT
    import recbole.trainer.trainer as recbole_trainer
    from recbole.config import Config
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.evaluator.collector import Collector

    if _RECBOLE_INIT_DEVICE is not None:
        return
    _RECBOLE_INIT_DEVICE = Config._init_device
    _RECBOLE_GET_TENSORBOARD = recbole_trainer.get_tensorboard
    _RECBOLE_LOADER_INIT = AbstractDataLoader.__init__
    _RECBOLE_GET_DATA_STRUCT = Collector.get_data_struct
    # Config._init_device hard-codes backend="nccl", CUDA devices and one GPU per process for multi-process runs:
    # CPU machines cannot run them. Ours picks gloo on CPU / nccl on GPUs and also joins torchrun's rendezvous.
    Config._init_device = _init_device
    # AbstractTrainer.__init__ passes device_ids=[local_rank] to DistributedDataParallel, which CPU modules refuse.
    recbole_trainer.AbstractTrainer.__init__ = _trainer_init
    # Trainer.__init__ opens a tensorboard writer in every process: only rank 0 writes one.
    recbole_trainer.get_tensorboard = _main_process_tensorboard
    # Multi-process evaluation in RecBole averages each rank's metric values, weighted by len(batch) (4 for any
    # full-sort batch, whatever its users), over a DistributedSampler that repeats users to pad the ranks: the
    # numbers differ from one process's. Unshuffled loaders get an unpadded sampler, the collector merges every
    # rank's rows, and each metric is computed once from them, as in one process.
    AbstractDataLoader.__init__ = _loader_init
    Collector.get_data_struct = _gathered_data_struct
    recbole_trainer.Trainer._map_reduce = _metrics_already_global
