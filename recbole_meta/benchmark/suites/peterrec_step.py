"""``peterrec_step``: where a PeterRec fine-tuning step's time goes, against FineAll, side by side in one process.

PeterRec (Yuan et al., SIGIR 2020) trains only the model patches and the LayerNorms of a frozen NextItNet. Its
step should be cheaper than FineAll's: a frozen convolution needs the gradient of its input (to reach the patches
below it) but not of its weight, and the frozen item embedding needs none. This suite times one fine-tuning step
(forward, backward, Adam) of four settings of the same backbone on the same random batch, each interleaved with
FineAll (the harness's ``compare_timing`` on the process's CPU time, which the other processes of a shared
machine do not inflate), and reports each as a ratio to FineAll:

* ``PeterRec``: serial patches (a bottleneck of width d/4 after each of the 8 dilated convolutions) + LayerNorms
  trainable, as shipped;
* ``FrozenLN``: no patches, only the LayerNorms (and the head) trainable: the same backward through every frozen
  convolution as PeterRec, without the patches' own work (PeterRec - FrozenLN = what the patches cost);
* ``FineCLS``: the whole backbone frozen (forward only, and the head): the cost of the forward pass;
* ``FineAll``'s own step time is the reference (1.0).

Backbone as in the PeterRec suites (4 residual blocks = 8 dilated convolutions, kernel 3, dilations 1, 4; batch
128, sequences of 50, vocabulary 1,700), at d 32 (``peterrec_synthetic_transfer``) and d 64 (``peterrec_profile``).
"""

import time

from recbole_meta.benchmark.suite import Run, RunResult, Suite, register_suite

BATCH, LENGTH, VOCAB = 128, 50, 1_700
SETTINGS = {  # run name -> (finetune mode, patches inserted, LayerNorms trainable)
    "PeterRec": ("peterrec", True, True),
    "FrozenLN": ("fine_cls", False, True),
    "FineCLS": ("fine_cls", False, False),
}


def build_step(dim, mode, patches, train_layernorms, seed=0, batch=BATCH, length=LENGTH, vocab=VOCAB):
    """A zero-argument callable: one fine-tuning step (profile head, 2 classes) of the setting on a fixed batch."""
    import torch
    import torch.nn.functional as F

    from recbole_meta.model.sequential_recommender.model_patch import (
        insert_patches,
        patch_hidden_size,
        set_trainable,
    )
    from recbole_meta.model.sequential_recommender.nextitnet_backbone import (
        ItemVocabulary,
        NextItNetBackbone,
        standalone_config,
    )
    from recbole_meta.model.sequential_recommender.peterrec import ProfileHead

    torch.manual_seed(seed)
    backbone = NextItNetBackbone(standalone_config(dim, [1, 4], 2, length), ItemVocabulary(vocab))
    if patches:
        insert_patches(backbone.residual_blocks, "serial", patch_hidden_size(dim, 0.25), 1e-3)
    head = ProfileHead(dim, 2)
    set_trainable(backbone, head, mode)
    if train_layernorms:
        for block in backbone.residual_blocks:
            for parameter in (*block.ln1.parameters(), *block.ln2.parameters()):
                parameter.requires_grad = True
    trainable = [p for p in (*backbone.parameters(), *head.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, length + 1, (batch,), generator=generator)
    items = torch.randint(1, vocab - 1, (batch, length), generator=generator)
    items = items * (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1))
    labels = torch.randint(0, 2, (batch,), generator=generator)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(head(backbone(items, lengths)), labels).backward()
        optimizer.step()

    return step, sum(p.numel() for p in trainable)


def _measure(name, dim):
    def run(ctx):
        import os

        from recbole_meta.benchmark.timing import compare_timing

        mode, patches, layernorms = SETTINGS[name]
        step, trainable = build_step(dim, mode, patches, layernorms, seed=ctx.seed)
        fine_all, _ = build_step(dim, "fine_all", False, True, seed=ctx.seed)
        repeats = int(ctx.config.get("repeats", 9))
        timing = compare_timing(step, fine_all, repeats=repeats, warmup=2, number=3, clock=time.process_time)
        return RunResult(
            metrics={
                f"d{dim}": {
                    "step_ms": timing.median_a * 1e3,
                    "fine_all_step_ms": timing.median_b * 1e3,
                    "ratio_to_fine_all": timing.ratio,
                }
            },
            trainable_parameters=trainable,
            info={"timing": timing.describe(name, "FineAll"), "load_average": list(os.getloadavg())},
        )

    return run


@register_suite("peterrec_step")
def peterrec_step(options):
    dims = (8,) if options.quick else (32, 64)
    runs = [
        Run(f"{name} d{dim}", _measure(name, dim), config={"setting": name, "dim": dim})
        for dim in dims
        for name in SETTINGS
    ]
    return Suite(
        name="peterrec_step",
        description=(
            "One fine-tuning step (forward, backward, Adam; batch 128 x 50 items, vocabulary 1,700) of a NextItNet "
            "backbone (4 residual blocks, 8 dilated convolutions) in three settings, each timed interleaved with "
            "FineAll on the same batch in one process (CPU time, median of 9 repetitions of 3 steps): PeterRec "
            "(serial patches of width d/4 + LayerNorms), FrozenLN (only the LayerNorms: PeterRec's backward through "
            "the frozen convolutions without the patches), FineCLS (frozen backbone: the forward pass). "
            "ratio_to_fine_all < 1: cheaper than FineAll. Run with --threads 1."
        ),
        runs=runs,
        seeds=(0,),
        quick_config={"repeats": 1},
        mark_best=False,
        regenerate_command="python -m recbole_meta.benchmark peterrec_step --threads 1",
    )
