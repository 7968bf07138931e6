"""``distributed_speed``: training throughput with 1 and 2 processes (``--nproc``), side by side in one run.

For MeLU (meta-training, tasks per second), SSLTwoTower (interactions per second) and PeterRec pre-training
(training sequences per second), on ml-100k with each model's defaults. Each measurement starts fresh processes
(:func:`recbole_meta.distributed.launch.spawn` for 2, one plain process for 1: what a user runs), builds the run,
trains 2 warm-up steps, then times ``steps`` global training steps between two barriers: the time to start
processes and load data is left out (it does not grow with the run). The 1- and 2-process measurements alternate
``repeats`` times; the speed-up is the median of the paired ratios. One torch thread per process, gloo on
127.0.0.1. On a machine with 2 cores shared with other jobs, 2 processes compete for the same cores: the
machine's load average is recorded with each result.

    nice -n 10 python -m recbole_meta.benchmark distributed_speed
"""

import os
import statistics
import time

import torch

from recbole_meta.benchmark import Run, RunResult, Suite, register_suite
from recbole_meta.benchmark.suite import QUICK_DATA_PATH, TINY_EPISODES

_TINY = QUICK_DATA_PATH

SHARED = {"dataset": "ml-100k", "show_progress": False, "state": "WARNING", "meta_num_threads": 1}
QUICK = {"dataset": "tiny", "data_path": _TINY, "steps": 2, "repeats": 1}
MODELS = {
    # unit of throughput, config (each model's defaults otherwise)
    "MeLU": ("tasks", {"model": "MeLU", "steps": 8}),
    # SSL batch 512: the SSL batch this suite was measured with (the model's default is now 256)
    "SSLTwoTower": ("interactions", {"model": "SSLTwoTower", "steps": 20, "ssl_batch_size": 512}),
    "PeterRec-pretrain": ("sequences", {"model": "PeterRec", "stage": "pretrain", "steps": 12}),
}
QUICK_MODELS = {
    "MeLU": TINY_EPISODES,
    "SSLTwoTower": {"train_batch_size": 64, "ssl_batch_size": 16},
    "PeterRec-pretrain": {"train_batch_size": 16, "MAX_ITEM_LIST_LENGTH": 12},
}


class _FirstBatches:
    """The first ``steps`` batches of a training loader (its other attributes are the loader's); counts rows."""

    def __init__(self, loader, steps):
        self.loader, self.steps, self.rows = loader, steps, 0

    def __iter__(self):
        for index, batch in enumerate(self.loader):
            if index == self.steps:
                return
            self.rows += len(batch)
            yield batch

    def __len__(self):
        return min(self.steps, len(self.loader))

    def __getattr__(self, name):
        return getattr(self.loader, name)


def measure_training(model, dataset, config_dict, steps, single=False):
    """Seconds and rows of ``steps`` global training steps of a freshly built run (in this process)."""
    from recbole_meta.config import Config
    from recbole_meta.distributed import barrier, is_distributed
    from recbole_meta.distributed.gather import all_sum
    from recbole_meta.quick_start import build_run
    from recbole_meta.registry import PluginModelType

    if single:
        config_dict = {k: v for k, v in config_dict.items() if k not in ("local_rank", "nproc")}
    torch.set_num_threads(1)
    config = Config(model, dataset, config_dict=config_dict, argv=[])
    _, (train, _, _), _, trainer = build_run(config)
    if len(train) < steps + 2:
        raise ValueError(f"{model}: {len(train)} training batches, fewer than steps + 2 = {steps + 2}")
    trainer._train_epoch(_FirstBatches(train, 2), 0)  # warm-up: lazy initialisation, allocator growth
    timed = _FirstBatches(train, steps)
    barrier()
    start = time.perf_counter()
    trainer._train_epoch(timed, 1)
    barrier()
    seconds = time.perf_counter() - start
    rows = timed.rows
    # Episodic models: every rank iterates the whole meta-batch (and computes its share); others: its share.
    if is_distributed() and config["MODEL_TYPE"] != PluginModelType.META:
        rows = int(all_sum(torch.tensor(rows)))
    if is_distributed():
        torch.distributed.destroy_process_group()
    return {"seconds": seconds, "rows": rows}


def _one(model, dataset, config, steps, nproc):
    from recbole_meta.config import Config
    from recbole_meta.distributed import launch

    if nproc == 1:
        return measure_training(model, dataset, config, steps, single=True)
    config = {**config, "nproc": nproc, "port": launch.free_port()}
    parsed = Config(model, dataset, config_dict=config, argv=[])
    return launch.spawn(
        measure_training, parsed, model=model, dataset=dataset, config_dict=config, steps=steps
    )


def _throughput(ctx):
    config = dict(ctx.config)
    model, dataset = config.pop("model"), config.pop("dataset")
    steps, repeats, unit = config.pop("steps"), config.pop("repeats"), config.pop("unit")
    config["seed"] = ctx.seed
    rates = {1: [], 2: []}
    loads = []
    for repeat in range(repeats):
        for nproc in (1, 2) if repeat % 2 == 0 else (2, 1):
            loads.append(os.getloadavg()[0])
            measured = _one(model, dataset, config, steps, nproc)
            rates[nproc].append(measured["rows"] / measured["seconds"])
    ratios = [two / one for one, two in zip(rates[1], rates[2])]
    return RunResult(
        metrics={
            "throughput_1proc": statistics.median(rates[1]),
            "throughput_2proc": statistics.median(rates[2]),
            "speedup_2proc": statistics.median(ratios),
        },
        info={
            "unit": f"{unit} per second",
            "load_average": round(statistics.mean(loads), 2),
            "ratios": [round(r, 3) for r in ratios],
        },
    )


@register_suite("distributed_speed")
def distributed_speed(options):
    runs = []
    for name, (unit, config) in MODELS.items():
        quick = QUICK_MODELS[name] if options.quick else {}
        runs.append(Run(name, _throughput, config={**config, **quick, "unit": unit}))
    return Suite(
        name="distributed_speed",
        description=(
            "Training throughput (rows per second: tasks for MeLU, interactions for SSLTwoTower, sequences for "
            "PeterRec) with 1 and 2 processes (gloo, CPU, one torch thread each), ml-100k, each model's "
            "defaults: MeLU meta-training (meta-batches of 32 tasks, 5 second-order local steps; tasks "
            "sharded over the processes), SSLTwoTower (batch 512, SSL batch 512, both shared by the processes, "
            "global in-batch negatives), "
            "PeterRec causal pre-training (batch of sequences sharded by RecBole's DistributedSampler). Timed: "
            "a fixed number of global steps after 2 warm-up steps, between barriers (process start and data "
            "loading excluded); 1 and 2 processes alternated, median of the paired ratios. The machine's load "
            "average (other jobs share its cores) is recorded."
        ),
        config={**SHARED, "repeats": 3},
        quick_config=QUICK,
        seeds=(0,),
        runs=runs,
        mark_best=False,
        info_columns=("unit", "load_average"),
    )
