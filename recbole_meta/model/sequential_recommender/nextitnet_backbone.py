r"""RecBole's NextItNet as a pre-trainable, patchable user encoder for PeterRec.

Reference:
    Fajie Yuan et al. "A Simple Convolutional Generative Network for Next Item Recommendation." WSDM 2019
    (the backbone: a stack of residual blocks of two dilated convolutions, each followed by LayerNorm and ReLU).
    Fajie Yuan et al. "Parameter-Efficient Transfer from Sequential Behaviors for User Modeling and
    Recommendation." SIGIR 2020 (arXiv:2001.04253), Sec. 3: the two pre-training objectives (causal, masked)
    and the model patches inserted into the frozen blocks.

:class:`NextItNetBackbone` subclasses :class:`recbole.model.sequential_recommender.nextitnet.NextItNet`: the item
embedding, the final linear layer, the initialisation and the parameter names are RecBole's, and each residual
block is a subclass of RecBole's ``ResidualBlock_b`` whose convolutions and LayerNorms are RecBole's. What the
subclass changes:

* **Readout.** RecBole right-pads sequences but its ``forward`` reads ``output[:, -1]``, a padded position for
  every sequence shorter than ``MAX_ITEM_LIST_LENGTH``. Here the user representation is read at the last valid
  position ``item_length - 1`` (or averaged over the valid positions with ``readout='mean'``).
* **Non-causal convolutions** for the masked objective: the causal left padding of ``(k - 1) d`` becomes a
  centred padding, so that every position sees both its past and its future.
* **Padding.** Inputs are multiplied by the validity mask before every convolution, so padded positions act
  as zeros (what the convolution's own zero padding assumes). This changes nothing at valid positions of a causal
  network; a non-causal network would otherwise read the (non-zero, RecBole-initialised) padding embedding.
* **Pre-training losses over whole sequences** (NextItNet's "predict every next item" training, instead of
  RecBole's one-target-per-prefix data augmentation):

  - causal: :math:`\log p(x_{1:n}) = \sum_{i=2}^{n} \log p(x_i \mid x_{1:i-1})`, a softmax over the item
    vocabulary at every position (tied to the input embedding as in RecBole's NextItNet);
  - masked: a fraction of the valid positions is selected; of those 80% are replaced by ``[MASK]``, 10% by a
    random item and 10% are left unchanged; the network predicts the original items at the selected positions,
    :math:`\sum_{i \in \Delta} \log p(x_i \mid \tilde{x})`.

  Either loss is the mean over the predicted positions of the batch. With several processes each holds a share
  of the batch's sequences, hence of its positions: the loss is weighted so that the gradient DDP averages is
  that of the mean over all the processes' positions (the single-process gradient, however unequal the shares).
* **Model patches** (:mod:`recbole_meta.model.sequential_recommender.model_patch`) can be inserted into the blocks.
"""

import torch
from recbole.model.sequential_recommender.nextitnet import NextItNet, ResidualBlock_b
from torch import nn
from torch.nn import functional as F

from recbole_meta.distributed import is_distributed
from recbole_meta.distributed.gather import all_sum
from recbole_meta.distributed.sharding import global_mean_loss

OBJECTIVES = ("causal", "masked")
READOUTS = ("last", "mean")


class PatchableResidualBlock(ResidualBlock_b):
    """RecBole's residual block (b), causal or not, with optional model patches.

    ``patch1`` / ``patch2`` belong to the first / second dilated convolution; ``insertion`` is ``None`` (no
    patches), ``"serial"``, ``"parallel"`` or ``"single"`` (see :mod:`.model_patch`).
    """

    def __init__(self, channels, kernel_size, dilation, causal=True):
        super().__init__(channels, channels, kernel_size=kernel_size, dilation=dilation)
        self.causal = causal
        self.insertion = None
        self.patch1 = None
        self.patch2 = None

    def patches(self):
        return [patch for patch in (self.patch1, self.patch2) if patch is not None]

    def conv_pad(self, x, dilation):
        if self.causal:
            return super().conv_pad(x, dilation)
        total = (self.kernel_size - 1) * dilation
        inputs = x.permute(0, 2, 1).unsqueeze(2)  # [batch, channels, 1, length]
        return F.pad(inputs, (total // 2, total - total // 2))

    def _patched_conv(self, conv, x, dilation, patch):
        out = conv(self.conv_pad(x, dilation)).squeeze(2).permute(0, 2, 1)
        if patch is None:
            return out
        if self.insertion == "parallel":
            return patch.add_branch(out, x)
        return patch(out)

    def forward(self, x, valid=None):
        """``x``: ``[batch, length, channels]``; ``valid``: ``[batch, length, 1]`` float mask or ``None``."""
        inputs = x if valid is None else x * valid
        out = self._patched_conv(self.conv1, inputs, self.dilation, self.patch1)
        out = F.relu(self.ln1(out))
        if valid is not None:
            out = out * valid
        out2 = self._patched_conv(self.conv2, out, self.dilation * 2, self.patch2)
        out2 = F.relu(self.ln2(out2))
        return out2 + x


def mask_items(item_seq, item_seq_len, mask_ratio, mask_token, random_items, replace_probs=(0.8, 0.1, 0.1)):
    """Corrupt sequences for the masked objective.

    In every row, ``max(1, round(mask_ratio * length))`` distinct valid positions are selected uniformly. Each
    selected position becomes ``mask_token`` with probability ``replace_probs[0]``, a uniformly drawn item of
    ``random_items`` with probability ``replace_probs[1]``, and stays unchanged otherwise.

    Args:
        item_seq (LongTensor): ``[batch, length]``, right-padded with 0.
        item_seq_len (LongTensor): ``[batch]`` valid lengths (>= 1).
        mask_ratio (float): fraction of valid positions to select, in (0, 1].
        mask_token (int): the ``[MASK]`` id.
        random_items (LongTensor): item ids the random replacement draws from.
        replace_probs (sequence of 3 floats): mask / random / keep probabilities, summing to 1.

    Returns:
        (LongTensor, BoolTensor): the corrupted sequences and the selected positions.
    """
    if not 0 < mask_ratio <= 1:
        raise ValueError(f"mask_ratio must be in (0, 1], got {mask_ratio}")
    p_mask, p_random, p_keep = (float(p) for p in replace_probs)
    if min(p_mask, p_random, p_keep) < 0 or abs(p_mask + p_random + p_keep - 1) > 1e-6:
        raise ValueError(
            f"mask_replace_probs must be 3 non-negative numbers summing to 1, got {replace_probs}"
        )
    batch, length = item_seq.shape
    device = item_seq.device
    valid = torch.arange(length, device=device).unsqueeze(0) < item_seq_len.unsqueeze(1)
    n_select = torch.clamp(torch.round(item_seq_len.float() * mask_ratio).long(), min=1)
    keys = torch.rand(batch, length, device=device).masked_fill(~valid, 2.0)
    ranks = keys.argsort(dim=1).argsort(dim=1)
    selected = (ranks < n_select.unsqueeze(1)) & valid
    draw = torch.rand(batch, length, device=device)
    to_mask = selected & (draw < p_mask)
    to_random = selected & (draw >= p_mask) & (draw < p_mask + p_random)
    corrupted = item_seq.clone()
    corrupted[to_mask] = mask_token
    n_random = int(to_random.sum())
    if n_random:
        pick = torch.randint(len(random_items), (n_random,), device=device)
        corrupted[to_random] = random_items.to(device)[pick]
    return corrupted, selected


class ItemVocabulary:
    """The one thing RecBole's sequential-model constructor reads from a dataset: the number of item ids."""

    def __init__(self, size):
        self.size = size

    def num(self, field):
        return self.size


def standalone_config(embedding_size, dilations, block_num, max_len, objective="causal", kernel_size=3):
    """The config keys a :class:`NextItNetBackbone` (or RecBole's NextItNet) reads, for the network built alone,
    without a RecBole ``Config`` or dataset (with :class:`ItemVocabulary`): benchmarks and tests of the network.
    """
    return {
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "LIST_SUFFIX": "_list",
        "ITEM_LIST_LENGTH_FIELD": "item_length",
        "NEG_PREFIX": "neg_",
        "MAX_ITEM_LIST_LENGTH": max_len,
        "device": torch.device("cpu"),
        "embedding_size": embedding_size,
        "block_num": block_num,
        "dilations": list(dilations),
        "kernel_size": kernel_size,
        "reg_weight": 0.0,
        "loss_type": "CE",
        "pretrain_objective": objective,
    }


class NextItNetBackbone(NextItNet):
    """RecBole's NextItNet with a correct readout, optional non-causal convolutions and patchable blocks.

    Reads RecBole's NextItNet keys from ``config`` (``embedding_size``, ``block_num``, ``dilations``,
    ``kernel_size``, ``reg_weight``, ``loss_type``) and ``pretrain_objective`` (``causal`` or ``masked``:
    the masked objective needs non-causal convolutions). The item vocabulary ``dataset.num(ITEM_ID)`` must
    include a last id reserved for ``[MASK]``.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        objective = config["pretrain_objective"]
        if objective not in OBJECTIVES:
            raise ValueError(f"pretrain_objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.objective = objective
        self.causal = objective == "causal"
        self.mask_token = self.n_items - 1
        self.residual_blocks = nn.Sequential(
            *[
                PatchableResidualBlock(self.residual_channels, self.kernel_size, dilation, causal=self.causal)
                for dilation in self.dilations
            ]
        )
        self.apply(self._init_weights)

    def hparams(self):
        """The architecture, as stored in a backbone checkpoint."""
        return {
            "embedding_size": self.embedding_size,
            "block_num": self.block_num,
            "dilations": list(self.dilations[: len(self.dilations) // self.block_num]),
            "kernel_size": self.kernel_size,
            "pretrain_objective": self.objective,
            "vocab_size": self.n_items,
            "MAX_ITEM_LIST_LENGTH": self.max_seq_length,
        }

    # ------------------------------------------------------------------------------------------- encoding
    def encode(self, item_seq, item_seq_len):
        """Hidden states of every position after the residual blocks, ``[batch, length, d]``, and the mask."""
        length = item_seq.size(1)
        valid = torch.arange(length, device=item_seq.device).unsqueeze(0) < item_seq_len.unsqueeze(1)
        valid = valid.unsqueeze(-1).to(self.item_embedding.weight.dtype)
        hidden = self.item_embedding(item_seq)
        for block in self.residual_blocks:
            hidden = block(hidden, valid)
        return hidden, valid

    def sequence_output(self, item_seq, item_seq_len):
        """``final_layer`` applied at every position: ``[batch, length, d]``."""
        hidden, _ = self.encode(item_seq, item_seq_len)
        return self.final_layer(hidden)

    def forward(self, item_seq, item_seq_len, readout="last"):
        """The user representation ``[batch, d]``: the last valid position (or the mean of valid positions)."""
        hidden, valid = self.encode(item_seq, item_seq_len)
        if readout == "last":
            hidden = self.gather_indexes(hidden, item_seq_len - 1)
        elif readout == "mean":
            hidden = (hidden * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
        else:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        return self.final_layer(hidden)

    def item_logits(self, representation):
        """Scores of every vocabulary item (tied to the input embedding), ``[..., vocab]``."""
        return representation @ self.item_embedding.weight.t()

    # -------------------------------------------------------------------------------------- pre-training
    def causal_loss(self, item_seq, item_seq_len):
        """Next-item cross-entropy at every valid position that has a successor."""
        output = self.sequence_output(item_seq, item_seq_len)[:, :-1]
        targets = item_seq[:, 1:]
        positions = torch.arange(targets.size(1), device=item_seq.device).unsqueeze(0)
        has_next = positions < (item_seq_len - 1).unsqueeze(1)
        return self._positions_loss(output[has_next], targets[has_next], "sequences of at least 2 items")

    def masked_loss(self, item_seq, item_seq_len, mask_ratio, random_items, replace_probs=(0.8, 0.1, 0.1)):
        """Cross-entropy of the original items at the positions selected by :func:`mask_items`."""
        corrupted, selected = mask_items(
            item_seq, item_seq_len, mask_ratio, self.mask_token, random_items, replace_probs
        )
        output = self.sequence_output(corrupted, item_seq_len)
        return self._positions_loss(output[selected], item_seq[selected], "a selected position")

    def _positions_loss(self, representations, targets, needs):
        """Mean cross-entropy of the items ``targets`` over the positions of the batch, on every process."""
        count = torch.tensor(len(targets), device=targets.device)
        total = int(all_sum(count))  # the batch's positions on all the processes
        if total == 0:
            raise ValueError(f"{self.objective} pre-training needs {needs}")
        if not is_distributed():
            return F.cross_entropy(self.item_logits(representations), targets)
        losses = F.cross_entropy(self.item_logits(representations), targets, reduction="none")
        return global_mean_loss(losses, total)

    def next_item_representation(self, item_seq, item_seq_len):
        """The representation that predicts the item after each sequence.

        Causal: the last valid position. Masked: ``[MASK]`` is appended (the oldest item is dropped when the
        sequence is full) and its position is read.
        """
        if self.causal:
            return self.forward(item_seq, item_seq_len)
        full = item_seq_len >= item_seq.size(1)
        shifted = torch.where(full.unsqueeze(1), torch.roll(item_seq, -1, dims=1), item_seq)
        lengths = torch.where(full, item_seq_len, item_seq_len + 1)
        shifted = shifted.scatter(1, (lengths - 1).unsqueeze(1), self.mask_token)
        return self.forward(shifted, lengths)
