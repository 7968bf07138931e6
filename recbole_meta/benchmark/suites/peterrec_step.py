"""``peterrec_step``: where a PeterRec fine-tuning step's time goes, against FineAll, side by side in one process.

PeterRec (Yuan et al., SIGIR 2020) trains only the model patches and the LayerNorms of a frozen NextItNet. Its
step should be cheaper than FineAll's: a frozen convolution needs the gradient of its input (to reach the patches
below it) but not of its weight, and the frozen item embedding needs none. This suite times one fine-tuning step
(forward, backward, Adam) of each setting of the same backbone on the same random batch, each interleaved with
FineAll (the harness's ``compare_timing`` on the process's CPU time, which the other processes of a shared
machine do not inflate), and reports each as a ratio to FineAll:

* ``PeterRec``: serial patches (a bottleneck of width d/4 after each of the 8 dilated convolutions) + LayerNorms
  trainable, as shipped (``patch_insertion: serial``, the model's default); each patch one fused autograd
  function (:mod:`recbole_meta.model.sequential_recommender.model_patch`, the up-projection's bias added with
  the residual in one pass);
* ``PeterRec-linear``: the same patches computed with their two ``nn.Linear`` layers (``ModelPatch.fused =
  False``, the implementation before the fused function; the same function, tested);
* ``PeterRec-parallel`` / ``PeterRec-single``: the other insertions the model offers (``patch_insertion:
  parallel``, the paper's bottleneck beside each convolution; ``single``, one patch per residual block), for
  comparison only: they are other models, not the shipped default;
* ``FrozenLN``: no patches, only the LayerNorms (and the head) trainable: the same backward through every frozen
  convolution as PeterRec, without the patches' own work (PeterRec - FrozenLN = what the patches cost);
* ``FineCLS``: the whole backbone frozen (forward only, and the head): the cost of the forward pass;
* ``FineAll``'s own step time is the reference (1.0).

``mac_ratio_to_fine_all`` is the arithmetic of the setting's matrix products against FineAll's (:func:`macs`):
per position, a dilated convolution costs ``k d^2`` multiply-adds forward, as many for its input gradient and as
many for its weight gradient; a patch of width ``h`` costs ``2 d h`` forward and ``4 d h`` backward (hidden and
input gradients, two weight gradients), ``d h`` less where its input needs no gradient (the first convolution's
output: the embedding below it is frozen). With k = 3, h = d/4 and 8 convolutions: FineAll 72 d^2, FrozenLN
45 d^2 (0.625), serial PeterRec 56.75 d^2 (0.788), single 51 d^2 (0.708). So serial patches of width d/4
cannot reach 0.8x FineAll by more than 1% even if every elementwise operation (LayerNorm, ReLU, masks, GELU,
Adam), which both pay, were free; what the measured ratio adds above the arithmetic is that elementwise work and
the per-operation overhead, larger at d 32 than at d 64. Where the rest goes (d 64, per step, one thread, CPU
time timed around each operation inside the step, medians of 20 steps, the machine shared: FineAll 71.7 ms,
FrozenLN 45.4, PeterRec 75.9): of PeterRec's 30.5 ms above FrozenLN, the patches' six thin matrix products take
15.3 (about 20 G multiply-adds/s, against 36 for the convolutions: d/4 = 16 rows or columns is a poor shape for a
CPU GEMM), their elementwise work 4.9 (GELU 1.1 and its backward 2.1, bias passes 1.7), the autograd function
around them 1.5 forward, the other layers made slower by the larger working set 3.3 forward (convolution 1.5,
residual add 0.6, ReLU 0.6, LayerNorm and masks 0.5), the backward outside the patches' products 3.8 (autograd and
the same cache effect), Adam's 32 more tensors 0.9; copies none (each convolution's output is already contiguous
in ``[positions, d]``). Reaching 0.8 x FineAll needs the patches within 12 ms: their products alone at the
convolutions' rate would take 8.6. Splitting the rows into cache-sized chunks made the step slower (more, smaller
products).

Backbone as in the PeterRec suites (4 residual blocks = 8 dilated convolutions, kernel 3, dilations 1, 4; batch
128, sequences of 50, vocabulary 1,700), at d 32 (``peterrec_synthetic_transfer``) and d 64 (``peterrec_profile``,
and the model's default ``embedding_size``).
"""

import time

from recbole_meta.benchmark.suite import Run, RunResult, Suite, register_suite

BATCH, LENGTH, VOCAB, KERNEL, CONVOLUTIONS, HIDDEN_RATIO = 128, 50, 1_700, 3, 8, 0.25
# run name -> (finetune mode, patch insertion or None, LayerNorms trainable, fused patch function)
SETTINGS = {
    "PeterRec": ("peterrec", "serial", True, True),
    "PeterRec-linear": ("peterrec", "serial", True, False),
    "PeterRec-parallel": ("peterrec", "parallel", True, True),
    "PeterRec-single": ("peterrec", "single", True, True),
    "FrozenLN": ("fine_cls", None, True, True),
    "FineCLS": ("fine_cls", None, False, True),
}


def macs(dim, insertion, backbone_trainable, frozen_backward, kernel=KERNEL, convolutions=CONVOLUTIONS):
    """Multiply-adds per sequence position of the convolutions and patches in one fine-tuning step.

    Args:
        dim (int): d, the channels.
        insertion (str or None): ``serial`` / ``parallel`` (a patch per convolution), ``single`` (one per block of
            two convolutions) or ``None`` (no patches).
        backbone_trainable (bool): FineAll: weight gradients of every convolution, input gradients of every one
            (the embedding below the first is trained).
        frozen_backward (bool): a frozen backbone that gradients flow through (trainable LayerNorms): input
            gradients of every convolution but the first.
    """
    from recbole_meta.model.sequential_recommender.model_patch import patch_hidden_size

    conv = kernel * dim * dim
    total = convolutions * conv  # forward
    if backbone_trainable:
        return total + 2 * convolutions * conv
    if frozen_backward:
        total += (convolutions - 1) * conv
    if insertion is not None:
        hidden = patch_hidden_size(dim, HIDDEN_RATIO)
        patches = convolutions if insertion in ("serial", "parallel") else convolutions // 2
        # forward 2 d h, backward 4 d h; no input gradient below the first patch of a serial / parallel insertion
        total += patches * 6 * dim * hidden - (dim * hidden if insertion != "single" else 0)
    return total


def build_step(
    dim, mode, insertion, train_layernorms, fused=True, seed=0, batch=BATCH, length=LENGTH, vocab=VOCAB
):
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
    if insertion is not None:
        for patch in insert_patches(
            backbone.residual_blocks, insertion, patch_hidden_size(dim, HIDDEN_RATIO), 1e-3
        ):
            patch.fused = fused
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

        mode, insertion, layernorms, fused = SETTINGS[name]
        step, trainable = build_step(dim, mode, insertion, layernorms, fused, seed=ctx.seed)
        fine_all, _ = build_step(dim, "fine_all", None, True, seed=ctx.seed)
        repeats = int(ctx.config.get("repeats", 9))
        timing = compare_timing(step, fine_all, repeats=repeats, warmup=2, number=3, clock=time.process_time)
        arithmetic = macs(dim, insertion, False, layernorms) / macs(dim, None, True, True)
        return RunResult(
            metrics={
                f"d{dim}": {
                    "step_ms": timing.median_a * 1e3,
                    "fine_all_step_ms": timing.median_b * 1e3,
                    "ratio_to_fine_all": timing.ratio,
                    "mac_ratio_to_fine_all": arithmetic,
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
            "backbone (4 residual blocks, 8 dilated convolutions) in each setting, timed interleaved with FineAll on "
            "the same batch in one process (CPU time, median of 15 repetitions of 3 steps): PeterRec (serial patches "
            "of width d/4 + LayerNorms, the model's default, each patch one fused autograd function), "
            "PeterRec-linear (the same patches as two nn.Linear layers: the implementation before), "
            "PeterRec-parallel and PeterRec-single (the other insertions, other models: comparison only), FrozenLN "
            "(only the LayerNorms: PeterRec's backward through the frozen convolutions without the patches), "
            "FineCLS (frozen backbone: the forward pass). ratio_to_fine_all < 1: cheaper than FineAll. "
            "mac_ratio_to_fine_all: the multiply-adds of the convolutions and patches against FineAll's (per "
            "position: a convolution 3d^2 forward, 3d^2 input gradient, 3d^2 weight gradient; a patch 6dh): serial "
            "PeterRec's 0.788 leaves no room under 0.8 for the elementwise work and per-operation overhead that the "
            "measured ratio adds; in the step the patches' thin products (d/4 rows over 6,400 positions) run at about "
            "half the convolutions' multiply-add rate (per-component breakdown in the suite's docstring). Run with "
            "--threads 1."
        ),
        runs=runs,
        seeds=(0,),
        config={"patch_function": "fused, up bias with the residual", "repeats": 15},
        quick_config={"repeats": 1},
        mark_best=False,
        primary_metric="ratio_to_fine_all",
        smaller_is_better=("step_ms", "fine_all_step_ms", "ratio_to_fine_all", "mac_ratio_to_fine_all"),
        headline_columns=(
            ("d32", "ratio_to_fine_all"),
            ("d64", "ratio_to_fine_all"),
            ("d64", "mac_ratio_to_fine_all"),
        ),
        regenerate_command="python -m recbole_meta.benchmark peterrec_step --threads 1",
    )
