"""Suite ``cold_start_speed``: the cost of a MeLU meta-step (MAML, Finn et al. 2017; MeLU, Lee et al. 2019).

One epoch of ml-100k's cold-start training episodes (the ``cold_start`` suite's protocol, seed 0: every training
user once, support first, query up to 10), MeLU-5 (5 local steps, exact second order, decision and output layers
adapted), forward and meta-gradient of each meta-batch. Every figure is a ratio of two things timed interleaved
in one process (:func:`recbole_meta.benchmark.compare_timing`, CPU time, median over repetitions), which stays
meaningful on a shared machine; the load average at measurement time is in the record.

Row ``MeLU-5`` (the vectorised engine of :mod:`recbole_meta.trainer.maml` on length-bucketed meta-batches,
``bucket_by_length: True``, the default). Since MeLU adapts only its decision and output layers, the engine
encodes each task's support and query once per meta-step (the embeddings do not change during the local steps) and
runs the local steps on those layers alone, over the whole meta-batch at once
(:meth:`~recbole_meta.model.meta_recommender.MetaRecommender.encode`): the first decision layer in kernel form
(each task's Gram matrix of its encoded support times the running sum of its output gradients, no per-task copy
of its weight, :meth:`~recbole_meta.trainer.maml.MAML._kernel_query_predictions`), the later layers with
per-task weight copies in batched products. Config key ``maml_engine`` names that engine in the records
(``encode-once``: every layer with weight copies; the earlier records vmapped the whole model at every step):

* ``support_padding_waste``: share of the support positions computed on that are padding, with meta-batches of
  similar support length, each length chunk padded to its own longest support (see
  :func:`recbole_meta.data.episodes.length_buckets` and :func:`~recbole_meta.data.episodes.length_chunks`); in
  the record, the same tasks in meta-batches of a random order (``bucket_by_length: False``), as
  the engine computes them (chunked) and padded whole (the engine before chunks);
* ``meta_over_bound``: the meta-step against its arithmetic bound on real work, (2 x steps + 2) supervised
  forward + backward passes of the same network over the same real (unpadded) support and query ratings of
  the meta-batch, as one flat batch of (user, item) rows;
* ``vectorised_speedup``: against the per-task loop (the reference path, unpadded tasks);
* ``bucketing_speedup``: length-bucketed batches against the same tasks in meta-batches of a random order.

Row ``MeLU-5-higher``: ``higher_speedup``, the same meta-step written with the ``higher`` library (per-task
``innerloop_ctx``, :mod:`recbole_meta.benchmark.cold_start.maml_higher`) against the vectorised engine, on the
same meta-batches; the record also holds the largest difference between their meta-gradients on the first
meta-batch. ``higher`` is the optional ``bench`` extra; without it the row is left out with one warning line.

Run::

    nice -n 10 python -m recbole_meta.benchmark cold_start_speed
"""

import os
import time
from logging import getLogger

from recbole_meta.benchmark import Run, RunResult, Suite, compare_timing, register_suite
from recbole_meta.benchmark.cold_start.maml_higher import HIGHER_MISSING, higher_available
from recbole_meta.benchmark.suites.cold_start import QUICK, SHARED

# The process's CPU time: every timed function runs in this one thread, and on a machine shared with other
# processes the wall clock also counts the time they hold the cores (records before ``clock`` was a config key:
# the wall clock).
CLOCK = time.process_time


def _build(ctx):
    """(MAML settings config, model, length-bucketed meta-batches, random-order meta-batches) of one epoch."""
    import torch

    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run

    config = dict(ctx.config)
    dataset = config.pop("dataset")
    config.pop("repeats")
    config.pop("maml_engine")  # labels of the records (which engine, which clock), not MeLU options
    config.pop("clock")
    config.update({"seed": ctx.seed, "state": "WARNING", "show_progress": False, "resample_episodes": False})
    torch.set_num_threads(config.get("meta_num_threads") or 1)
    run_config = Config("MeLU", dataset, config_dict=config, argv=[])
    _, (train, _, _), model, _ = build_run(run_config)
    train.bucket = True
    batches = list(train)  # one epoch of meta-batches, fixed for every measurement
    train.bucket = False
    random_batches = list(train)  # the same tasks (episodes are not redrawn) in a random order
    return run_config, model, batches, random_batches


def _maml(run_config, model, vectorize=True):
    from recbole_meta.trainer.maml import MAML

    return MAML(
        model,
        run_config["local_update_params"],
        run_config["local_lr"],
        run_config["local_update_steps"],
        first_order=run_config["first_order"],
        vectorize=vectorize,
    )


def _epoch(model, loss_fn, meta_batches):
    def run():
        for batch in meta_batches:
            model.zero_grad()
            loss_fn(batch).backward()

    return run


def _flat_rows(batch, user_field):
    """(user, item, rating) of every real support and query rating of a meta-batch: one flat batch."""
    import torch

    from recbole_meta.data.episodes import task_tensors

    user, s_item, s_rating, s_mask, q_item, q_rating, q_mask = task_tensors(batch, user_field)
    items = torch.cat([s_item, q_item], dim=1)
    real = torch.cat([s_mask, q_mask], dim=1) > 0
    return user.unsqueeze(1).expand_as(items)[real], items[real], torch.cat([s_rating, q_rating], dim=1)[real]


def _supervised_epoch(model, batches):
    """Plain supervised forward + backward of the network over each meta-batch's real ratings (no padding)."""
    rows = [_flat_rows(batch, model.USER_ID) for batch in batches]

    def run():
        for user, item, rating in rows:
            model.zero_grad()
            prediction = model(user, None, None, None, item)
            ((prediction - rating) ** 2).mean().backward()

    return run


def _load():
    return [round(value, 2) for value in os.getloadavg()]


def _engine_speed(ctx):
    import torch

    from recbole_meta.data.episodes import support_padding_waste

    load_before = _load()
    run_config, model, batches, random_batches = _build(ctx)
    repeats = ctx.config["repeats"]
    n_tasks = sum(len(b) for b in batches)
    vectorised, loop = _maml(run_config, model, True), _maml(run_config, model, False)
    passes = 2 * vectorised.steps + 2
    started = time.perf_counter()
    meta_epoch = _epoch(model, vectorised.meta_loss, batches)
    vmap_vs_loop = compare_timing(
        meta_epoch, _epoch(model, loop.meta_loss, batches), repeats=repeats, warmup=1, clock=CLOCK
    )
    bucketed_vs_random = compare_timing(
        meta_epoch,
        _epoch(model, vectorised.meta_loss, random_batches),
        repeats=repeats,
        warmup=1,
        clock=CLOCK,
    )
    meta_vs_supervised = compare_timing(
        meta_epoch, _supervised_epoch(model, batches), repeats=repeats, warmup=1, clock=CLOCK
    )
    return RunResult(
        metrics={
            "support_padding_waste": support_padding_waste(batches),
            "meta_over_bound": meta_vs_supervised.ratio / passes,
            "vectorised_speedup": vmap_vs_loop.median_b / vmap_vs_loop.median_a,
            "bucketing_speedup": bucketed_vs_random.median_b / bucketed_vs_random.median_a,
            "vectorised_tasks_per_second": n_tasks / vmap_vs_loop.median_a,
            "meta_step_ms": 1e3 * meta_vs_supervised.median_a / len(batches),
            "bound_step_ms": 1e3 * passes * meta_vs_supervised.median_b / len(batches),
        },
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        info={
            "tasks": n_tasks,
            "meta_batches": len(batches),
            "real_support_ratings": int(sum(float(b["support_mask"].sum()) for b in batches)),
            "support_padding_waste_random": support_padding_waste(random_batches, chunked=False),
            "support_padding_waste_random_chunked": support_padding_waste(random_batches),
            "support_padding_waste_unchunked": support_padding_waste(batches, chunked=False),
            "bound_passes": passes,
            "vmap_vs_loop": vmap_vs_loop.describe("vectorised", "loop"),
            "bucketed_vs_random_batches": bucketed_vs_random.describe("bucketed", "random"),
            "meta_vs_supervised": meta_vs_supervised.describe("meta", "supervised"),
            "load_average_before": load_before,
            "load_average_after": _load(),
            "torch_threads": torch.get_num_threads(),
            "seconds": time.perf_counter() - started,
        },
    )


def _higher_speed(ctx):
    if not higher_available():
        raise RuntimeError(f"cold_start_speed: {HIGHER_MISSING}")
    import torch

    from recbole_meta.benchmark.cold_start.maml_higher import higher_meta_backward

    load_before = _load()
    run_config, model, batches, _ = _build(ctx)
    vectorised = _maml(run_config, model, True)
    model.zero_grad()
    vectorised.meta_loss(batches[0]).backward()
    reference = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    higher_meta_backward(vectorised, batches[0])
    difference = max(float((p.grad - reference[name]).abs().max()) for name, p in model.named_parameters())
    started = time.perf_counter()

    def higher_epoch():
        for batch in batches:
            model.zero_grad()
            higher_meta_backward(vectorised, batch)

    timing = compare_timing(
        _epoch(model, vectorised.meta_loss, batches),
        higher_epoch,
        repeats=ctx.config["repeats"],
        warmup=1,
        clock=CLOCK,
    )
    return RunResult(
        metrics={
            "higher_speedup": timing.median_b / timing.median_a,
            "higher_meta_step_ms": 1e3 * timing.median_b / len(batches),
            "meta_step_ms": 1e3 * timing.median_a / len(batches),
        },
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        info={
            "tasks": sum(len(b) for b in batches),
            "meta_batches": len(batches),
            "max_meta_gradient_difference": difference,
            "vectorised_vs_higher": timing.describe("vectorised", "higher"),
            "load_average_before": load_before,
            "load_average_after": _load(),
            "torch_threads": torch.get_num_threads(),
            "seconds": time.perf_counter() - started,
        },
    )


@register_suite("cold_start_speed")
def cold_start_speed(options):
    runs = [Run("MeLU-5", _engine_speed, config={})]
    # The full suite always has the higher row, so its report (and the README block) does not depend on what is
    # installed where it is read; run without the extra, that row fails with one line saying how to install it.
    # The quick form (CI, no extras) leaves it out instead.
    if higher_available() or not options.quick:
        runs.append(Run("MeLU-5-higher", _higher_speed, config={}))
    else:
        getLogger(__name__).warning(f"cold_start_speed: the MeLU-5-higher row is left out: {HIGHER_MISSING}")
    return Suite(
        name="cold_start_speed",
        description=(
            "Cost of a MeLU-5 meta-step (5 local steps, exact second order, decision + output layers adapted; "
            "forward and meta-gradient) over one epoch of ml-100k's cold-start training episodes (the cold_start "
            "suite's protocol: support first, query up to 10; meta-batches of 32). MeLU-5: the vectorised engine "
            "(each task encoded once per meta-step, the local steps on the decision and output layers over the "
            "whole batch, the first decision layer in kernel form: each task's Gram matrix of its encoded support "
            "instead of a copy of the weight, the later layers with per-task weight copies; one reverse pass per "
            "local step) on length-bucketed batches "
            "(bucket_by_length: True: tasks of similar support length together, each length chunk padded to its "
            "own longest support). "
            "support_padding_waste: padding share of the support positions computed on; meta_over_bound: the "
            "meta-step over (2 x steps + 2) = 12 supervised forward + backward passes of the same network over "
            "the same real ratings (one flat batch, no padding); vectorised_speedup: against the per-task loop "
            "on unpadded tasks; bucketing_speedup: against the same tasks in meta-batches of a random order "
            "(bucket_by_length: False). "
            "MeLU-5-higher: higher_speedup, the same meta-step written with the higher library (per-task "
            "innerloop_ctx, the common way) against the vectorised engine, same meta-batches. A and B "
            "interleaved in one process (CPU time), median over repetitions; one torch thread; load average in the "
            "records."
        ),
        config={**SHARED, "repeats": 7, "maml_engine": "encode-once-kernel", "clock": "process_time"},
        quick_config={**QUICK, "repeats": 1},
        seeds=(0,),
        runs=runs,
        mark_best=False,
        primary_metric="higher_speedup",
        smaller_is_better=("support_padding_waste", "meta_over_bound", "meta_step_ms", "bound_step_ms"),
        info_columns=("tasks", "support_padding_waste_random", "support_padding_waste_random_chunked"),
    )
