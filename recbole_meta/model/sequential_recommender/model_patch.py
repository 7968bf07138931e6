r"""Model patches and the fine-tuning modes of PeterRec.

Reference:
    Fajie Yuan, Xiangnan He, Alexandros Karatzoglou, Liguang Zhang. "Parameter-Efficient Transfer from Sequential
    Behaviors for User Modeling and Recommendation." SIGIR 2020 (arXiv:2001.04253), Sec. 3 "model patch".

A model patch (MP) is a small bottleneck network with its own identity connection,

.. math::
    \mathrm{MP}(\mathbf{x}) = \mathbf{x} + \mathbf{W}_{up}\,\mathrm{GELU}(\mathbf{W}_{down}\mathbf{x} + \mathbf{b}_{down})
    + \mathbf{b}_{up},

where :math:`\mathbf{W}_{down}` projects the :math:`d` channels to :math:`d_h = \lceil r d \rceil` (``r``:
``patch_hidden_ratio``, 1/4 by default) and :math:`\mathbf{W}_{up}` back to :math:`d`. The paper writes both
projections as 1x1 convolutions; a 1x1 convolution over the channel axis of a ``[batch, length, d]`` tensor is a
``Linear`` layer applied at every position, which is what is used here.

:math:`\mathbf{W}_{up}` starts at :math:`\mathcal{N}(0, \sigma^2)` with a tiny :math:`\sigma`
(``patch_init_std``; 0 gives an exact identity), so an untrained patch leaves the pre-trained network's function
(near) unchanged and fine-tuning starts from the pre-trained solution.

Insertion into a NextItNet residual block (two dilated convolutions, each followed by LayerNorm and ReLU):

* ``serial``: a patch after each dilated convolution, ``conv -> MP -> LN -> ReLU``;
* ``parallel``: beside each dilated convolution, ``LN(conv(x) + F(x))`` with ``F`` the bottleneck branch of the
  patch. The authors' code adds the whole patch there, ``conv(x) + x + F(x)``, which changes the pre-trained
  function before any training; adding only ``F`` keeps an untrained patch a no-op, like the other insertions;
* ``single``: one patch per block, after the second dilated convolution.

The insertion that the paper reports as failing (a patch on the block's residual path) is not provided.

**Computation.** A patch's forward and backward run as one autograd function (:class:`_PatchFunction`) over the
``[positions, d]`` matrix of the patched tensor (a convolution's output, already contiguous in that layout, so
read without a copy), with the bottleneck held channel-major (``[d_h, positions]``): at ``d_h = d / 4`` a matrix
product whose output has only ``d_h`` columns is several times slower on a CPU than the same product written with
``d_h`` rows (measured at d 32). The up-projection's bias is added with the residual before the product is
accumulated onto it (one pass over the ``[positions, d]`` output, not two). The function is the same
(``tests/test_peterrec_model.py`` compares outputs and every gradient with the two-``nn.Linear`` path,
``ModelPatch.fused = False``, in float64); the parameters are still the two ``nn.Linear`` layers ``down`` and
``up``, so checkpoints are unchanged.
"""

import hashlib
import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

INSERTIONS = ("serial", "parallel", "single")

FINETUNE_MODES = {
    "peterrec": "model patches + the LayerNorms of the residual blocks + the task head; the rest is frozen",
    "peter_zero": "as peterrec, on a randomly initialised (not pre-trained) backbone",
    "fine_all": "every backbone parameter + the task head",
    "fine_cls": "the task head only; the whole backbone is frozen",
    "fine_last1": "the last residual block + the backbone's final linear layer + the task head",
    "fine_last2": "the last two residual blocks + the backbone's final linear layer + the task head",
    "scratch": "every parameter of a randomly initialised backbone + the task head (no pre-training)",
}
# Modes that start from pre-trained weights (the others start from a random backbone).
PRETRAINED_MODES = ("peterrec", "fine_all", "fine_cls", "fine_last1", "fine_last2")
# Modes that insert model patches.
PATCHED_MODES = ("peterrec", "peter_zero")


class _PatchFunction(torch.autograd.Function):
    """``base + W_up GELU(W_down x + b_down) + b_up`` over ``[N, d]`` rows, ``base`` = ``x`` when ``None``.

    Forward: ``h^T = W_down x^T + b_down`` (``[d_h, N]``), ``a^T = GELU(h^T)``,
    ``out = (base + b_up) + a W_up^T``. Backward, from ``G = dL/dout``: ``dW_up = (a^T G)^T``,
    ``db_up = sum_rows G``, ``dh^T = GELU'(h^T) o (W_up^T G^T)``, ``dW_down = dh^T x``, ``db_down = sum_cols dh^T``,
    ``dx = dh W_down (+ G when base is x)``, ``dbase = G``. Only the gradients autograd asks for are computed
    (no ``dx`` below a frozen input). Not twice differentiable (nothing here takes a second derivative).
    """

    @staticmethod
    def forward(ctx, x, base, w_down, b_down, w_up, b_up):
        hidden_t = torch.addmm(b_down.unsqueeze(1), w_down, x.t())
        active_t = F.gelu(hidden_t)
        out = torch.add(x if base is None else base, b_up)  # the bias with the residual: one pass over [N, d]
        out.addmm_(active_t.t(), w_up.t())
        ctx.residual_is_x = base is None
        ctx.save_for_backward(x, hidden_t, active_t, w_down, w_up)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, hidden_t, active_t, w_down, w_up = ctx.saved_tensors
        need_x, need_base, need_w_down, need_b_down, need_w_up, need_b_up = ctx.needs_input_grad
        grad_out = grad_out.contiguous()
        grad_w_up = (active_t @ grad_out).t().contiguous() if need_w_up else None
        grad_b_up = grad_out.sum(0) if need_b_up else None
        grad_x = grad_w_down = grad_b_down = None
        if need_x or need_w_down or need_b_down:
            grad_hidden_t = torch.ops.aten.gelu_backward(w_up.t() @ grad_out.t(), hidden_t)
            if need_w_down:
                grad_w_down = grad_hidden_t @ x
            if need_b_down:
                grad_b_down = grad_hidden_t.sum(1)
            if need_x:
                grad_x = (
                    torch.addmm(grad_out, grad_hidden_t.t(), w_down)
                    if ctx.residual_is_x
                    else grad_hidden_t.t() @ w_down
                )
        grad_base = grad_out if need_base else None
        return grad_x, grad_base, grad_w_down, grad_b_down, grad_w_up, grad_b_up


class ModelPatch(nn.Module):
    """A bottleneck residual adapter: ``x + up(GELU(down(x)))`` over the channel axis.

    Args:
        channels (int): ``d``, the channels of the tensor being patched.
        hidden_size (int): ``d_h``, the bottleneck width.
        init_std (float): standard deviation of the up-projection at initialisation (0: exact identity).
    """

    fused = True  # False: compute with the two nn.Linear layers (the reference the fused function is tested against)

    def __init__(self, channels, hidden_size, init_std=1e-3):
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"model patch: hidden size must be >= 1, got {hidden_size}")
        self.down = nn.Linear(channels, hidden_size)
        self.up = nn.Linear(hidden_size, channels)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        if init_std > 0:
            nn.init.normal_(self.up.weight, std=init_std)
        else:
            nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def reference_branch(self, x):
        """``F(x)`` written with the two ``nn.Linear`` layers (what :class:`_PatchFunction` is tested against)."""
        return self.up(F.gelu(self.down(x)))

    def _patched(self, x, base):
        if not self.fused:
            return (x if base is None else base) + self.reference_branch(x)
        # [positions, d]: a view of a convolution's output (a copy only if x is strided)
        rows = x.reshape(-1, x.shape[-1])
        base = None if base is None else base.reshape(-1, base.shape[-1])
        out = _PatchFunction.apply(rows, base, self.down.weight, self.down.bias, self.up.weight, self.up.bias)
        return out.view(x.shape)

    def add_branch(self, base, x):
        """``base + F(x)``: the ``parallel`` insertion, the bottleneck branch of ``x`` beside a convolution."""
        return self._patched(x, base)

    def forward(self, x):
        """``x + F(x)``."""
        return self._patched(x, None)


def patch_hidden_size(channels, ratio):
    """``ceil(ratio * channels)``: the bottleneck width for ``patch_hidden_ratio``."""
    if not 0 < ratio <= 1:
        raise ValueError(f"patch_hidden_ratio must be in (0, 1], got {ratio}")
    return max(1, math.ceil(ratio * channels))


def insert_patches(blocks, insertion, hidden_size, init_std):
    """Add model patches to every residual block in ``blocks`` (see the module docstring).

    The blocks must be :class:`~recbole_meta.model.sequential_recommender.nextitnet_backbone.PatchableResidualBlock`.
    Returns the list of patches added.
    """
    if insertion not in INSERTIONS:
        raise ValueError(f"patch_insertion must be one of {', '.join(INSERTIONS)}, got {insertion!r}")
    added = []
    for block in blocks:
        channels = block.conv1.out_channels
        block.insertion = insertion
        if insertion in ("serial", "parallel"):
            block.patch1 = ModelPatch(channels, hidden_size, init_std)
            added.append(block.patch1)
        block.patch2 = ModelPatch(channels, hidden_size, init_std)
        added.append(block.patch2)
    return added


def set_trainable(backbone, head, mode):
    """Freeze / unfreeze parameters for a fine-tuning ``mode`` (see :data:`FINETUNE_MODES`).

    ``backbone`` is a :class:`NextItNetBackbone` (patches, if any, are already inserted); ``head`` the task head.
    """
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune_mode must be one of {', '.join(FINETUNE_MODES)}, got {mode!r}")
    for parameter in backbone.parameters():
        parameter.requires_grad = mode in ("fine_all", "scratch")
    for parameter in head.parameters():
        parameter.requires_grad = True
    blocks = list(backbone.residual_blocks)
    if mode in PATCHED_MODES:
        for block in blocks:
            for module in (block.patch1, block.patch2, block.ln1, block.ln2):
                if module is not None:
                    for parameter in module.parameters():
                        parameter.requires_grad = True
    elif mode in ("fine_last1", "fine_last2"):
        last = 1 if mode == "fine_last1" else 2
        for module in blocks[-last:] + [backbone.final_layer]:
            for parameter in module.parameters():
                parameter.requires_grad = True


def patch_parameters(backbone):
    """The parameters of every model patch in ``backbone``."""
    return [p for block in backbone.residual_blocks for patch in block.patches() for p in patch.parameters()]


def count(parameters):
    return sum(p.numel() for p in parameters)


def parameter_report(backbone, head, mode):
    """Counts for the parameter report printed with every run.

    Returns a dict: ``total``, ``trainable``, ``fine_all_trainable`` (backbone without patches + head, what
    FineAll trains), ``trainable_vs_fine_all``, ``backbone`` (without patches), ``patches`` and
    ``patches_vs_backbone``.
    """
    patches = count(patch_parameters(backbone))
    backbone_total = count(backbone.parameters()) - patches
    head_total = count(head.parameters()) if head is not None else 0
    trainable = count(p for p in backbone.parameters() if p.requires_grad)
    trainable += count(p for p in head.parameters() if p.requires_grad) if head is not None else 0
    fine_all = backbone_total + head_total
    return {
        "mode": mode,
        "total": backbone_total + patches + head_total,
        "trainable": trainable,
        "fine_all_trainable": fine_all,
        "trainable_vs_fine_all": trainable / fine_all if fine_all else float("nan"),
        "backbone": backbone_total,
        "patches": patches,
        "patches_vs_backbone": patches / backbone_total if backbone_total else float("nan"),
        "head": head_total,
    }


def format_parameter_report(report):
    text = (
        f"PeterRec parameters [{report['mode']}]: total {report['total']:,} | trainable {report['trainable']:,}"
        f" | trainable / FineAll trainable {100 * report['trainable_vs_fine_all']:.2f}%"
        f" (FineAll {report['fine_all_trainable']:,}) | backbone {report['backbone']:,}"
        f" | head {report['head']:,}"
    )
    if report["patches"]:
        text += (
            f" | patches {report['patches']:,} = {100 * report['patches_vs_backbone']:.2f}% of the backbone"
        )
    return text


def state_digest(state_dict):
    """A SHA-256 over the names, shapes, dtypes and bytes of a state dict (identifies a backbone)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
