"""PeterRec's backbone, patches and fine-tuning modes, on a tiny NextItNet (no dataset needed)."""

import pytest
import torch
from recbole.model.sequential_recommender.nextitnet import NextItNet

from recbole_meta.model.sequential_recommender.model_patch import (
    FINETUNE_MODES,
    ModelPatch,
    insert_patches,
    parameter_report,
    patch_hidden_size,
    set_trainable,
    state_digest,
)
from recbole_meta.model.sequential_recommender.nextitnet_backbone import (
    ItemVocabulary,
    NextItNetBackbone,
    mask_items,
    standalone_config,
)
from recbole_meta.model.sequential_recommender.peterrec import ProfileHead

VOCAB = 12  # 0 = padding, 1..10 items, 11 = [MASK]


def _config(objective="causal", d=8, dilations=(1, 2), block_num=1, max_len=6):
    return standalone_config(d, dilations, block_num, max_len, objective)


def _backbone(objective="causal", seed=0, **kwargs):
    torch.manual_seed(seed)
    return NextItNetBackbone(_config(objective, **kwargs), ItemVocabulary(VOCAB)).eval()


def _randomise_layernorms(backbone, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for block in backbone.residual_blocks:
        for ln in (block.ln1, block.ln2):
            ln.weight.data = 1 + 0.3 * torch.randn(ln.weight.shape, generator=generator)
            ln.bias.data = 0.3 * torch.randn(ln.bias.shape, generator=generator)


SEQ = torch.tensor([[3, 5, 7, 0, 0, 0], [2, 4, 6, 8, 10, 1], [9, 0, 0, 0, 0, 0]])
LEN = torch.tensor([3, 6, 1])


# ------------------------------------------------------------------------------------------------ readout
def test_readout_is_the_last_valid_position_on_a_hand_built_network():
    backbone = _backbone()
    # Zero convolutions and LayerNorms: every block outputs relu(0) + x = x, so the hidden state of a position is
    # its item embedding and the readout must be final_layer(embedding of the last valid item).
    for block in backbone.residual_blocks:
        for module in (block.conv1, block.conv2, block.ln1, block.ln2):
            for parameter in module.parameters():
                parameter.data.zero_()
    expected = backbone.final_layer(backbone.item_embedding.weight[torch.tensor([7, 1, 9])])
    with torch.no_grad():
        assert torch.allclose(backbone(SEQ, LEN), expected)
        # RecBole's NextItNet.forward reads position -1: a padding embedding for the short sequences.
        recbole_readout = NextItNet.forward(backbone, SEQ)
        assert torch.allclose(recbole_readout[1], expected[1])
        assert not torch.allclose(recbole_readout[0], expected[0])
        pad = backbone.final_layer(backbone.item_embedding.weight[0])
        assert torch.allclose(recbole_readout[0], pad)


def test_causal_readout_matches_recbole_nextitnet_on_unpadded_sequences():
    backbone = _backbone()
    torch.manual_seed(3)
    recbole_model = NextItNet(_config(), ItemVocabulary(VOCAB)).eval()
    backbone.load_state_dict(recbole_model.state_dict())  # same parameter names: the blocks are RecBole's
    full = torch.randint(1, 11, (4, 6))
    with torch.no_grad():
        ours = backbone(full, torch.full((4,), 6))
        theirs = recbole_model(full)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_right_padding_does_not_change_the_readout():
    for objective in ("causal", "masked"):
        backbone = _backbone(objective)
        with torch.no_grad():
            padded = backbone(SEQ[:1], LEN[:1])
            alone = backbone(SEQ[:1, :3], LEN[:1])
        assert torch.allclose(padded, alone, atol=1e-6), objective


def test_causal_positions_ignore_the_future_and_masked_ones_do_not():
    changed = SEQ[1:2].clone()
    changed[0, 4:] = torch.tensor([3, 3])
    for objective, future_matters in (("causal", False), ("masked", True)):
        backbone = _backbone(objective)
        with torch.no_grad():
            before = backbone.sequence_output(SEQ[1:2], LEN[1:2])[0, :4]
            after = backbone.sequence_output(changed, LEN[1:2])[0, :4]
        assert torch.allclose(before, after) is not future_matters, objective


def test_mean_readout_averages_valid_positions():
    backbone = _backbone()
    with torch.no_grad():
        hidden = backbone.sequence_output(SEQ, LEN)
        expected = torch.stack([hidden[i, : LEN[i]].mean(0) for i in range(3)])
        assert torch.allclose(backbone(SEQ, LEN, readout="mean"), expected, atol=1e-6)
    with pytest.raises(ValueError, match="readout"):
        backbone(SEQ, LEN, readout="first")


def test_masked_next_item_representation_reads_an_appended_mask():
    backbone = _backbone("masked")
    with torch.no_grad():
        got = backbone.next_item_representation(SEQ, LEN)
        appended = torch.tensor([[3, 5, 7, 11, 0, 0], [4, 6, 8, 10, 1, 11], [9, 11, 0, 0, 0, 0]])
        assert torch.allclose(got, backbone(appended, torch.tensor([4, 6, 2])), atol=1e-6)


# ------------------------------------------------------------------------------------------------ patches
@pytest.mark.parametrize("insertion", ["serial", "parallel", "single"])
def test_untrained_patches_leave_the_backbone_unchanged(insertion):
    backbone = _backbone(dilations=(1, 2), block_num=2)
    _randomise_layernorms(backbone)
    with torch.no_grad():
        before = backbone(SEQ, LEN)
        insert_patches(backbone.residual_blocks, insertion, hidden_size=2, init_std=0.0)
        assert torch.equal(backbone(SEQ, LEN), before)
        # The default near-identity init (std 1e-3) moves the output by a tiny fraction of its scale.
        for block in backbone.residual_blocks:
            for patch in block.patches():
                torch.nn.init.normal_(patch.up.weight, std=1e-3)
        drift = (backbone(SEQ, LEN) - before).abs().max() / before.abs().max()
        assert 0 < drift < 1e-2
        # A trained (large) patch does change it: the comparison above can fail.
        for block in backbone.residual_blocks:
            for patch in block.patches():
                torch.nn.init.normal_(patch.up.weight, std=1.0)
        assert not torch.allclose(backbone(SEQ, LEN), before, atol=1e-3)


def test_model_patch_is_a_residual_bottleneck():
    patch = ModelPatch(8, 2, init_std=0.5)
    x = torch.randn(3, 5, 8)
    manual = x + patch.up(torch.nn.functional.gelu(patch.down(x)))
    assert torch.allclose(patch(x), manual)
    assert patch_hidden_size(64, 0.25) == 16 and patch_hidden_size(8, 0.25) == 2
    with pytest.raises(ValueError, match="patch_hidden_ratio"):
        patch_hidden_size(64, 0)


def _patch_pair(channels, hidden, seed, dtype=torch.float64):
    """Two identical patches (trained-looking weights), for the fast path against the nn.Linear reference."""
    torch.manual_seed(seed)
    patch = ModelPatch(channels, hidden, init_std=0.5).to(dtype)
    with torch.no_grad():
        for parameter in patch.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    twin = ModelPatch(channels, hidden).to(dtype)
    twin.load_state_dict(patch.state_dict())
    return patch, twin


@pytest.mark.parametrize("layout", ["strided", "contiguous"])
@pytest.mark.parametrize("residual", ["serial", "parallel"])
@pytest.mark.parametrize("frozen_patch", [False, True])
@pytest.mark.parametrize("input_grad", [True, False])
def test_fast_patch_equals_the_linear_layers_in_values_and_gradients(
    residual, frozen_patch, input_grad, layout
):
    """The fused patch function computes x + up(GELU(down x)) (serial) and base + up(GELU(down x)) (parallel)
    exactly as two nn.Linear layers do, with the same gradients for the input, the base and every weight, on a
    strided input (a permuted tensor) and on a contiguous one (a convolution's output in the backbone);
    gradients it is not asked for stay None.
    """
    patch, twin = _patch_pair(6, 3, seed=4)
    for module in (patch, twin) if frozen_patch else ():
        module.requires_grad_(False)
    generator = torch.Generator().manual_seed(5)
    inputs = torch.randn(4, 6, 7, dtype=torch.float64, generator=generator).permute(
        0, 2, 1
    )  # [B, L, d], strided
    bases = torch.randn(4, 6, 7, dtype=torch.float64, generator=generator).permute(0, 2, 1)
    if layout == "contiguous":
        inputs, bases = inputs.contiguous(), bases.contiguous()
    weights = torch.randn(4, 7, 6, dtype=torch.float64, generator=generator)
    results = []
    for module, fast in ((patch, True), (twin, False)):
        x = inputs.clone().requires_grad_(input_grad)
        base = bases.clone().requires_grad_()
        module.fused = fast
        out = module(x) if residual == "serial" else module.add_branch(base, x)
        if not fast:  # the reference is what it says
            manual = x if residual == "serial" else base
            assert torch.equal(out, manual + module.up(torch.nn.functional.gelu(module.down(x))))
        assert out.shape == (4, 7, 6)
        if out.requires_grad:  # serial, frozen patch, frozen input: nothing to differentiate (both paths)
            (out * weights).sum().backward()
        grads = [x.grad, base.grad] + [p.grad for p in module.parameters()]
        results.append((out.detach(), grads))
    (fast_out, fast_grads), (reference_out, reference_grads) = results
    assert torch.allclose(fast_out, reference_out, rtol=1e-12, atol=1e-12)
    for fast_grad, reference_grad in zip(fast_grads, reference_grads):
        assert (fast_grad is None) == (reference_grad is None)
        if fast_grad is not None:
            assert torch.allclose(fast_grad, reference_grad, rtol=1e-12, atol=1e-12)
    assert (fast_grads[0] is None) == (not input_grad)
    assert (fast_grads[1] is None) == (residual == "serial")
    assert (fast_grads[2] is None) == frozen_patch


@pytest.mark.parametrize("objective", ["causal", "masked"])
def test_patches_read_the_convolution_output_without_a_copy(objective):
    """Each convolution's output reaches its patch contiguous in [batch, length, d] (the convolutions run on the
    channel-last input and keep that layout), so the fused function reads it as a [positions, d] view, no copy.
    """
    backbone = _backbone(objective, dilations=(1, 2), block_num=2)
    seen = []
    for patch in insert_patches(backbone.residual_blocks, "serial", hidden_size=2, init_std=0.5):
        patch.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    backbone(SEQ, LEN)
    assert seen == [True] * 8  # 4 residual blocks of two convolutions


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("insertion", ["serial", "parallel", "single"])
def test_patched_backbone_fast_path_equals_the_linear_layers(insertion, dtype):
    """A whole PeterRec fine-tuning pass (frozen convolutions, patches + LayerNorms trainable) gives the same
    loss and the same gradient of every trainable parameter with the fused patches as with the two-nn.Linear
    patches: to float32 rounding, and to 1e-12 in float64 (where only the order of additions differs).
    """
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-7}

    def run(fused):
        backbone = _backbone(dilations=(1, 2), block_num=2)
        _randomise_layernorms(backbone)
        for patch in insert_patches(backbone.residual_blocks, insertion, hidden_size=2, init_std=0.5):
            patch.fused = fused
        backbone.to(dtype)
        head = ProfileHead(8, 3).to(dtype)
        set_trainable(backbone, head, "peterrec")
        loss = torch.nn.functional.cross_entropy(head(backbone(SEQ, LEN)), torch.tensor([0, 2, 1]))
        loss.backward()
        grads = {n: p.grad for n, p in backbone.named_parameters() if p.requires_grad}
        grads.update({f"head.{n}": p.grad for n, p in head.named_parameters()})
        return loss.detach(), grads

    fast_loss, fast_grads = run(True)
    reference_loss, reference_grads = run(False)
    assert fast_loss.dtype == dtype
    loss_tolerance = tolerance if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-7}
    assert torch.allclose(fast_loss, reference_loss, **loss_tolerance)
    assert fast_grads.keys() == reference_grads.keys() and any(".patch" in name for name in fast_grads)
    assert any(".ln" in name for name in fast_grads)
    for name, grad in fast_grads.items():
        assert grad is not None and grad.abs().max() > 0, name
        assert torch.allclose(grad, reference_grads[name], **tolerance), name


# ------------------------------------------------------------------------------------------- trainable sets
# Hand counts for d = 8, vocabulary 12, kernel 3, two residual blocks, 3 classes, patch bottleneck 2:
#   embedding 12*8 = 96; one block: conv 8*8*3 + 8 = 200, twice, + two LayerNorms 2*16 = 432; final layer 72;
#   backbone 96 + 2*432 + 72 = 1032; one patch 8*2 + 2 + 2*8 + 8 = 42; head 8*3 + 3 = 27; LayerNorms 4*16 = 64.
HAND_COUNTS = {
    ("fine_all", None): 1032 + 27,
    ("scratch", None): 1032 + 27,
    ("fine_cls", None): 27,
    ("fine_last1", None): 432 + 72 + 27,
    ("fine_last2", None): 2 * 432 + 72 + 27,
    ("peterrec", "serial"): 4 * 42 + 64 + 27,
    ("peterrec", "parallel"): 4 * 42 + 64 + 27,
    ("peterrec", "single"): 2 * 42 + 64 + 27,
    ("peter_zero", "serial"): 4 * 42 + 64 + 27,
}


@pytest.mark.parametrize("mode, insertion", list(HAND_COUNTS))
def test_trainable_parameters_per_mode_match_hand_counts(mode, insertion):
    backbone = _backbone()
    patched = mode in ("peterrec", "peter_zero")
    if patched:
        insert_patches(backbone.residual_blocks, insertion, hidden_size=2, init_std=1e-3)
    head = ProfileHead(8, 3)
    set_trainable(backbone, head, mode)
    report = parameter_report(backbone, head, mode)
    assert report["trainable"] == HAND_COUNTS[(mode, insertion)]
    assert report["fine_all_trainable"] == 1032 + 27
    assert report["backbone"] == 1032
    assert report["patches"] == (0 if not patched else (2 if insertion == "single" else 4) * 42)
    assert report["total"] == 1032 + report["patches"] + 27
    assert report["trainable_vs_fine_all"] == pytest.approx(report["trainable"] / 1059)


def test_modes_freeze_the_right_modules():
    backbone = _backbone()
    insert_patches(backbone.residual_blocks, "serial", hidden_size=2, init_std=1e-3)
    head = ProfileHead(8, 3)
    set_trainable(backbone, head, "peterrec")
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable and all(".patch" in n or ".ln" in n for n in trainable)
    assert not backbone.item_embedding.weight.requires_grad and not backbone.final_layer.weight.requires_grad
    set_trainable(backbone, head, "fine_last1")
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    assert all(n.startswith(("residual_blocks.1.", "final_layer.")) for n in trainable)
    with pytest.raises(ValueError, match="finetune_mode"):
        set_trainable(backbone, head, "fine_some")
    assert set(FINETUNE_MODES) >= {
        "peterrec",
        "fine_all",
        "fine_cls",
        "fine_last1",
        "fine_last2",
        "peter_zero",
    }


def test_state_digest_identifies_weights():
    a, b = _backbone(seed=0), _backbone(seed=0)
    assert state_digest(a.state_dict()) == state_digest(b.state_dict())
    b.final_layer.bias.data[0] += 1e-6
    assert state_digest(a.state_dict()) != state_digest(b.state_dict())


# --------------------------------------------------------------------------------------- masked objective
def test_mask_items_selects_the_configured_fraction_and_splits_80_10_10():
    torch.manual_seed(0)
    n, length = 4000, 20
    lengths = torch.randint(1, length + 1, (n,))
    seq = torch.randint(1, 11, (n, length)) * (torch.arange(length) < lengths.unsqueeze(1))
    pool = torch.tensor([4, 5, 6])
    corrupted, selected = mask_items(seq, lengths, 0.3, mask_token=11, random_items=pool)
    # Exactly max(1, round(0.3 * length)) valid positions per row, none in the padding.
    expected = torch.clamp(torch.round(lengths.float() * 0.3).long(), min=1)
    assert torch.equal(selected.sum(1), expected)
    assert not (selected & (seq == 0)).any()
    assert torch.equal(corrupted[~selected], seq[~selected])
    total = int(selected.sum())
    masked = int((corrupted[selected] == 11).sum())
    changed = selected & (corrupted != seq) & (corrupted != 11)
    kept = int((selected & (corrupted == seq)).sum())
    assert set(corrupted[changed].tolist()) <= set(pool.tolist())
    # A random replacement can draw the original item (kept); the expected shares are then:
    share_random_equal = float((seq[selected].unsqueeze(1) == pool).any(1).float().mean()) / len(pool)
    for observed, p in (
        (masked, 0.8),
        (int(changed.sum()), 0.1 * (1 - share_random_equal)),
        (kept, 0.1 + 0.1 * share_random_equal),
    ):
        sigma = (total * p * (1 - p)) ** 0.5
        assert abs(observed - total * p) < 4 * sigma, (observed, total * p)


def test_mask_items_rejects_bad_options():
    with pytest.raises(ValueError, match="mask_ratio"):
        mask_items(SEQ, LEN, 0.0, 11, torch.tensor([1]))
    with pytest.raises(ValueError, match="mask_replace_probs"):
        mask_items(SEQ, LEN, 0.2, 11, torch.tensor([1]), replace_probs=(0.5, 0.1, 0.1))


def test_pretraining_losses_learn_a_planted_successor_rule():
    """Item i is always followed by i + 1 (cyclically): both objectives must learn it."""
    torch.manual_seed(0)
    starts = torch.randint(1, 11, (256,))
    seq = (starts.unsqueeze(1) + torch.arange(6) - 1) % 10 + 1
    lengths = torch.randint(3, 7, (256,))
    seq = seq * (torch.arange(6) < lengths.unsqueeze(1))
    for objective in ("causal", "masked"):
        backbone = _backbone(objective, d=16).train()
        optimizer = torch.optim.Adam(backbone.parameters(), lr=0.02)
        for _ in range(80):
            optimizer.zero_grad()
            if objective == "causal":
                loss = backbone.causal_loss(seq, lengths)
            else:
                loss = backbone.masked_loss(seq, lengths, 0.3, torch.arange(1, 11))
            loss.backward()
            optimizer.step()
        backbone.eval()
        with torch.no_grad():
            scores = backbone.item_logits(backbone.next_item_representation(seq, lengths))
        last = seq.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        accuracy = float((scores.argmax(1) == last % 10 + 1).float().mean())
        assert accuracy > 0.9, (objective, accuracy)
